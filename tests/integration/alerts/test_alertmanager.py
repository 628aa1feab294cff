"""Issue 19: a real Prometheus Alertmanager (Debian 0.25) whose webhook receiver is the bot's
alert intake; alerts pushed with its own `amtool alert add`. Firing pages the on-call person
once on a network; Alertmanager re-sending the same firing alert (repeat_interval) pages
nobody again; `!ack` on IRC acknowledges the alert; resolved resolves the page and tells the
person paged."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.console import ConsoleAdapter
from adapters.irc import IrcAdapter, IrcSettings
from bot.desk.clock import FixedClock
from storage.models import Alert, Page
from tests.integration.alerts.alert_peers import AM_KEY, AlertDesk, IntakeServer, open_alert_desk
from tests.integration.alerts.alertmanager_server import AlertmanagerServer
from tests.integration.irc.ergo_server import ErgoServer
from tests.integration.irc.irc_peers import BOT, BOT_PASSWORD, Connect


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def amtool(am: AlertmanagerServer, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(*am.amtool_argv(*args), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


class Lines(io.StringIO):
    """The console adapter's standard error: what it delivered, one `[to DEST] text` per line."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def write(self, text: str) -> int:
        self.changed.set()
        return super().write(text)

    def lines(self) -> list[str]:
        return self.getvalue().splitlines()

    async def wait_for(self, fragment: str, timeout: float = 10.0) -> str:
        async def find() -> str:
            while True:
                found = [line for line in self.lines() if fragment in line]
                if found:
                    return found[0]
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(find(), timeout)


@contextlib.asynccontextmanager
async def running_worker(desk: AlertDesk) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(desk.app.worker.run_forever())
    try:
        yield
    finally:
        desk.app.worker.stop()
        await asyncio.wait_for(task, 5)


async def test_amtool_alert_pages_once_on_the_console_and_resolves(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock,
    alertmanager_factory: Callable[..., AlertmanagerServer],
) -> None:
    desk = await open_alert_desk(make_app, sqlite_url, clock)
    delivered = Lines()
    await desk.app.start_adapter(ConsoleAdapter("agnes", stdout=io.StringIO(), stderr=delivered))
    labels = ("DiskFull", "severity=critical", "instance=db1")
    async with IntakeServer(desk.app) as srv, running_worker(desk):
        # repeat_interval 1s: Alertmanager itself re-sends the unchanged firing alert
        am = alertmanager_factory(srv.alerts_url(AM_KEY), repeat_interval="1s")
        await amtool(am, "alert", "add", *labels, "--annotation=summary=disk 95% full")
        page = await delivered.wait_for("[to erin] Page 1 ")
        assert "Alert 1 [P1] DiskFull: disk 95% full (db1)" in page and "ack 1" in page

        answered = await srv.wait_answered(2)  # the repeat, a second later
        assert [status for status, _ in answered] == [200, 200]
        assert '"outcome": "repeat"' in answered[1][1]
        assert "fired 2 times" in await desk.text("agnes", "alert 1")

        await amtool(am, "alert", "add", *labels, "--annotation=summary=disk 95% full", f"--end={now_rfc3339()}")
        told = await delivered.wait_for("[to erin] Page 1 resolved")
        assert "Alert 1 [P1] DiskFull: disk 95% full cleared at 2026-11-24 10:00 GMT" in told
    assert [line for line in delivered.lines() if line.startswith("[to erin] Page 1 from")] == [page]
    assert (await desk.count(Alert), await desk.count(Page)) == (1, 1)
    assert "[P1 resolved]" in await desk.text("agnes", "alerts all")


@pytest.fixture
async def dave_on_irc(ergo: ErgoServer) -> ErgoServer:
    await ergo.register("agnes", "agnespw")
    return ergo


async def test_alertmanager_page_on_irc_acknowledged_with_bang_ack_then_resolved(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock, dave_on_irc: ErgoServer,
    connect: Connect, alertmanager_factory: Callable[..., AlertmanagerServer],
) -> None:
    """dave (IRC account dave) covers primary by override; the page reaches him by private
    message; his `!ack 1` acknowledges the alert; the resolve tells him on IRC."""
    desk = await open_alert_desk(make_app, sqlite_url, clock)
    adapter = IrcAdapter(IrcSettings.model_validate({
        "enabled": True, "server": "127.0.0.1", "port": dave_on_irc.port, "tls": False, "nick": BOT,
        "sasl_password": BOT_PASSWORD, "channels": ["#izzysoft"], "reconnect_min": 0.05, "reconnect_max": 0.5,
        "flood_rate": 50, "flood_burst": 10,
    }), clock=clock)
    await desk.app.start_adapter(adapter)
    await adapter.wait_connected(10)
    dave = await connect(dave_on_irc.port, "dave", "dave", "davepw", join=None)
    assert "Dave On-Call covers primary" in await desk.text("agnes", "oncall override primary dave 2h")

    def from_bot(has: str) -> Callable[[Any], bool]:
        return lambda e: e.type == "privmsg" and e.source.nick == BOT and has in e.arguments[0]

    async with IntakeServer(desk.app) as srv, running_worker(desk):
        am = alertmanager_factory(srv.alerts_url(AM_KEY))
        await amtool(am, "alert", "add", "ReplicationLag", "severity=critical", "instance=db2",
                     "--annotation=summary=replica 300s behind")
        page = await dave.wait_for(from_bot("Page 1 from alerts/prometheus"), timeout=10)
        assert "Alert 1 [P1] ReplicationLag: replica 300s behind (db2)" in page.arguments[0]
        assert "!ack 1" in page.arguments[0]

        mark = len(dave.events)
        dave.say(BOT, "!ack 1")
        await dave.wait_for(from_bot("Acknowledged page 1: escalation stopped."), after=mark)
        assert "[P1 acknowledged] prometheus: ReplicationLag" in await desk.text("agnes", "alert 1")

        await amtool(am, "alert", "add", "ReplicationLag", "severity=critical", "instance=db2",
                     "--annotation=summary=replica 300s behind", f"--end={now_rfc3339()}")
        told = await dave.wait_for(from_bot("Page 1 resolved"), timeout=10)
        assert "ReplicationLag: replica 300s behind cleared" in told.arguments[0]
    assert "[P1 resolved]" in await desk.text("agnes", "alert 1")
    assert len([e for e in dave.events if e.type == "privmsg" and "Page 1 from" in e.arguments[0]]) == 1
