"""The one place that wires config, storage, commands and adapters together."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import importlib.util
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.areas import Desk
from bot.desk.alerts import AlertEvent
from bot.desk.clock import Clock, SystemClock
from bot.desk.domain import Destination, InboundMessage, Outbound, Reply
from bot.desk.errors import ConfigError
from bot.identity import Caller
from bot.menu import command_menu
from bot.ports import Adapter, AdapterState, DeskFigures, MenuCommand, WebSessions
from bot.ports.repositories import TransactionState, UnitOfWorkFactory
from bot.ports.repositories import UnitOfWork as UnitOfWorkPort
from bot.router import REQUEST_ID, CommandContext, Router, new_request_id
from bot.runtime.config import (
    Config,
    business_calendars,
    database_url,
    desk_services,
    parse_all,
    plan_targets,
    problem_lines,
)
from bot.worker import DELIVERY_LEASE, SYSTEM, Worker
from commands import assist, billing, general, mail, oncall, sla, tickets, web

if TYPE_CHECKING:
    from bot.runtime.metrics import DeskMetrics

log = logging.getLogger("supportbot")
T = TypeVar("T")

# The command areas this desk serves, in the order their hooks run (tickets first: the others
# react to its events). Adding an area is adding it here.
AREAS = (general, tickets, sla, billing, oncall, assist, mail, web)


def build_desk() -> Desk:
    """The areas of AREAS joined: one registry, one timer table, one set of hooks."""
    return Desk.of(area.AREA for area in AREAS)

RESTARTING_REPLY = "supportbot is restarting; please send that again in a minute."
# The durable inbox (bot/inbox.py): an instance holds the commands it runs for INBOX_LEASE and
# renews the hold every INBOX_RENEW; a crashed instance's commands are run by another (or the
# next start) once the lease has passed, a stopping instance's at once (it releases them).
INBOX_LEASE = timedelta(seconds=15)
INBOX_RENEW = 4.0
# Commands handled at once by one instance; more wait their turn. Kept below the database
# pool (5 + 10 overflow) so that a burst (2,000 webhooks) queues instead of timing out on a
# connection and losing commands; the adapters and the worker keep connections of their own.
MAX_CONCURRENT_COMMANDS = 8
MAX_ALERT_BATCH = 100  # alert intake requests stored in one transaction during a burst
AlertRequest = tuple[str, Sequence[AlertEvent], "asyncio.Future[Sequence[Any]]"]
MAX_ACCEPT_BATCH = 200  # inbound commands stored in one INSERT during a burst
RELEASE_SECONDS = 1.5  # a stop's release of the commands held (App.stop_inbox)
# The adapter's own notes about a command, written in the transaction that stores it.
Notes = Callable[[TransactionState], Awaitable[None]]
# (key, network, message row, reply_to, stored: True when new, notes)
AcceptRequest = tuple[str, str, dict[str, Any], dict[str, Any], "asyncio.Future[bool]", Notes | None]
# Set while an inbox command runs: it delivers what it queued itself, the worker need not look.
_RUNNING_INBOX: contextvars.ContextVar[bool] = contextvars.ContextVar("supportbot_running_inbox", default=False)

# network -> (module, settings model, adapter class)
NETWORK_ADAPTERS = {
    "irc": ("adapters.irc", "IrcSettings", "IrcAdapter"),
    "slack": ("adapters.slack", "SlackSettings", "SlackAdapter"),
    "telegram": ("adapters.telegram", "TelegramSettings", "TelegramAdapter"),
    "email": ("adapters.email", "EmailSettings", "EmailAdapter"),
}


def adapter_settings(config: Config, missing: Sequence[tuple[str, str]] = ()) -> dict[str, BaseModel]:
    """Validate every `[adapters.<net>]` section with that adapter's own settings model,
    enabled or not (a disabled section with a wrong value is still wrong). `missing` lists
    the `${VAR}`s that were not set, so a complaint about their key can name the variable."""
    out: dict[str, BaseModel] = {}
    problems: list[str] = []
    for network, (module_name, settings_name, _cls) in NETWORK_ADAPTERS.items():
        raw: dict[str, Any] = getattr(config.adapters, network)
        if not raw:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            if raw.get("enabled"):
                problems.append(
                    f"{config.source}: adapters.{network}: expected an installed {network} adapter, found none"
                )
            continue
        model: type[BaseModel] = getattr(module, settings_name)
        try:
            out[network] = model.model_validate(raw)
        except ValidationError as exc:
            for line in problem_lines(config.source, f"adapters.{network}", exc, model):
                problems.append(line + _unset_note(line, config.source, missing))
    if problems:
        raise ConfigError("\n".join(problems))
    return out


def _unset_note(line: str, source: str, missing: Sequence[tuple[str, str]]) -> str:
    key = line.removeprefix(f"{source}: ").split(": ", 1)[0]
    names = [name for path, name in missing if path == key]
    return f" (environment variable {', '.join(names)} is not set)" if names else ""


# Keys a mode does not use: their "${VAR}" need not be set (Slack Socket Mode has no signing
# secret; a Telegram bot that polls has no webhook).
MODE_ONLY_KEYS = {
    "slack": {"signing_secret": "http", "listen": "http", "path": "http", "app_token": "socket"},
    "telegram": {"webhook_url": "webhook", "secret_token": "webhook", "listen": "webhook", "path": "webhook"},
}
DEFAULT_MODES = {"slack": "socket", "telegram": "polling"}


def _unset_in_enabled_adapters(config: Config, missing: Sequence[tuple[str, str]], problems: list[str]) -> list[str]:
    """A `${VAR}` that is not set, in an enabled adapter's section, for a key its mode uses
    (unless the adapter's own check already named that key)."""
    out = []
    for path, name in missing:
        parts = path.split(".")
        if len(parts) < 3 or parts[0] != "adapters" or parts[1] not in NETWORK_ADAPTERS:
            continue
        network, key = parts[1], parts[2].split("[")[0]
        section: dict[str, Any] = getattr(config.adapters, network)
        if not section.get("enabled"):
            continue
        mode = str(section.get("mode", DEFAULT_MODES.get(network, "")))
        needs = MODE_ONLY_KEYS.get(network, {}).get(key)
        if needs is not None and needs != mode:
            continue
        if any(line.startswith(f"{config.source}: {path}:") for line in problems):
            continue
        out.append(f"{config.source}: {path}: expected environment variable {name} to be set (referenced as "
                   f"${{{name}}}), found it unset")
    return out


def enabled_networks(config: Config) -> set[str]:
    live = {"console"} if config.adapters.console.enabled else set()
    return live | {n for n in NETWORK_ADAPTERS if getattr(config.adapters, n).get("enabled")}


# Keys holding secrets in the adapters' sections: they belong in the environment ("${VAR}").
SECRET_KEYS = ("token", "bot_token", "app_token", "signing_secret", "sasl_password", "secret_token", "password")
# The database URL scheme -> the driver module it needs.
DATABASE_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "psycopg", "postgres": "psycopg",
                    "postgresql+psycopg": "psycopg", "postgresql+asyncpg": "asyncpg",
                    "sqlite+aiosqlite": "aiosqlite"}  # fmt: skip


def _channel_references(config: Config, settings: dict[str, BaseModel]) -> list[str]:
    """Where messages go must be somewhere the bot is: the triage channel on an enabled network,
    and IRC channels the bot is to serve among the channels it joins."""
    src = config.source
    live = enabled_networks(config)
    problems = []
    triage = Destination.parse(config.bot.triage_channel)
    if triage.network not in live:
        problems.append(
            f"{src}: bot.triage_channel: expected a channel on an enabled network ({', '.join(sorted(live))}), "
            f"found '{config.bot.triage_channel}' while [adapters.{triage.network}] is not enabled"
        )
    irc = settings.get("irc")
    if "irc" in live and irc is not None:
        joined = {c.lower() for c in getattr(irc, "channels", [])}
        wanted = [("bot.triage_channel", config.bot.triage_channel)]
        wanted += [("bot.support_channels", ch) for ch in config.bot.support_channels]
        for name, org in config.orgs.items():
            wanted += [(f"orgs.{name}.channels", ch) for ch in org.channels]
        for key, ch in wanted:
            dest = Destination.parse(ch)
            if dest.network == "irc" and dest.target.lower() not in joined:
                problems.append(
                    f"{src}: {key}: expected IRC channel {dest.target} in adapters.irc.channels (the channels "
                    f"the bot joins), found only {', '.join(sorted(joined)) or 'none'}"
                )
    return problems


def _database_driver(config: Config) -> list[str]:
    scheme = config.bot.database.split(":", 1)[0]
    module = DATABASE_DRIVERS.get(scheme)
    if module is None or importlib.util.find_spec(module) is not None:
        return []
    return [
        f"{config.source}: bot.database: expected a URL whose driver is installed, found '{scheme}://' "
        f"but the Python module {module} is not installed"
        + (" (use postgresql:// for psycopg 3, which supportbot ships with)" if module == "asyncpg" else "")
    ]


def literal_secrets(raw: dict[str, Any], source: str) -> list[str]:
    """Warnings: secrets written into the file itself instead of "${VAR}"."""
    warnings = []
    for network, section in (raw.get("adapters") or {}).items():
        if not isinstance(section, dict):
            continue
        for key, value in section.items():
            if key in SECRET_KEYS and isinstance(value, str) and value.strip() and "${" not in value:
                warnings.append(
                    f"{source}: adapters.{network}.{key}: expected a reference like \"${{{key.upper()}}}\" "
                    "(secrets belong in the environment), found the secret written in the file"
                )
    database = str((raw.get("bot") or {}).get("database", ""))
    userinfo = database.split("://", 1)[-1].split("@", 1)[0] if "@" in database else ""
    if ":" in userinfo and "${" not in userinfo:
        warnings.append(
            f"{source}: bot.database: expected the password as a reference like \"${{DB_PASSWORD}}\", "
            "found it written in the file"
        )
    return warnings


def diagnose(path: str, env: Mapping[str, str] | None = None) -> tuple[Config | None, list[str], list[str]]:
    """check-config: (config or None, every problem, warnings), all in one pass."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [f"{source}: expected a configuration file, found no file there"], []
    except OSError as exc:
        return None, [f"{source}: expected a readable file, found: {exc.strerror}"], []
    parsed = parse_all(text, source, env)
    problems = list(parsed.problems)
    warnings = literal_secrets(parsed.raw, source)
    # The adapters' sections and the database driver are judged even when the rest does not
    # validate: one mistake must not hide the others.
    cfg = parsed.config
    probe = cfg
    if probe is None:
        adapters: dict[str, Any] = _table(parsed.data.get("adapters"))
        bot = _table(parsed.data.get("bot"))
        try:
            probe = Config.model_validate({"adapters": {k: v for k, v in adapters.items() if k != "console"},
                                           "source": source})  # fmt: skip
        except ValidationError:
            probe = None
        database = bot.get("database")
        if isinstance(database, str):
            with contextlib.suppress(ValidationError):
                problems += _database_driver(Config.model_validate({"bot": {"database": database}, "source": source}))
    if cfg is not None:
        problems += _database_driver(cfg)
    settings: dict[str, BaseModel] = {}
    if probe is not None:
        try:
            settings = adapter_settings(probe, parsed.missing)
        except ConfigError as exc:
            problems += str(exc).splitlines()
        problems += _unset_in_enabled_adapters(probe, parsed.missing, problems)
    if cfg is not None and not any(line.startswith(f"{source}: adapters.") for line in problems):
        problems += _channel_references(cfg, settings)
    return cfg, problems, warnings


def load_checked(path: str) -> Config:
    """bot.toml for `supportbot run` and a reload: everything check-config verifies must hold
    (warnings are logged)."""
    cfg, problems, warnings = diagnose(path)
    for line in warnings:
        log.warning("%s", line)
    if problems or cfg is None:
        raise ConfigError("\n".join(problems))
    return cfg


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def check(config: Config) -> None:
    """What `run` and a reload verify beyond parsing (check-config does more: diagnose)."""
    settings = adapter_settings(config)
    problems = _channel_references(config, settings) + _database_driver(config)
    if problems:
        raise ConfigError("\n".join(problems))


def is_singleton(network: str, settings: BaseModel) -> bool:
    """Connections only one instance may hold: IRC, Slack Socket Mode, Telegram long polling.
    Webhook endpoints (Slack "http", Telegram "webhook") run on every instance."""
    return getattr(settings, "mode", None) not in ("http", "webhook")


def shares_http(network: str, settings: BaseModel, http: str | None) -> bool:
    """A webhook adapter is served by the `[bot] http` server when its `listen` equals that
    address (Telegram also when its `listen` is ""); otherwise it opens its own listener."""
    if http is None or is_singleton(network, settings):
        return False
    listen = str(getattr(settings, "listen", "") or "")
    return listen == http or (network == "telegram" and listen == "")


def leadership_lock(config: Config) -> Any:
    """The lock deciding which instance holds the singletons (bot.runtime.leadership.LeadershipLock)."""
    from storage.leadership import leadership_lock as make_lock

    return make_lock(database_url(config), takeover_seconds=config.bot.leader_takeover_seconds)


def make_console_adapter(speaker: str, is_command: Any) -> Any:
    """The console adapter `supportbot run` reads the terminal with."""
    from adapters.console import ConsoleAdapter

    return ConsoleAdapter(speaker, is_command=is_command)


def make_web_portal(app: App) -> Any:
    """The web portal (adapters/web), served by `supportbot run` when `[web]` is enabled."""
    from adapters.web.portal import WebPortal

    return WebPortal(app)


def make_adapter(network: str, settings: BaseModel, clock: Clock) -> Adapter:
    module_name, _settings, cls_name = NETWORK_ADAPTERS[network]
    cls = getattr(importlib.import_module(module_name), cls_name)
    adapter: Adapter = cls(settings, clock=clock)
    return adapter


class App:
    """A running supportbot: router, worker, adapters, on one database. It is the
    AdapterHost every adapter talks to."""

    def __init__(self, config: Config, db: Any, clock: Clock, *, with_metrics: bool = True) -> None:
        from storage.database import StateStore
        from storage.uow import UnitOfWork
        from storage.web import WebSessionStore

        self.config = config
        self.db = db
        self.clock = clock
        self.desk = build_desk()
        self.registry = self.desk.registry
        # Networks a message can go out on: enabled in bot.toml (delivered by whichever instance
        # runs them) or running in this process.
        self.services = desk_services(config, lambda: enabled_networks(self.config) | set(self.adapters))
        self.uow_factory: UnitOfWorkFactory = lambda *, read_only=False: UnitOfWork(db, read_only=read_only)
        # Storing commands before their acknowledgement: on SQLite ahead of every other writer.
        self._urgent_uow: Callable[[], UnitOfWorkPort] = lambda: UnitOfWork(db, urgent=True)
        self.router = Router(self.registry, config, self.uow_factory, clock, self.services, self.desk.hooks)
        self.state: AdapterState = StateStore(db)
        self.web_sessions: WebSessions = WebSessionStore(db)
        self.adapters: dict[str, Adapter] = {}
        self.worker = Worker(
            config, self.uow_factory, clock, self.registry, self.services, self.adapters,
            self.desk.hooks, self.desk.timers,
        )
        self.router.listeners.append(self._after_command)
        from storage.database import unreachable_reason

        self.worker.outage = unreachable_reason
        self.metrics: DeskMetrics | None = None
        if with_metrics:  # `supportbot run` serves /metrics; a scripted console skips prometheus_client
            from bot.runtime.metrics import DeskMetrics

            self.metrics = DeskMetrics()
            self.router.metrics = self.metrics.observe_command
            self.router.listeners.append(self.metrics.outbound)
            self.worker.listeners.append(self.metrics.outbound)
            self.worker.on_delivered = self.metrics.on_delivered
        # Shutdown: once False, new lines get a "restarting" answer; in-flight ones finish.
        self.accepting = True
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._turns = asyncio.Semaphore(MAX_CONCURRENT_COMMANDS)
        # Intake work (a burst of webhooks) takes turns too: on SQLite one at a time, since
        # concurrent writers only wait in SQLite's sleeping busy handler.
        self._alert_queue: list[AlertRequest] = []
        self._alert_turn = asyncio.Lock()
        self._system_turns = asyncio.Semaphore(1 if getattr(db, "is_sqlite", False) else MAX_CONCURRENT_COMMANDS)
        # The durable inbox: who we are to other instances, the commands held here.
        self.instance_id = f"{secrets.token_hex(6)}"
        self._inbox_tasks: dict[str, asyncio.Task[None]] = {}
        self._inbox_loop: asyncio.Task[None] | None = None
        self._inbox_wake = asyncio.Event()
        self._leased: set[int] = set()  # outbox rows an inbox command queued for this instance, not yet sent
        # Commands waiting to be stored: stored together, one INSERT per batch (group commit).
        self._accept_queue: list[AcceptRequest] = []
        self._accept_turn = asyncio.Lock()
        self._no_acks_waiting = asyncio.Event()  # set: no command is waiting to be stored
        self._no_acks_waiting.set()

    async def _after_command(self, outbound: list[Outbound]) -> None:
        if not _RUNNING_INBOX.get():  # an inbox command delivers its own messages (see _execute)
            self.worker.poke()

    async def handle(self, message: InboundMessage) -> list[Reply]:
        """One inbound line, under a request id every log line about it carries (and the
        "Something went wrong (ref X)" reply shows)."""
        if not self.accepting:
            return [Reply(RESTARTING_REPLY, ephemeral=True, kind="error")] if message.addressed else []
        token = REQUEST_ID.set(new_request_id())
        self._in_flight += 1
        self._idle.clear()
        try:
            async with self._turns:
                return await self.router.handle(message)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
            REQUEST_ID.reset(token)

    # -- the durable inbox ----------------------------------------------------------------------

    async def accept(self, message: InboundMessage, reply_to: dict[str, Any], notes: Notes | None = None) -> bool:
        """Store a command before the adapter acknowledges it (AdapterHost.accept). True: it is
        in the inbox (now, or from an earlier delivery) and will be run and answered through
        the outbox; False: not taken (stopping, or it has no id to key it on) — the adapter
        must not acknowledge it as taken. A database error propagates: no acknowledgement.
        `notes`: the adapter's bookkeeping about the message (who spoke where), run with the
        adapter state of the same transaction (when it raises, the command is not stored).

        The only work before the acknowledgement is that INSERT: commands arriving together
        are stored together (one short transaction per batch, on SQLite ahead of the commands
        being run), and each runs afterwards, from the database."""
        from bot.inbox import inbox_key, message_to_row

        key = inbox_key(message)
        if not self.accepting or key is None:
            return False
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._accept_queue.append((key, message.network, message_to_row(message), reply_to, stored, notes))
        self._no_acks_waiting.clear()
        while not stored.done():
            async with self._accept_turn:
                if stored.done():
                    break
                batch = self._accept_queue[:MAX_ACCEPT_BATCH]
                del self._accept_queue[:MAX_ACCEPT_BATCH]
                try:
                    await self._store_batch(batch)
                finally:  # cancelled meanwhile: what was not stored goes back to the queue
                    left = [item for item in batch if not item[4].done()]
                    self._accept_queue[:0] = left
                    if not self._accept_queue:
                        self._no_acks_waiting.set()
        if await stored:
            self._run_inbox(key, message, reply_to)
        return True

    async def _store_batch(self, batch: list[AcceptRequest]) -> None:
        """One INSERT for the batch; if it fails, each command alone (a bad one fails alone)."""
        now = datetime.now(UTC)  # leases are wall time, whatever the desk's clock says
        try:
            async with self._urgent_uow() as uow:
                fresh = await uow.inbox.add_many([item[:4] for item in batch], now, now + INBOX_LEASE,
                                                 self.instance_id)  # fmt: skip
                for item in batch:
                    if item[5] is not None:
                        await item[5](uow.state)
                await uow.commit()
        except Exception as exc:
            if len(batch) == 1:
                batch[0][4].set_exception(exc)
                return
            for item in batch:
                await self._store_batch([item])
            return
        for key, _network, _row, _reply_to, stored, _notes in batch:
            if not stored.done():
                stored.set_result(key in fresh)

    def _run_inbox(self, key: str, message: InboundMessage, reply_to: dict[str, Any]) -> None:
        if key in self._inbox_tasks or not self.accepting:
            return  # (stopping: stored, and released for the next start or another instance)
        task = asyncio.get_running_loop().create_task(self._execute(key, message, reply_to), name=f"inbox {key}")
        self._inbox_tasks[key] = task
        task.add_done_callback(lambda _t: self._inbox_tasks.pop(key, None))

    async def _execute(self, key: str, message: InboundMessage, reply_to: dict[str, Any]) -> None:
        """Run one inbox command: its transaction marks the row done and stores the answers and
        whatever else it queued, those for this instance's networks leased to it; this task
        then delivers them and records that (with the adapters' bookkeeping) in one more
        transaction. A command that commits nothing (a refusal, a read without a transaction)
        is settled in a transaction of its own. Whatever is left undone is run again later;
        what is left undelivered goes out after the lease (at once after a stop: released)."""
        from bot.inbox import answers

        settled_in: UnitOfWorkPort | None = None
        leased: list[Outbound] = []
        wake_worker = False

        async def settle(uow: UnitOfWorkPort, replies: list[Reply], posts: list[Outbound]) -> None:
            nonlocal settled_in, leased, wake_worker
            now = self.clock.now()
            queued = list(posts)
            if await uow.inbox.finish(key, now):
                queued += answers(message.network, reply_to, replies)
            leased = await uow.outbox.add_leased(queued, now, now + DELIVERY_LEASE, self.worker.networks_here())
            self._leased.update(m.id for m in leased if m.id is not None)  # (released at a stop if not sent)
            # The worker hears of what this task does not deliver, and of a timer due before its next look.
            soon = now + timedelta(seconds=self.config.bot.worker_poll_seconds)
            wake_worker = len(leased) < len(queued) or (uow.timers.earliest is not None and uow.timers.earliest < soon)
            settled_in = uow

        try:
            token = REQUEST_ID.set(new_request_id())
            running = _RUNNING_INBOX.set(True)
            self._in_flight += 1
            self._idle.clear()
            try:
                async with self._turns:
                    # Acknowledgements first: a command starts only when none is waiting to be
                    # stored (they wait for the database and for this process's time).
                    await self._no_acks_waiting.wait()
                    replies = await self.router.handle(message, settle=settle)
                    if settled_in is None:
                        async with self.uow_factory() as uow:
                            await settle(uow, replies, [])
                            await uow.commit()
            finally:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.set()
                _RUNNING_INBOX.reset(running)
                REQUEST_ID.reset(token)
            if settled_in is None or not settled_in.committed:
                self._leased.difference_update(m.id for m in leased)
                return  # the command's transaction failed: the row stays undone and runs again
            if wake_worker:
                self.worker.poke()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database went away: the row stays undone and is run again later
            log.exception("inbox: %s could not be settled; it will run again", key)
            return
        if leased:  # answered at once; the worker retries what does not go out now
            try:
                await self.worker.deliver(leased, self.clock.now())
            except Exception as exc:  # sent, but not recorded: sent again after the lease
                log.warning("inbox: the answer to %s could not be recorded as delivered (%s)", key, exc)
            else:
                self._leased.difference_update(m.id for m in leased)

    async def run_inbox(self, interval: float = INBOX_RENEW) -> None:
        """Keep this instance's holds alive and run undone commands nobody holds (left by a
        crash, a stop, or another instance's death)."""
        from bot.inbox import message_from_row

        batch = MAX_CONCURRENT_COMMANDS * 4
        backlog = False  # more undone commands are waiting than this instance took
        while self.accepting:
            try:
                now = datetime.now(UTC)
                # Take more only when the commands held here are nearly done: the rest is left to
                # other instances (and this one's holds stay few enough to renew).
                room = batch - len(self._inbox_tasks)
                async with self.uow_factory() as uow:
                    await uow.inbox.renew(self.instance_id, list(self._inbox_tasks), now + INBOX_LEASE)
                    rows = (await uow.inbox.claim_undone(now, now + INBOX_LEASE, self.instance_id, limit=room)
                            if room >= MAX_CONCURRENT_COMMANDS else [])  # fmt: skip
                    found = [(r.key, message_from_row(r.message), dict(r.reply_to)) for r in rows]
                    await uow.commit()
                for key, message, reply_to in found:
                    log.info("inbox: running %s, left undone earlier", key)
                    self._run_inbox(key, message, reply_to)
                if room >= MAX_CONCURRENT_COMMANDS:  # looked: a full take means there may be more
                    backlog = len(found) >= room
                # A backlog is taken as fast as it runs; otherwise a look every `interval`.
                wait = 0.2 if backlog else interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("inbox: could not look for undone commands: %s", exc)
                wait = interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._inbox_wake.wait(), wait)
            self._inbox_wake.clear()

    async def inbox_settled(self) -> None:
        """Wait until every inbox command this instance is running has been settled."""
        while tasks := [t for t in self._inbox_tasks.values() if t is not asyncio.current_task()]:
            await asyncio.wait(tasks)

    async def start_inbox(self) -> None:
        """Run the inbox: commands left undone by a crash or a stop run now. On SQLite (one
        `supportbot run` per file) any hold left is a dead process's: released at once."""
        if self._inbox_loop is not None:
            return
        if getattr(self.db, "is_sqlite", False):
            try:
                async with self.uow_factory() as uow:
                    left = await uow.inbox.release_all()
                    await uow.outbox.release_leases(self.clock.now())  # a dead process's answers go out now
                    await uow.commit()
                if left:
                    log.info("inbox: %d command(s) left by the previous run; running them now", left)
            except Exception as exc:
                log.warning("inbox: could not take over the previous run's commands (%s); after the lease", exc)
        self._inbox_loop = asyncio.get_running_loop().create_task(self.run_inbox(), name="inbox")

    async def stop_inbox(self, timeout: float) -> int:
        """SIGTERM: take nothing new, give the running commands `timeout` s, cancel the rest
        (their transactions roll back) and release what this instance held, so that the next
        start or another instance runs it at once. Returns the number left to them."""
        self.accepting = False
        self._inbox_wake.set()
        if self._inbox_loop is not None:
            self._inbox_loop.cancel()
            await asyncio.gather(self._inbox_loop, return_exceptions=True)
            self._inbox_loop = None
        tasks = list(self._inbox_tasks.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            # Bounded too: a command stuck in a driver call that never returns must not hold
            # the stop (what it left undone is in the inbox for the next start).
            _ended, stuck = await asyncio.wait(pending, timeout=RELEASE_SECONDS) if pending else (set(), set())
            if stuck:
                log.warning("inbox: %d command(s) did not end when cancelled; stopping without them", len(stuck))
        try:
            # Bounded: a stop never waits long on the database (what is not released here is
            # taken over at the next start on SQLite, after the lease on PostgreSQL).
            left = await asyncio.wait_for(self._release_held(), RELEASE_SECONDS)
        except (Exception, TimeoutError) as exc:
            log.warning("inbox: could not release this instance's commands (%s); they run after the lease",
                        exc or type(exc).__name__)  # fmt: skip
            return -1
        if left:
            log.info("inbox: %d command(s) left for the next start or another instance", left)
        return left

    async def _release_held(self) -> int:
        """Let go of the commands this instance holds and of the answers leased to it."""
        # After the batch being stored now, if any: what it stores is released too.
        async with self._accept_turn, self.uow_factory() as uow:
            left = int(await uow.inbox.release(self.instance_id))
            # Answers queued here and not sent: the worker's last pass, or the next start, sends them.
            await uow.outbox.release(self._leased)
            await uow.commit()
        self._leased.clear()
        return left

    async def drain(self, timeout: float) -> bool:
        """Stop taking new lines and wait for the ones being handled; False on timeout."""
        self.accepting = False
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            log.warning("%d command(s) still running after %.0fs; stopping anyway", self._in_flight, timeout)
            return False

    def reconfigure(self, config: Config) -> None:
        """Apply a new, already validated bot.toml (SIGHUP): people, orgs, plans, calendars,
        rotations. Adapters, the database and the HTTP address keep running as they are.
        Raises (changing nothing) when the new file's parts do not fit together."""
        fresh = desk_services(config, self.services.networks_in_service)
        # In place: contexts holding `services` see the new values.
        self.services.__dict__.update(fresh.__dict__)
        self.config = config
        self.router.reconfigure(config)
        self.worker.config = config

    async def as_system(self, work: Callable[[CommandContext], Awaitable[T]], caller: Caller | None = None) -> T:
        """Run `work` in one transaction as the bot itself (or `caller`: an alert
        integration), like a timer: what it queues goes to the outbox on commit, and the
        worker is woken to take the timers it scheduled and deliver at once."""
        message = InboundMessage(network="system", sender="supportbot", text="")
        uow_factory: Callable[[], Any] = self.uow_factory
        async with self._system_turns, uow_factory() as uow:
            now = self.clock.now()
            ctx = CommandContext(caller or SYSTEM, message, uow, self.config, self.clock, now, self.services,
                                 self.registry, self.desk.hooks)
            result = await work(ctx)
            await uow.outbox.add_all(ctx.outbound, now)
            await uow.commit()
        if ctx.outbound:
            for listener in self.worker.listeners:
                await listener(ctx.outbound)
        self.worker.poke()
        return result

    async def receive_alerts(self, integration: str, events: Sequence[AlertEvent]) -> Sequence[Any]:
        """Events from the `[alerts.<integration>]` intake, handled as that integration.

        Group commit: requests arriving while a batch is being stored wait and go together in
        the next transaction (at most MAX_ALERT_BATCH), so a burst of webhooks costs a few
        transactions instead of one each. A batch that fails is retried request by request,
        so a bad request fails alone."""
        done: asyncio.Future[Sequence[Any]] = asyncio.get_running_loop().create_future()
        self._alert_queue.append((integration, events, done))
        while not done.done():
            async with self._alert_turn:
                if not done.done():
                    batch = self._alert_queue[:MAX_ALERT_BATCH]
                    del self._alert_queue[:MAX_ALERT_BATCH]
                    await self._receive_batch(batch)
        return await done

    async def _receive_batch(self, batch: list[AlertRequest]) -> None:
        from commands.oncall.alerts import receive_batch as receive

        requests = [(integration, events) for integration, events, _ in batch]
        try:
            results: Sequence[Sequence[Any]] = await self.as_system(lambda ctx: receive(ctx, requests))
        except Exception as exc:
            if len(batch) == 1:
                batch[0][2].set_exception(exc)
                return
            for item in batch:
                await self._receive_batch([item])
            return
        for (_, _, done), result in zip(batch, results, strict=True):
            done.set_result(result)

    async def calendar_feed(self, kind: str, name: str, token: str) -> bytes | None:
        """The iCalendar text of a rotation's or a person's shifts, when `token` is theirs."""
        from commands.oncall.shifts import feed

        result: bytes | None = await self.as_system(lambda ctx: feed(ctx, kind, name, token))
        return result

    async def stop_adapter(self, network: str) -> None:
        adapter = self.adapters.pop(network, None)
        if adapter is None:
            return
        try:
            await adapter.stop()
        except Exception:
            log.exception("stopping the %s adapter failed", network)

    async def desk_figures(self) -> DeskFigures:
        from storage.figures import desk_figures

        result: DeskFigures = await desk_figures(self.db, self.clock.now())
        return result

    async def view(self, message: InboundMessage, page: str, **kwargs: Any) -> Any:
        """A web portal page an area offers (its hooks' `web_pages`) as the message's speaker
        (bot.ports.WebHost)."""
        return await self.router.view(message, self.desk.hooks.web_pages[page], **kwargs)

    def is_command(self, text: str) -> bool:
        return self.registry.is_command(text)

    def command_menu(self) -> tuple[MenuCommand, ...]:
        """AdapterHost: the registry's commands, for Slack's slash commands and Telegram's menu."""
        return command_menu(self.registry)

    async def start_adapter(self, adapter: Adapter) -> None:
        self.adapters[adapter.network] = adapter
        await adapter.start(self)

    async def close(self) -> None:
        self.worker.stop()
        for network in list(self.adapters):
            await self.stop_adapter(network)
        # Inbox commands still running hold connections (and locks): end them before the pool
        # goes; what they leave undone stays in the inbox for the next start.
        if self.accepting or self._inbox_tasks or self._leased:  # (not stopped by a SIGTERM already)
            with contextlib.suppress(Exception):
                await self.stop_inbox(0.5)
        with contextlib.suppress(Exception):
            await self.db.dispose()


async def open_app(
    config: Config, clock: Clock | None = None, *, upgrade: bool | None = None, with_metrics: bool = True
) -> App:
    """Connect to the database (SQLite is created/upgraded on start; PostgreSQL must be
    current, see `supportbot db upgrade`) and build the App."""
    from storage.database import Database

    db = Database(database_url(config))
    if upgrade is None:
        upgrade = db.is_sqlite
    if upgrade:
        await db.upgrade(plan_targets(config, business_calendars(config)))
    elif not await db.is_current():
        await db.dispose()
        raise ConfigError(
            f"{config.source}: bot.database: the schema is not at the newest migration; run `supportbot db upgrade`"
        )
    return App(config, db, clock or SystemClock(), with_metrics=with_metrics)
