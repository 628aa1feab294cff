"""Issue 15 on the web portal: what a stranger's request may cost. A form over the size limit
is refused by its Content-Length before it is read (413), a body that is not a form is a 400
without a traceback, requests without a session are capped (503 past the cap) while people
who are logged in keep working, and none of it changes anything."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.web import portal
from tests.integration.web.web_peers import Desk


async def test_an_oversized_form_is_refused_before_it_is_read(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    client = await desk.anonymous()
    r = await client.post("/login", data=b"token=" + b"x" * (portal.MAX_FORM_BYTES + 1),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 413 and "larger than 64 KB" in await r.text()
    assert "Traceback" not in caplog.text


async def test_a_form_that_is_not_a_form_is_a_400_and_changes_nothing(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    browser = await desk.browser("alice")
    before = await desk.text("agnes", "ticket list all")
    r = await browser.post("/tickets", data=b"summary=\xff\xfe&csrf=x",
                           headers={"Content-Type": "application/x-www-form-urlencoded; charset=no-such-charset"})
    assert r.status == 400 and await r.text() == "malformed form"
    assert "Traceback" not in caplog.text
    assert await desk.text("agnes", "ticket list all") == before


async def test_strangers_past_the_cap_get_503_while_logged_in_people_are_served(
    desk: Desk, monkeypatch: Any
) -> None:
    browser = await desk.browser("alice")
    monkeypatch.setattr(portal, "MAX_STRANGERS", 0)
    stranger = await desk.anonymous()
    r = await stranger.get("/login/whatever")
    assert r.status == 503 and r.headers["Retry-After"] == "1"
    assert (await browser.get("/tickets")).status == 200
