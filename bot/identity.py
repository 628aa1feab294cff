"""Who is speaking: a network handle -> a person of bot.toml, or a guest customer of the
org whose channel they speak in (Slack Connect, a customer's own IRC channel), or of
`default_org` in a public channel; anybody else is unknown."""

from __future__ import annotations

from dataclasses import dataclass

from bot.desk.domain import InboundMessage, Role
from bot.desk.handles import fold_handle
from bot.desk.settings import Settings
from bot.ports import WEB


@dataclass(frozen=True)
class Caller:
    person: str | None  # key in [people]; None for a guest customer
    name: str
    role: Role
    org: str | None
    network: str
    handle: str
    channel: str | None
    own_tickets_only: bool = False
    """A customer of `default_org` (strangers share that org): sees and acts on only the
    tickets they opened themselves, never another stranger's."""

    @property
    def ident(self) -> str:
        """How the caller is recorded on tickets and events."""
        return self.person if self.person is not None else f"{self.network}:{self.handle}"

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.AGENT, Role.ADMIN)


class Directory:
    def __init__(self, config: Settings) -> None:
        self.config = config
        self._by_handle: dict[tuple[str, str], str] = {}
        for key, person in config.people.items():
            for network, handle in person.handles.items():
                self._by_handle[(network, _norm(network, handle))] = key

    def person_of(self, network: str, handle: str) -> str | None:
        return self._by_handle.get((network, _norm(network, handle)))

    def caller_for_person(self, person: str, network: str = "console", channel: str | None = None) -> Caller:
        cfg = self.config.people[person]
        handle = cfg.handles.get(network, person)
        role = Role(cfg.role)
        solo = role is Role.CUSTOMER and cfg.org is not None and cfg.org == self.config.bot.default_org
        return Caller(person, cfg.name, role, cfg.org, network, handle, channel, solo)

    def resolve(self, message: InboundMessage) -> Caller | None:
        if message.network == WEB:
            # The web portal speaks only for the person its session cookie belongs to: the
            # sender is that person's key in [people], never a handle anybody could claim.
            if message.sender in self.config.people:
                return self.caller_for_person(message.sender, WEB, None)
            return None
        if message.sender:
            person = self.person_of(message.network, message.sender)
            if person is not None:
                return self.caller_for_person(person, message.network, message.channel)
        if message.network == "email" and message.sender:
            # Mail: an unregistered sender from an org's `email_domains` is "a customer of ORG,
            # not registered"; anybody else is a stranger (never a person of bot.toml).
            org = self.config.org_of_mail_domain(message.sender)
            return Caller(None, message.sender_name or message.sender, Role.CUSTOMER, org, "email",
                          _norm("email", message.sender), None)
        if message.channel is None:
            return None
        org = self.config.org_of_channel(message.network, message.channel)
        if org is None and self.config.bot.default_org is not None and message.sender:
            org = self.config.bot.default_org
        if org is None or not message.sender:
            return None
        name = message.sender_name or message.sender
        solo = org == self.config.bot.default_org
        return Caller(None, name, Role.CUSTOMER, org, message.network, message.sender, message.channel, solo)


def _norm(network: str, handle: str) -> str:
    """The desk's one folding of handles (IRC: RFC 1459 casemapping, like the IRC adapter)."""
    return fold_handle(network, handle)
