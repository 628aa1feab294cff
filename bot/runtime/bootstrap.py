"""The one place that wires config, storage, commands and adapters together."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
from bot.ports.repositories import UnitOfWorkFactory
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
from bot.worker import SYSTEM, Worker
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
# Commands handled at once by one instance; more wait their turn. Kept below the database
# pool (5 + 10 overflow) so that a burst (2,000 webhooks) queues instead of timing out on a
# connection and losing commands; the adapters and the worker keep connections of their own.
MAX_CONCURRENT_COMMANDS = 8
MAX_ALERT_BATCH = 100  # alert intake requests stored in one transaction during a burst
AlertRequest = tuple[str, Sequence[AlertEvent], "asyncio.Future[Sequence[Any]]"]

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
        self.router = Router(self.registry, config, self.uow_factory, clock, self.services, self.desk.hooks)
        self.state: AdapterState = StateStore(db)
        self.web_sessions: WebSessions = WebSessionStore(db)
        self.adapters: dict[str, Adapter] = {}
        self.worker = Worker(
            config, self.uow_factory, clock, self.registry, self.services, self.adapters,
            self.desk.hooks, self.desk.timers,
        )
        self.router.listeners.append(self._after_command)
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

    async def _after_command(self, outbound: list[Outbound]) -> None:
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
