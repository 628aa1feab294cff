"""Issue 17: the e-mail adapter never loses a mail the desk could not handle (a crash, the
database away, the instance stopping): it is read again, and set aside only after a few tries."""

from __future__ import annotations

import pytest

from adapters.email import EmailAdapter, EmailSettings
from adapters.email.adapter import MAX_TRIES, DeskFailed
from bot.desk.domain import InboundMessage, Reply
from tests.fakes import MemoryState
from tests.integration.email.conftest import customer_mail

SETTINGS = EmailSettings(address="support@example.com", authserv_id="mx.example.com")


class Host:
    def __init__(self, answer: str) -> None:
        self.state = MemoryState()
        self.answer = answer
        self.seen: list[InboundMessage] = []

    async def handle(self, message: InboundMessage) -> list[Reply]:
        self.seen.append(message)
        return [Reply(self.answer, ephemeral=True, kind="error")]


@pytest.mark.parametrize("answer", ["Something went wrong (ref 1a2b). The team has been told.",
                                    "supportbot is restarting; please send that again in a minute."])
async def test_a_mail_the_desk_could_not_handle_is_kept_and_tried_again(answer: str) -> None:
    adapter = EmailAdapter(SETTINGS)
    host = Host(answer)
    adapter._host = host  # (the adapter is not started: no IMAP here)
    _, raw = customer_mail("alice@acme.example", "printer")
    for _ in range(MAX_TRIES - 1):
        with pytest.raises(DeskFailed):
            await adapter.receive(raw)
    await adapter.receive(raw)  # the last try: set aside (logged) instead of blocking the mailbox
    assert len(host.seen) == MAX_TRIES
