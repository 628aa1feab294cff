"""Issue 15, fuzzed through the web portal's forms: any body to the login form (no session)
and to the ticket form (logged in) — never a 500 or a traceback, and nothing is opened by a
request that was refused."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.web.web_peers import Desk

CONTENT_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain",
                 "application/x-www-form-urlencoded; charset=no-such-charset"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=2000), st.text(max_size=300).map(str.encode),
                      st.sampled_from([b"token=%ff%fe", b"summary=%00&csrf=", b"--x\r\n\r\n", b"\xff\xfe"])),
       ctype=st.sampled_from(CONTENT_TYPES), path=st.sampled_from(["/login", "/tickets", "/logout"]))
async def test_any_form_gets_an_answer_never_a_500(desk: Desk, body: bytes, ctype: str, path: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    caplog.set_level(logging.INFO)
    before = await desk.text("agnes", "ticket list all")
    client = desk.clients[0] if desk.clients else await desk.anonymous()  # one stranger for every example
    r = await client.post(path, data=body, headers={"Content-Type": ctype}, allow_redirects=False)
    assert r.status < 500, (r.status, await r.text())
    assert "Traceback" not in caplog.text and not any(rec.exc_info for rec in caplog.records)
    assert await desk.text("agnes", "ticket list all") == before


async def test_a_logged_in_form_with_any_bytes_is_refused_without_a_500(desk: Desk, caplog: Any) -> None:
    browser = await desk.browser("alice")
    for body in (b"\xff\xfe\x00", b"summary=%ff&csrf=0", b"a" * 70_000):
        r = await browser.post("/tickets", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status in (400, 403, 413), r.status
    assert "Traceback" not in caplog.text
