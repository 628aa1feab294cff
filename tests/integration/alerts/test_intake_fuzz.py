"""Issue 15, fuzzed through the alert intake (`POST /alerts/<key>`): any body, with the right
key or a wrong one — never a 500 or a traceback, a refused request stores nothing, and the log
stays small."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.desk.clock import FixedClock
from storage.models import Alert
from tests.integration.alerts.alert_peers import EVENTS_KEY, IntakeServer, open_alert_desk

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
EVENTISH = st.fixed_dictionaries(
    {"event_action": st.sampled_from(["trigger", "acknowledge", "resolve", "explode", ""])},
    optional={"dedup_key": st.text(max_size=30), "payload": JSONISH | st.fixed_dictionaries(
        {"summary": st.text(max_size=60), "severity": st.text(max_size=10), "source": st.text(max_size=20)})},
)


@pytest.fixture
async def intake(make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock) -> Any:
    desk = await open_alert_desk(make_app, sqlite_url, clock)
    async with IntakeServer(desk.app) as srv:
        yield desk, srv


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=2000), EVENTISH.map(lambda d: json.dumps(d).encode()),
                      JSONISH.map(lambda d: json.dumps(d).encode())),
       right_key=st.booleans())
async def test_any_alert_request_gets_an_answer_never_a_500(intake: Any, body: bytes, right_key: bool,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    desk, srv = intake
    caplog.clear()
    caplog.set_level(logging.INFO)
    before = await desk.count(Alert)
    url = srv.alerts_url(EVENTS_KEY if right_key else "not-the-key-0123456789")
    async with aiohttp.ClientSession() as http, http.post(url, data=body) as r:
        status = r.status
        answer = await r.json(content_type=None)
    assert status in (200, 202, 400, 404, 413), status
    assert isinstance(answer, dict) and "message" in answer
    assert "Traceback" not in caplog.text and not any(rec.exc_info for rec in caplog.records)
    assert sum(len(rec.getMessage()) for rec in caplog.records) < 4000
    if status >= 400:
        assert await desk.count(Alert) == before
