"""SIGHUP's reconfigure: a new bot.toml applies at once and keeps the bot's own services."""

from __future__ import annotations

from tests.conftest import Session, config_with

NEWCOMER = """
[people.nina]
name = "Nina New"
role = "customer"
org = "acme"
handles = { console = "nina", slack = "U0NINA" }
"""


async def test_a_reloaded_file_lets_a_new_person_speak_and_pages_still_skip_disabled_networks(
    desk: Session, sqlite_url: str
) -> None:
    assert "I don't know you yet" in await desk.text("nina", "whoami")
    desk.app.reconfigure(config_with(sqlite_url, NEWCOMER))
    assert (await desk.text("nina", "whoami")).startswith("You are Nina New, role customer")
    paged: list[str] = []

    async def grab(out):  # type: ignore[no-untyped-def]
        paged.extend(str(m.destination) for m in out if m.kind == "page")

    desk.app.worker.listeners.append(grab)
    await desk.text("nina", "ticket open P1 relay down")
    await desk.app.worker.run_once()
    pages = paged + [str(m.destination) for m in desk.sent if m.kind == "page"]
    assert pages == ["console:erin"]  # erin's Slack handle: Slack is not enabled
