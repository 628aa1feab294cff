"""Commands declare themselves; the router parses with the declaration, checks permission in
one place, runs the command in one transaction, and turns errors into one clear line.
`help` is generated from the same declarations, so it cannot drift from behaviour."""

from __future__ import annotations

import contextvars
import dataclasses
import difflib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from bot.desk.clock import Clock
from bot.desk.domain import Button, Destination, InboundMessage, Outbound, Reply, Role
from bot.desk.errors import PermissionDenied, SupportbotError, UserError
from bot.desk.settings import Settings
from bot.desk.text import clean_line, first_control, inert_bidi, invisible_in, is_invisible
from bot.hooks import Hooks
from bot.identity import Caller, Directory
from bot.permissions import role_allows
from bot.ports import DeskServices
from bot.ports.repositories import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("supportbot.router")

# The id of the inbound message being handled: every log line about it carries it, and the
# "Something went wrong (ref X)" reply shows it. Set by whoever receives the message.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("supportbot_request_id", default=None)


def new_request_id() -> str:
    """A short id for one inbound message; set it with REQUEST_ID.set()."""
    return secrets.token_hex(4)

MAX_LINE = 4000  # characters; longer commands are refused, not truncated silently
MAX_CHAT = 40_000  # characters of one chat message kept for an assist card (Slack's own limit)

EVERYONE = frozenset({Role.CUSTOMER, Role.AGENT, Role.ADMIN})
STAFF = frozenset({Role.AGENT, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


# --- argument declarations ---------------------------------------------------------------

Converter = Callable[["CommandContext", str], Any]


@dataclass(frozen=True)
class Arg:
    """A positional argument. `optional` ones are skipped when the word does not convert."""

    name: str
    converter: Converter
    display: str = ""
    optional: bool = False

    def syntax(self) -> str:
        shown = self.display or f"<{self.name}>"
        return f"[{shown.strip('<>')}]" if self.optional and not shown.startswith("[") else shown


@dataclass(frozen=True)
class Text:
    """Everything after the preceding arguments, verbatim."""

    name: str
    optional: bool = False
    display: str = ""

    def syntax(self) -> str:
        shown = self.display or self.name
        return f"[{shown}]" if self.optional else f"<{shown}>"


@dataclass(frozen=True)
class Flag:
    """`--name`: True when present."""

    name: str
    roles: frozenset[Role] = EVERYONE

    def syntax(self) -> str:
        return f"[--{self.name}]"


@dataclass(frozen=True)
class Option:
    """`--name VALUE`."""

    name: str
    converter: Converter
    display: str = "VALUE"
    roles: frozenset[Role] = EVERYONE

    def syntax(self) -> str:
        return f"[--{self.name} {self.display}]"


@dataclass(frozen=True)
class Keyword:
    """`name=VALUE` anywhere before the free text."""

    name: str
    converter: Converter
    display: str = "VALUE"

    def syntax(self) -> str:
        return f"[{self.name}={self.display}]"


Param = Arg | Text | Flag | Option | Keyword


ROLE_ORDER = (Role.CUSTOMER, Role.AGENT, Role.ADMIN)  # each may do what the one before may


@dataclass(frozen=True)
class Example:
    """A line `help` shows that is also a test (Sopel's @example): run as `role` (None: the least
    role the command allows) on the seeded desk of tests/unit/commands, it gets no error reply."""

    line: str
    role: Role | None = None

    def __str__(self) -> str:
        return self.line

Handler = Callable[..., Awaitable[list[Reply] | Reply | str | None]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    params: tuple[Param, ...]
    roles: frozenset[Role]
    summary: str
    examples: tuple[Example, ...]
    handler: Handler
    read_only: bool = False
    syntax_override: str = ""
    needs_db: bool = True  # False: runs without a unit of work (ctx.uow is None), no idempotency row
    # Whether `help` lists it for this caller beyond the role check (e.g. credits only for an
    # org on a credits plan); None: shown to every role that may run it.
    shown_to: Callable[[Caller, Settings], bool] | None = None

    @property
    def area(self) -> str:
        """The command area (module or package) that declared it: commands.oncall.alerts -> oncall."""
        parts = self.handler.__module__.split(".")
        return parts[1] if len(parts) > 1 and parts[0] == "commands" else parts[-1]

    def shown_for(self, caller: Caller, config: Settings) -> bool:
        return role_allows(self.roles, caller.role) and (self.shown_to is None or self.shown_to(caller, config))

    @property
    def syntax(self) -> str:
        return self.syntax_for(None)

    def syntax_for(self, role: Role | None) -> str:
        """The syntax line; options the role may not use are left out."""
        if self.syntax_override:
            return f"{self.name} {self.syntax_override}".strip()
        opts = [
            p.syntax()
            for p in self.params
            if isinstance(p, (Flag, Option)) and (role is None or role_allows(p.roles, role))
        ]
        pos = [p.syntax() for p in self.params if isinstance(p, (Arg, Keyword, Text))]
        return " ".join([self.name, *pos, *opts]).strip()

    def role_of(self, example: Example) -> Role:
        """Who an example is for: its own role, else the least role that the command and every
        --option in it allow. help shows it to that role and above; the example tests run it so."""
        if example.role is not None:
            return example.role
        used = {word[2:] for word in example.line.split() if word.startswith("--")}
        allowed = set(self.roles).intersection(
            *(p.roles for p in self.params if isinstance(p, (Flag, Option)) and p.name in used)
        )
        return next((r for r in ROLE_ORDER if r in allowed), Role.ADMIN)

    def examples_for(self, role: Role) -> list[Example]:
        """The examples `role` may run as written (an agent sees the customers' too)."""
        return [e for e in self.examples if ROLE_ORDER.index(self.role_of(e)) <= ROLE_ORDER.index(role)]

    def who(self) -> str:
        if self.roles == EVERYONE:
            return "everyone"
        if self.roles == STAFF:
            return "agents"
        if self.roles == ADMINS:
            return "admins"
        return ", ".join(sorted(r.value + "s" for r in self.roles))


def _closest(typed: str, options: Sequence[str], cutoff: float) -> list[str]:
    """The option nearest to what was typed, and a second one only when it is about as near
    ("tickte list" -> ticket list, not ticket split as well)."""
    scored = sorted(((difflib.SequenceMatcher(None, typed, o).ratio(), o) for o in options), reverse=True)
    near = [(r, o) for r, o in scored[:2] if r >= cutoff]
    return [o for r, o in near if r >= near[0][0] - 0.05]


class CommandRegistry:
    def __init__(self) -> None:
        self.commands: dict[str, CommandSpec] = {}
        # Handlers the router calls for things that are not typed commands, e.g. "chat":
        # a customer's plain line in a support channel. Not listed by help.
        self.internal: dict[str, CommandSpec] = {}

    def on(self, name: str, *params: Param, summary: str = "") -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.internal[name] = CommandSpec(name, tuple(params), EVERYONE, summary, (), fn)
            return fn

        return register

    def command(
        self,
        name: str,
        *params: Param,
        roles: frozenset[Role] = EVERYONE,
        summary: str,
        examples: Sequence[str | Example] = (),
        read_only: bool = False,
        syntax: str = "",
        needs_db: bool = True,
        shown_to: Callable[[Caller, Settings], bool] | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            if name in self.commands:
                raise ValueError(f"command {name!r} declared twice")
            if not needs_db and not read_only:
                raise ValueError(f"command {name!r}: only read_only commands may skip the database")
            shown = tuple(e if isinstance(e, Example) else Example(e) for e in examples)
            self.commands[name] = CommandSpec(
                name, tuple(params), frozenset(roles), summary, shown, fn, read_only, syntax, needs_db,
                shown_to,
            )
            return fn

        return register

    def include(self, other: CommandRegistry, area: str) -> None:
        """Add an area's declarations; a name declared by two areas is refused."""
        for name, spec in other.commands.items():
            if name in self.commands:
                raise ValueError(f"command {name!r} declared by two areas (the second: {area})")
            self.commands[name] = spec
        for name, spec in other.internal.items():
            if name in self.internal:
                raise ValueError(f"handler {name!r} declared by two areas (the second: {area})")
            self.internal[name] = spec

    def find(self, words: list[str]) -> tuple[CommandSpec | None, int]:
        """The longest declared name matching the first words: ('ticket open', 2)."""
        if len(words) >= 2:
            spec = self.commands.get(f"{words[0].lower()} {words[1].lower()}")
            if spec is not None:
                return spec, 2
        if words:
            spec = self.commands.get(words[0].lower())
            if spec is not None:
                return spec, 1
        return None, 0

    def group(self, word: str) -> list[CommandSpec]:
        return [s for n, s in sorted(self.commands.items()) if n.split()[0] == word.lower()]

    def unknown(self, words: list[str], caller: Caller) -> str:
        """The answer to words that are no command: the nearest command this caller may run
        ("did you mean"), or where to look."""
        allowed = [n for n, s in self.commands.items() if role_allows(s.roles, caller.role)]
        first = words[0].lower()
        group = [n for n in allowed if n.split()[0] == first]
        if group and len(words) > 1:  # a known group, an unknown subcommand: "ticket opne"
            typed = f"{first} {words[1].lower()}"
            subs = [n.split(" ", 1)[1] for n in group if " " in n]
            near = [f"{first} {w}" for w in _closest(words[1].lower(), subs, 0.6)]
            if near:
                return f"'{_short(typed)}' is not a command. Did you mean {_either(near)}? (help {first} lists them)"
            return f"'{_short(typed)}' is not a command. Type help {first} for the {first} commands."
        typed = " ".join(w.lower() for w in words[:2])
        near = _closest(typed, allowed, 0.75) if len(words) > 1 else []
        if not near:
            heads = sorted({n.split()[0] for n in allowed})
            near = [f"{h} {words[1].lower()}" if len(words) > 1 and f"{h} {words[1].lower()}" in allowed else h
                    for h in _closest(first, heads, 0.6)]
        if near:
            return f"Unknown command '{_short(words[0])}'. Did you mean {_either(near)}?"
        return f"Unknown command '{_short(words[0])}'. Type help for what you can do."

    def is_command(self, text: str) -> bool:
        words = clean_line(text).split()
        if not words:
            return False
        spec, _ = self.find(words)
        return spec is not None or bool(self.group(words[0]))


# --- the context a command runs in ----------------------------------------------------------


class UnitOfWorkLike(Protocol):
    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def commit(self) -> None: ...


class _NoDatabase:
    """The unit of work of a command declared `needs_db=False` (help, whoami): touching it is a
    bug in the declaration, said plainly instead of an AttributeError on None."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"a command declared needs_db=False used the database (uow.{name})")


NO_DATABASE = cast(UnitOfWork, _NoDatabase())


@dataclass
class CommandContext:
    caller: Caller
    message: InboundMessage
    uow: UnitOfWork
    config: Settings
    clock: Clock
    now: datetime
    services: DeskServices
    registry: CommandRegistry
    hooks: Hooks = field(default_factory=Hooks)
    outbound: list[Outbound] = field(default_factory=list)
    spec: CommandSpec | None = None

    def post(
        self,
        destination: Destination | str,
        text: str,
        *,
        kind: str = "notice",
        ticket_id: int | None = None,
        buttons: Sequence[Button] = (),
        label: str = "",
        extra: dict[str, str] | None = None,
    ) -> None:
        """Queue a message to somebody other than the caller (stored in the outbox on commit)."""
        dest = Destination.parse(destination) if isinstance(destination, str) else destination
        self.outbound.append(
            Outbound(dest, inert_bidi(text), kind, ticket_id, tuple(buttons), label or str(dest), extra=extra or {})
        )

    def triage(
        self, text: str, *, ticket_id: int | None = None, buttons: Sequence[Button] = (), kind: str = "triage"
    ) -> None:
        self.post(self.config.bot.triage_channel, text, kind=kind, ticket_id=ticket_id, buttons=buttons)

    def notify_person(
        self,
        person: str,
        text: str,
        *,
        kind: str = "notice",
        ticket_id: int | None = None,
        buttons: Sequence[Button] = (),
        extra: dict[str, str] | None = None,
    ) -> list[str]:
        """A direct message on every network in service where the person has a handle (a
        disabled network would only collect undeliverable rows); returns the networks."""
        cfg = self.config.people.get(person)
        if cfg is None:
            return []
        live = self.services.networks_in_service()
        networks = []
        for network, handle in cfg.handles.items():
            if network not in live:
                continue
            self.post(
                Destination(network, handle),
                text,
                kind=kind,
                ticket_id=ticket_id,
                buttons=buttons,
                label=person,
                extra=extra,
            )
            networks.append(network)
        return networks


# --- parsing --------------------------------------------------------------------------------

def _refuse_invisible(word: str) -> None:
    code = invisible_in(word)
    if code is not None:
        shown = "".join(ch for ch in word if not is_invisible(ch))
        raise UserError(f"'{_short(shown)}' contains an invisible character ({code}); type it again without")


def _take_flags(ctx: CommandContext, spec: CommandSpec, text: str, values: dict[str, Any]) -> str:
    """Declared `--flags` and `--option VALUE` are recognised anywhere on the line, also after
    free text (the one rule `help` states); returns the line without them."""
    flags = {p.name: p for p in spec.params if isinstance(p, (Flag, Option))}
    if not flags:
        return text
    tokens = list(re.finditer(r"\S+", text))
    cuts: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        word = tokens[i].group()
        visible = "".join(ch for ch in word if not is_invisible(ch))
        opt = flags.get(visible[2:].lower()) if visible.startswith("--") else None
        if opt is None:
            i += 1
            continue
        _refuse_invisible(word)
        if not role_allows(opt.roles, ctx.caller.role):
            raise PermissionDenied(f"--{opt.name} is for agents")
        if isinstance(opt, Flag):
            values[_pyname(opt.name)] = True
            used = 1
        else:
            if i + 1 >= len(tokens):
                raise UserError(f"--{opt.name} needs a value ({opt.display})")
            _refuse_invisible(tokens[i + 1].group())
            values[_pyname(opt.name)] = opt.converter(ctx, tokens[i + 1].group())
            used = 2
        end = tokens[i + used].start() if i + used < len(tokens) else len(text)
        cuts.append((tokens[i].start(), end))
        i += used
    if not cuts:
        return text
    kept, last = [], 0
    for start, end in cuts:
        kept.append(text[last:start])
        last = end
    kept.append(text[last:])
    return "".join(kept).strip()


def parse_args(ctx: CommandContext, spec: CommandSpec, text: str) -> dict[str, Any]:
    """Bind the words after the command name to the declaration; UserError on anything off."""
    values: dict[str, Any] = {}
    for p in spec.params:
        key = _pyname(p.name)
        if isinstance(p, Flag):
            values[key] = False
        elif isinstance(p, (Option, Keyword)):
            values[key] = None
        elif isinstance(p, Text):
            values[key] = ""
        else:
            values[key] = None
    text = _take_flags(ctx, spec, text, values)
    keywords = {p.name: p for p in spec.params if isinstance(p, Keyword)}
    positionals = [p for p in spec.params if isinstance(p, (Arg, Text))]
    tokens = list(re.finditer(r"\S+", text))
    i = 0
    pi = 0
    skipped: UserError | None = None  # why the current word did not fit an optional argument
    while i < len(tokens):
        word = tokens[i].group()
        in_text = pi < len(positionals) and isinstance(positionals[pi], Text)
        if word.startswith("--") and len(word) > 2 and not in_text:
            raise UserError(f"unknown option '{_short(word)}'")  # declared ones were taken above
        if "=" in word and not word.startswith("="):
            kname, _, kval = word.partition("=")
            kw = keywords.get(kname.lower())
            if kw is not None:
                _refuse_invisible(word)
                if not kval:
                    raise UserError(f"{kw.name}= needs a value ({kw.display})")
                values[_pyname(kw.name)] = kw.converter(ctx, kval)
                i += 1
                continue
        if pi >= len(positionals):
            raise skipped or UserError(f"unexpected '{_short(word)}'")
        param = positionals[pi]
        if isinstance(param, Text):
            values[_pyname(param.name)] = text[tokens[i].start() :].strip()
            break
        try:
            _refuse_invisible(word)  # the converter reads this word: it must be what it shows
            values[_pyname(param.name)] = param.converter(ctx, word)
        except UserError as exc:
            if param.optional:
                skipped = exc
                pi += 1
                continue
            raise
        skipped = None
        pi += 1
        i += 1
    for param in positionals[pi:]:
        key = _pyname(param.name)
        if isinstance(param, Text):
            if not param.optional and not values[key]:
                raise UserError(f"missing {param.syntax()}")
        elif not param.optional and values[key] is None:
            raise UserError(f"missing {param.syntax()}")
    return values


def _pyname(name: str) -> str:
    key = name.replace("-", "_")
    return key + "_" if key in ("for", "from", "to", "in", "as") else key


def _either(names: list[str]) -> str:
    return " or ".join(f"'{n}'" for n in names)


def _short(word: str) -> str:
    return word if len(word) <= 40 else word[:37] + "..."


# --- the router ---------------------------------------------------------------------------------

OutboundListener = Callable[[list[Outbound]], Awaitable[None]]
# Called inside a command's transaction, just before it commits, with the unit of work, the
# replies and the messages the command queued: the durable inbox marks its row done and stores
# the answers and those messages in the outbox (bot.inbox), leased to the instance that
# delivers them right after the commit.
Settle = Callable[[Any, list[Reply], list[Outbound]], Awaitable[None]]

REGISTRATION_REPLY = (
    "Hello! I don't know you yet, so I can't open tickets for you. "
    "Please ask your support contact to register your handle, or use your organisation's support channel."
)


NETWORK_NAMES = {"irc": "IRC", "slack": "Slack", "telegram": "Telegram", "console": "the console"}
HANDLE_KINDS = {"irc": "services account", "slack": "user id", "telegram": "user id", "console": "handle"}


def unregistered_whoami(message: InboundMessage) -> str:
    """What a person the directory does not know needs to get registered: their own id here."""
    network = message.network
    if not message.sender:  # IRC with trust = "account": not logged in to services
        return (
            f"I don't know you yet, and you ({message.sender_name or 'this nick'}) are not logged in to a services "
            "account here. Log in to NickServ (or connect with SASL), then send whoami again to get your account name."
        )
    return (
        f"I don't know you yet. Your {HANDLE_KINDS.get(network, 'id')} on {NETWORK_NAMES.get(network, network)} "
        f"is {message.sender}. Send your support contact this line so they can register you: "
        f"handles = {{ {network} = \"{message.sender}\" }}"
    )


class Router:
    """Turns an InboundMessage into replies: identity, parsing, permission, one transaction."""

    def __init__(
        self,
        registry: CommandRegistry,
        config: Settings,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        services: DeskServices,
        hooks: Hooks | None = None,
    ) -> None:
        self.registry = registry
        self.hooks = hooks or Hooks()
        self.config = config
        self.directory = Directory(config)
        self.uow_factory = uow_factory
        self.clock = clock
        self.services = services
        self.listeners: list[OutboundListener] = []
        self.metrics: Callable[[str, str, float], None] | None = None

    def reconfigure(self, config: Settings) -> None:
        self.config = config
        self.directory = Directory(config)

    async def handle(self, message: InboundMessage, settle: Settle | None = None) -> list[Reply]:
        """Replies to one message. `settle`, when given, runs in the command's transaction if
        the command commits one (otherwise the caller settles on its own)."""
        started = time.monotonic()  # latency is wall time, whatever the desk's clock says
        outcome = "ok"
        name = "?"
        try:
            replies, name, outcome = await self._handle(message, settle)
            return [_inert(r) for r in replies]
        except Exception:  # the last line of defence: nothing typed in chat may crash the bot
            ref = REQUEST_ID.get() or new_request_id()  # the request id every log line of it carries
            log.exception("unexpected error handling a message (ref %s)", ref, extra={"ref": ref})
            outcome = "crash"
            return [Reply(f"Something went wrong (ref {ref}). The team has been told.", ephemeral=True, kind="error")]
        finally:
            if self.metrics is not None:
                self.metrics(name, outcome, time.monotonic() - started)

    async def _handle(self, message: InboundMessage, settle: Settle | None) -> tuple[list[Reply], str, str]:
        text = clean_line(message.text)
        if message.ticket_id is not None and text:  # written in the ticket's thread: a reply on it
            text = f"ticket reply {message.ticket_id} {text}"
        caller = self.directory.resolve(message)
        if message.mail is not None:
            # A whole e-mail: the "mail" handler decides (ticket, reply, card); refusals are
            # answered so the adapter can mail them.
            mail = self.registry.internal.get("mail")
            if mail is None or caller is None:
                return [], "mail", "ignored"
            return await self._run(mail, caller, message, ""), "mail", "ok"
        if not message.addressed:
            chat = self.registry.internal.get("chat")
            if caller is not None and chat is not None and text:
                if len(text) > MAX_CHAT:  # kept, not dropped: the customer asked something
                    text = f"{text[:MAX_CHAT]} … (cut: the message had {len(text)} characters)"
                return await self._run(chat, caller, message, text, quiet=True, settle=settle), "chat", "ok"
            return [], "chat", "ignored"
        if not text:
            return [], "?", "ignored"
        if caller is None:
            if text.split()[0].lower() == "whoami":
                return [Reply(unregistered_whoami(message), private=True, ephemeral=True)], "whoami", "unknown-person"
            return [Reply(REGISTRATION_REPLY, private=True, ephemeral=True)], "unknown", "unknown-person"
        if len(text) > MAX_LINE:
            return _error(f"That line is too long ({len(text)} characters; at most {MAX_LINE})."), "?", "refused"
        words = text.split()
        spec, used = self.registry.find(words)
        if spec is None:
            return _error(self.registry.unknown(words, caller)), "?", "refused"
        if not role_allows(spec.roles, caller.role):
            return _error(f"Sorry, {spec.name} is for {spec.who()}."), spec.name, "denied"
        control = first_control(message.text)
        if control is not None:
            refusal = UserError(f"that line contains an invisible control character ({control}); nothing was done")
            return _refusal(spec, caller, refusal, quiet=False), spec.name, "refused"
        rest = text
        for _ in range(used):
            rest = rest.lstrip()
            rest = rest[len(rest.split(maxsplit=1)[0]) :]
        return await self._run(spec, caller, message, rest.strip(), settle=settle), spec.name, "ok"

    async def view(self, message: InboundMessage, page: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        """Read-only pages (the web portal): `page(ctx, **kwargs)` runs as the speaker of
        `message` in a transaction that is never committed. The caller is resolved as for a
        command, so permission helpers (`load_ticket`, `org_scope`) decide exactly as in chat;
        their NotFound / PermissionDenied reach the caller. None-callers get PermissionDenied."""
        caller = self.directory.resolve(message)
        if caller is None:
            raise PermissionDenied(REGISTRATION_REPLY)
        async with self.uow_factory(read_only=True) as uow:
            ctx = CommandContext(
                caller, message, uow, self.config, self.clock, self.clock.now(), self.services, self.registry,
                self.hooks,
            )
            return await page(ctx, **kwargs)

    async def _run(
        self, spec: CommandSpec, caller: Caller, message: InboundMessage, rest: str, *, quiet: bool = False,
        settle: Settle | None = None,
    ) -> list[Reply]:
        """One transaction. `quiet` (chat lines): refusals are logged, never answered."""
        now = self.clock.now()
        if not spec.needs_db:  # help, whoami: no transaction; nothing stored, so nothing to deduplicate
            ctx = CommandContext(
                caller, message, NO_DATABASE, self.config, self.clock, now, self.services, self.registry, self.hooks,
                spec=spec,
            )
            try:
                return _as_replies(await spec.handler(ctx, **parse_args(ctx, spec, rest)), spec)
            except SupportbotError as exc:
                return _refusal(spec, caller, exc, quiet=quiet)
        # A command from the inbox is marked done (and its answer settled) in its own transaction,
        # so even a read-only command then writes.
        async with self.uow_factory(read_only=spec.read_only and settle is None) as uow:
            ctx = CommandContext(
                caller, message, uow, self.config, self.clock, now, self.services, self.registry, self.hooks, spec=spec
            )
            claimed = ""
            try:
                # Idempotency guards changes; a read-only answer given twice harms nobody and
                # saves a write per read.
                if message.message_id and not spec.read_only:
                    key = f"{message.network}:{message.message_id}"
                    if not await uow.handled.claim(key, now):
                        log.info("duplicate delivery of %s ignored", key)
                        return []
                    claimed = key  # (PostgreSQL: checked with the next statement, see `claim`)
                kwargs = parse_args(ctx, spec, rest)
                result = await spec.handler(ctx, **kwargs)
                replies = _as_replies(result, spec)
                if settle is not None:  # it queues ctx.outbound with the answers
                    await settle(uow, [_inert(r) for r in replies], ctx.outbound)
                else:
                    await uow.outbox.add_all(ctx.outbound, now)
                await uow.commit()
            except SupportbotError as exc:
                if claimed and await uow.handled.duplicate_waiting():  # refused before its first statement
                    log.info("duplicate delivery of %s ignored", claimed)
                    return []
                return _refusal(spec, caller, exc, quiet=quiet)
            except Exception as exc:
                if claimed and uow.handled.is_duplicate(exc):  # the claim failed the statement it rode with
                    log.info("duplicate delivery of %s ignored", claimed)
                    return []
                raise
        if ctx.outbound:
            for listener in self.listeners:
                await listener(ctx.outbound)
        return replies


def _refusal(spec: CommandSpec, caller: Caller, exc: SupportbotError, *, quiet: bool) -> list[Reply]:
    """A refused command: one line (with the syntax for bad input); nothing for chat lines."""
    if quiet:
        log.info("%s refused: %s", spec.name, exc)
        return []
    if isinstance(exc, UserError):
        return _error(f"{exc} — usage: {spec.syntax_for(caller.role)}")
    return _error(str(exc))


def _inert(reply: Reply) -> Reply:
    """What the bot says shows bidi controls from stored text instead of obeying them."""
    text = inert_bidi(reply.text)
    return reply if text == reply.text else dataclasses.replace(reply, text=text)


def _error(text: str) -> list[Reply]:
    """One line to the caller alone: what was wrong."""
    return [Reply(text, ephemeral=True, kind="error")]


def _as_replies(result: list[Reply] | Reply | str | None, spec: CommandSpec) -> list[Reply]:
    if result is None:
        return []
    if isinstance(result, str):
        result = [Reply(result)]
    elif isinstance(result, Reply):
        result = [result]
    if spec.read_only:
        return [r if r.ephemeral else Reply(r.text, r.private, True, r.ticket_id, r.buttons, r.kind) for r in result]
    return list(result)
