"""Issue 19: a webhook carrying many alerts (Alertmanager groups them) and a burst of requests
stored together keep every rule of the one-at-a-time path, at a fixed number of statements
per transaction (the throughput target: 200 alerts/s on one instance)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from bot.desk.alerts import AlertAction, AlertEvent
from bot.desk.clock import FixedClock
from commands.oncall.alerts import receive_batch
from storage.models import Alert, Page
from tests.conftest import statements
from tests.integration.alerts.alert_peers import AM_KEY, IntakeServer, open_alert_desk, post


def webhook(status: str, names: list[str]) -> dict[str, Any]:
    return {"version": "4", "status": status, "alerts": [
        {"status": status, "fingerprint": f"fp-{name}", "annotations": {"summary": f"{name} down"},
         "labels": {"alertname": name, "severity": "critical", "instance": "web1"}} for name in names]}


async def test_one_webhook_of_many_alerts_pages_each_once_in_a_fixed_number_of_statements(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk = await open_alert_desk(make_app, any_db_url, clock)
    first = [f"svc{n}" for n in range(20)]
    more = [f"svc{n}" for n in range(20, 60)]
    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        url = srv.alerts_url(AM_KEY)
        with statements(desk.app) as small:
            status, body = await post(http, url, webhook("firing", first))
        assert status == 200 and [a["outcome"] for a in body["alerts"]] == ["new"] * 20
        assert [a["alert"] for a in body["alerts"]] == list(range(1, 21))  # numbered in the webhook's order

        # Alertmanager re-sends the group with 40 more: 20 repeats, 40 new alerts.
        with statements(desk.app) as large:
            status, body = await post(http, url, webhook("firing", first + more))
        assert [a["outcome"] for a in body["alerts"]] == ["repeat"] * 20 + ["new"] * 40
        assert len(large) <= len(small) + 3 and len(small) <= 20, (len(small), len(large))

        await desk.at(0)
        pages = sorted(int(p.extra["page"]) for p in desk.pages())
        assert pages == list(range(1, 61))  # each alert paged erin once
        assert {p.label for p in desk.pages()} == {"erin"}
        assert "Alert 7 [P1] svc6 down (web1)" in next(p.text for p in desk.pages() if p.extra["page"] == "7")
        assert "fired 2 times" in await desk.text("agnes", "alert 20")
        assert "fired once" in await desk.text("agnes", "alert 21")

        status, body = await post(http, url, webhook("resolved", first + more))
        assert [a["outcome"] for a in body["alerts"]] == ["resolve"] * 60
        await desk.at(1)
    told = [t for t in desk.to("erin") if " resolved: Alert " in t]
    assert len(told) == 60 and told[0].startswith("Page 1 resolved: Alert 1 [P1] svc0 down cleared at")
    assert await desk.text("agnes", "alerts") == "No open alerts."
    assert (await desk.count(Alert), await desk.count(Page)) == (60, 60)


async def test_requests_stored_together_keep_their_order_for_one_key(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """A burst's requests go in one transaction: a key fired, resolved and fired again within
    it is one alert, paged once, flapping once; another key beside it is its own alert."""
    desk = await open_alert_desk(make_app, any_db_url, clock)

    def ev(action: AlertAction, key: str) -> AlertEvent:
        return AlertEvent(action, key, summary=f"{key} down", severity="critical", source="db1")

    requests = [("scripts", [ev(AlertAction.TRIGGER, "a"), ev(AlertAction.TRIGGER, "b")]),
                ("scripts", [ev(AlertAction.RESOLVE, "a")]),
                ("scripts", [ev(AlertAction.TRIGGER, "a"), ev(AlertAction.TRIGGER, "b")]),
                ("grafana", [ev(AlertAction.TRIGGER, "a")])]
    answers = await desk.app.as_system(lambda ctx: receive_batch(ctx, requests))
    assert [[(r.outcome.value, r.alert_id) for r in answer] for answer in answers] == [
        [("new", 1), ("new", 2)], [("resolve", 1)], [("reopen", 1), ("repeat", 2)], [("new", 3)]]
    await desk.at(0)
    assert sorted(p.extra["page"] for p in desk.pages()) == ["1", "2", "3"]
    shown = await desk.text("agnes", "alert 1")
    assert "[P1 triggered] scripts: a down — fired 2 times, flapped 1x" in shown
    assert "Alert 3 [P1 triggered] grafana: a down — fired once" in await desk.text("agnes", "alert 3")
