"""Issue 19 through real `supportbot run` processes: the intake is served by the `[bot] http`
server of each instance; two instances on one PostgreSQL database receive the same alert at
the same moment and the on-call person is paged once (on Slack, through the fake Web API);
the key never appears in their logs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.integration.alerts.alert_peers import EVENTS_KEY, action, trigger
from tests.integration.ops.conftest import StartBot
from tests.integration.ops.ops_peers import CountingSlack, db_upgrade, desk_config, free_port

ALERTS = f"""
[alerts.scripts]
format = "events"
key = "{EVENTS_KEY}"
rotation = "primary"
"""


def paged(payload: dict[str, object]) -> bool:
    return payload.get("channel") == "U0ERIN" and "Page 1 from alerts/scripts" in str(payload.get("text", ""))


async def test_two_run_processes_receive_one_alert_and_page_once(
    tmp_path: Path, start_bot: StartBot, pg_url: str, fake_slack: CountingSlack,
) -> None:
    bots = []
    for i in range(2):
        port = free_port()
        cfg = desk_config(tmp_path / f"bot{i}.toml", database=pg_url, http_port=port,
                          slack_api=fake_slack.api_url(), extra=ALERTS)
        cfg.write_text(cfg.read_text().replace('members = ["dave", "erin"]', 'members = ["erin"]'))
        if i == 0:
            await asyncio.to_thread(db_upgrade, cfg)
        bots.append(start_bot(f"bot{i}", cfg, port))
    await asyncio.gather(*(bot.wait_ready() for bot in bots))
    async with aiohttp.ClientSession() as http:

        async def send(base: str, body: dict[str, object], key: str = EVENTS_KEY) -> tuple[int, dict[str, object]]:
            async with http.post(f"{base}/alerts/{key}", json=body) as r:
                return r.status, await r.json(content_type=None)

        event = trigger("api-5xx", "api 5xx above 5%")
        answers = await asyncio.gather(*(send(bot.base_url, event) for bot in bots))
        assert sorted((status, body["outcome"]) for status, body in answers) == [(202, "new"), (202, "repeat")]
        await fake_slack.wait_until(lambda: bool(fake_slack.posts(paged)), 15)
        await fake_slack.wait_until(
            lambda: any("paged Erin On-Call" in str(p.get("text")) for p in fake_slack.posts(lambda p: True)), 15)
        assert len(fake_slack.posts(paged)) == 1

        assert (await send(bots[1].base_url, event, key="wrong-key-0123456789abc"))[0] == 404
        status, body = await send(bots[1].base_url, action("resolve", "api-5xx"))
        assert (status, body["outcome"]) == (202, "resolve")
        await fake_slack.wait_until(lambda: any(
            p.get("channel") == "U0ERIN" and str(p.get("text", "")).startswith("Page 1 resolved")
            for p in fake_slack.posts(lambda p: True)), 15)
    for bot in bots:
        assert EVENTS_KEY not in bot.log()
