"""Issue 15: a stranger's request costs the bot no more than it sends — bodies read only up
to 100 KB, the signature checked before any parsing, malformed requests a 400 without a
traceback, a cap on requests still being verified, and no body in any log line."""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse

import aiohttp
import pytest

from adapters.slack import MAX_BODY_BYTES, MAX_UNVERIFIED_REQUESTS, SlackAdapter
from tests.integration.slack.slack_fakes import TEAM, FakeHost, SlackSender, signed_headers

FORM = "application/x-www-form-urlencoded"


async def test_a_megabyte_unsigned_body_is_refused_without_reading_it_all(slack: SlackSender, host: FakeHost,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = "payload=" + "\x01" * 1_000_000
    started = time.monotonic()
    status, _ = await slack.post(body, {"Content-Type": FORM})
    assert status == 413 and time.monotonic() - started < 2
    # Without a Content-Length (chunked), reading stops at the limit too.
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536

    async with aiohttp.ClientSession() as http, http.post(slack.url, data=chunks(), headers={"Content-Type": FORM}) as r:
        assert r.status == 413
    await slack.adapter.settled()
    assert host.messages == []
    assert "\x01" not in caplog.text and "xxxxxxxx" not in caplog.text
    assert sum(len(r.getMessage()) for r in caplog.records) < 10_000


async def test_an_unsigned_body_under_the_limit_is_401_and_never_logged(slack: SlackSender, host: FakeHost,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = "command=%2Fticket&text=SECRET-LOOKING-TEXT" + "y" * (MAX_BODY_BYTES - 100)
    status, _ = await slack.post(body, {"Content-Type": FORM, "X-Slack-Request-Timestamp": str(int(time.time())),
                                        "X-Slack-Signature": "v0=" + "0" * 64})
    assert status == 401
    assert "SECRET-LOOKING-TEXT" not in caplog.text and "yyyy" not in caplog.text
    assert host.messages == []


@pytest.mark.parametrize("body,timestamp,expected", [
    ("payload=%7Bx", None, 400),                 # signed, but the payload is not JSON
    ("payload=%7B%22type%22%3A1%7D", None, 404),  # signed JSON no listener handles: bolt says 404
    ("", None, 400),
    ("command=%2Fticket&text=x", "abc", 401),     # a timestamp that is not a number
    ("command=%2Fticket&text=x", "9" * 40, 401),
])
async def test_malformed_requests_get_4xx_and_no_traceback(slack: SlackSender, host: FakeHost, body: str,
                                                           timestamp: str | None, expected: int,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    headers = signed_headers(body, FORM)
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    status, _ = await slack.post(body, headers)
    assert status == expected
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
    assert host.messages == []


async def test_invalid_utf8_signed_is_400(slack: SlackSender, host: FakeHost) -> None:
    raw = b"command=%2Fticket&text=\xff\xfe"
    headers = signed_headers(raw.decode("latin-1"), FORM)  # the signature over these exact bytes
    import hashlib
    import hmac

    from tests.integration.slack.slack_fakes import SIGNING_SECRET

    ts = headers["X-Slack-Request-Timestamp"]
    headers["X-Slack-Signature"] = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + raw,
                                                   hashlib.sha256).hexdigest()
    async with aiohttp.ClientSession() as http, http.post(slack.url, data=raw, headers=headers) as r:
        assert r.status == 400
    assert host.messages == []


async def test_requests_still_being_verified_are_capped_and_the_excess_gets_503(slack: SlackSender,
                                                                                 http_adapter: SlackAdapter) -> None:
    port = http_adapter.bound_port
    stalled = []
    for _ in range(MAX_UNVERIFIED_REQUESTS):  # each promises a body and never sends it
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM.encode()
                     + b"\r\nContent-Length: 5000\r\n\r\nabc")
        await writer.drain()
        stalled.append(writer)

    async def busy() -> int:
        status, _ = await slack.post("x=1", {"Content-Type": FORM})
        return status

    deadline = time.monotonic() + 5
    status = await busy()
    while status != 503 and time.monotonic() < deadline:  # the stalled ones reach the handler in turn
        status = await busy()
    assert status == 503
    for writer in stalled:
        writer.close()
    # Once they are gone, a signed command is served again.
    form = urllib.parse.urlencode({"command": "/sla", "text": "", "user_id": "U0ALICE", "channel_id": "C0ACME",
                                   "team_id": TEAM, "trigger_id": "T-after"})
    deadline = time.monotonic() + 5
    while True:
        status, _ = await slack.post(form, signed_headers(form, FORM))
        if status == 200 or time.monotonic() > deadline:
            break
    assert status == 200
