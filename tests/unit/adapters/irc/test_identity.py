"""Who is who on IRC, without a server: accounts follow people across nick changes under IRC
casemapping, and a page goes only to a nick logged in as the person's account."""

from __future__ import annotations

import asyncio

import pytest
from irc.client import Event, NickMask

from adapters.irc.identity import People, person_key
from bot.ports import DeliveryError


def test_an_account_follows_its_person_across_a_nick_change_under_irc_casemapping() -> None:
    people = People()
    people.learn("Dave[m]", "dave")
    assert people.account_of("dave{M}", {}, account_tag=False) == "dave"

    people.renamed("DAVE{m}", "dave_away")
    assert people.account_of("Dave[m]", {}, account_tag=False) is None
    assert people.account_of("Dave_Away", {}, account_tag=False) == "dave"

    people.on_quit(Event("quit", NickMask("dave_away!d@h"), None, ["bye"]))
    assert people.account_of("dave_away", {}, account_tag=False) is None


def test_with_account_tags_only_the_messages_own_tag_counts() -> None:
    people = People()
    people.learn("mallory", "dave")  # stale knowledge never outweighs the tag
    assert people.account_of("mallory", {}, account_tag=True) is None
    assert people.account_of("dave", {"account": "dave"}, account_tag=True) == "dave"
    assert person_key("Dave[m]", None) == person_key("dave{m}", None) == "nick:dave{m}"


async def _asked(people: People, handle: str) -> tuple[asyncio.Task[str], list[str]]:
    sent: list[str] = []
    asked = asyncio.Event()

    def send(raw: str) -> None:
        sent.append(raw)
        asked.set()

    task = asyncio.create_task(people.online_nick(handle, trust="account", send=send))
    await asyncio.wait_for(asked.wait(), 1)
    return task, sent


async def test_a_page_goes_to_the_nick_logged_in_as_the_account() -> None:
    people = People()
    people.learn("DaveAway", "dave")
    task, sent = await _asked(people, "dave")
    assert sent == ["WHOIS DaveAway"]

    people.on_whois_account(Event("whoisaccount", None, "bot", ["daveaway", "Dave"]))
    people.on_whois_end(Event("endofwhois", None, "bot", ["DaveAway", "End of WHOIS"]))

    assert await asyncio.wait_for(task, 1) == "DaveAway"


async def test_a_page_never_goes_to_someone_else_using_the_nick() -> None:
    people = People()
    task, _ = await _asked(people, "dave")
    people.on_whois_end(Event("endofwhois", None, "bot", ["dave", "End of WHOIS"]))  # no account

    with pytest.raises(DeliveryError, match="nobody logged in as dave"):
        await asyncio.wait_for(task, 1)


async def test_a_lost_connection_answers_waiting_pages_at_once() -> None:
    people = People()
    task, _ = await _asked(people, "dave")
    people.forget()

    with pytest.raises(DeliveryError):
        await asyncio.wait_for(task, 1)
