"""Fixtures for the alert tests: a real Prometheus Alertmanager (Debian
prometheus-alertmanager, fetched by scripts/get_alertmanager.sh) whose webhook receiver is
the bot's intake, and the IRC fixtures (a real Ergo) for `!ack`. Without the binaries the
tests skip, except under CI=true, where they fail with the reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.conftest import need, test_failed
from tests.integration.alerts.alertmanager_server import AlertmanagerServer, find_alertmanager, find_amtool
from tests.integration.irc.conftest import connect, ergo, ergo_factory  # noqa: F401  (fixtures)


@pytest.fixture
def alertmanager_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., AlertmanagerServer]]:
    """start(webhook_url, **timing) -> a running Alertmanager; stopped afterwards, its log
    shown when the test failed."""
    try:
        find_alertmanager()
        find_amtool()
    except FileNotFoundError as exc:
        need(False, f"{exc}; run scripts/get_alertmanager.sh")
    servers: list[AlertmanagerServer] = []

    def start(webhook_url: str, **timing: str) -> AlertmanagerServer:
        timing.setdefault("group_interval", "100ms")  # a resolve arrives within 0.1 s
        server = AlertmanagerServer(webhook_url, **timing)
        server.__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        if test_failed(request):
            print(f"---- alertmanager log ({server.dir}) ----\n{server.read_log()}")
        server.__exit__()
from tests.integration.ops.conftest import fake_slack, start_bot  # noqa: E402, F401  (fixtures)
