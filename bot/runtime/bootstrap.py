"""The one place that wires config, storage, commands and adapters together."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.areas import Desk
from bot.desk.clock import Clock, SystemClock
from bot.desk.domain import InboundMessage, Outbound, Reply
from bot.desk.errors import ConfigError
from bot.menu import command_menu
from bot.ports import Adapter, AdapterState, DeskFigures, MenuCommand
from bot.ports.repositories import UnitOfWork as UnitOfWorkPort
from bot.router import REQUEST_ID, Router, new_request_id
from bot.runtime.config import Config, database_url, desk_services
from bot.runtime.metrics import DeskMetrics
from bot.worker import Worker
from commands import assist, billing, general, oncall, sla, tickets

log = logging.getLogger("supportbot")

# The command areas this desk serves, in the order their hooks run (tickets first: the others
# react to its events). Adding an area is adding it here.
AREAS = (general, tickets, sla, billing, oncall, assist)


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

# network -> (module, settings model, adapter class)
NETWORK_ADAPTERS = {
    "irc": ("adapters.irc", "IrcSettings", "IrcAdapter"),
    "slack": ("adapters.slack", "SlackSettings", "SlackAdapter"),
    "telegram": ("adapters.telegram", "TelegramSettings", "TelegramAdapter"),
}


def adapter_settings(config: Config) -> dict[str, BaseModel]:
    """Validate every `[adapters.<net>]` section with that adapter's own settings model."""
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
                problems.append(f"{config.source}: adapters.{network}: this build has no {network} adapter")
            continue
        model: type[BaseModel] = getattr(module, settings_name)
        try:
            out[network] = model.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = "unknown key (see the comments in the shipped bot.toml)"
                problems.append(f"{config.source}: adapters.{network}.{loc}: {msg}")
    if problems:
        raise ConfigError("\n".join(problems))
    return out


def enabled_networks(config: Config) -> set[str]:
    live = {"console"} if config.adapters.console.enabled else set()
    return live | {n for n in NETWORK_ADAPTERS if getattr(config.adapters, n).get("enabled")}


def check(config: Config) -> None:
    """Everything check-config verifies beyond parsing."""
    adapter_settings(config)


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


def make_adapter(network: str, settings: BaseModel, clock: Clock) -> Adapter:
    module_name, _settings, cls_name = NETWORK_ADAPTERS[network]
    cls = getattr(importlib.import_module(module_name), cls_name)
    adapter: Adapter = cls(settings, clock=clock)
    return adapter


class App:
    """A running supportbot: router, worker, adapters, on one database. It is the
    AdapterHost every adapter talks to."""

    def __init__(self, config: Config, db: Any, clock: Clock) -> None:
        from storage.database import StateStore
        from storage.uow import UnitOfWork

        self.config = config
        self.db = db
        self.clock = clock
        self.desk = build_desk()
        self.registry = self.desk.registry
        # Networks a message can go out on: enabled in bot.toml (delivered by whichever instance
        # runs them) or running in this process.
        self.services = desk_services(config, lambda: enabled_networks(self.config) | set(self.adapters))
        self.uow_factory: Callable[[], UnitOfWorkPort] = lambda: UnitOfWork(db)
        self.router = Router(self.registry, config, self.uow_factory, clock, self.services, self.desk.hooks)
        self.state: AdapterState = StateStore(db)
        self.adapters: dict[str, Adapter] = {}
        self.worker = Worker(
            config, self.uow_factory, clock, self.registry, self.services, self.adapters,
            self.desk.hooks, self.desk.timers,
        )
        self.router.listeners.append(self._after_command)
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
        # The durable inbox: who we are to other instances, the commands held here.
        self.instance_id = f"{secrets.token_hex(6)}"
        self._inbox_tasks: dict[str, asyncio.Task[None]] = {}
        self._inbox_loop: asyncio.Task[None] | None = None
        self._inbox_wake = asyncio.Event()

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

    # -- the durable inbox ----------------------------------------------------------------------

    async def accept(self, message: InboundMessage, reply_to: dict[str, Any]) -> bool:
        """Store a command before the adapter acknowledges it (AdapterHost.accept). True: it is
        in the inbox (now, or from an earlier delivery) and will be run and answered through
        the outbox; False: not taken (stopping, or it has no id to key it on) — the adapter
        must not acknowledge it as taken. A database error propagates: no acknowledgement."""
        from bot.inbox import inbox_key, message_to_row

        key = inbox_key(message)
        if not self.accepting or key is None:
            return False
        now = datetime.now(UTC)  # leases are wall time, whatever the desk's clock says
        async with self.uow_factory() as uow:
            fresh = await uow.inbox.add(key, message.network, message_to_row(message), reply_to, now,
                                        now + INBOX_LEASE, self.instance_id)  # fmt: skip
            await uow.commit()
        if fresh:
            self._run_inbox(key, message, reply_to)
        return True

    def _run_inbox(self, key: str, message: InboundMessage, reply_to: dict[str, Any]) -> None:
        if key in self._inbox_tasks:
            return
        task = asyncio.get_running_loop().create_task(self._execute(key, message, reply_to), name=f"inbox {key}")
        self._inbox_tasks[key] = task
        task.add_done_callback(lambda _t: self._inbox_tasks.pop(key, None))

    async def _execute(self, key: str, message: InboundMessage, reply_to: dict[str, Any]) -> None:
        """Run one inbox command: its transaction marks the row done and stores the answers;
        a command that commits nothing (a refusal, a read without a transaction) is settled
        in a transaction of its own. Whatever is left undone is run again later."""
        from bot.inbox import answers

        settled = False
        answer_ids: list[int] = []

        async def settle(uow: Any, replies: list[Reply]) -> None:
            nonlocal settled
            if await uow.inbox.finish(key, self.clock.now()):
                for out in answers(message.network, reply_to, replies):
                    answer_ids.append(await uow.outbox.add(out, self.clock.now()))
            settled = True

        try:
            token = REQUEST_ID.set(new_request_id())
            self._in_flight += 1
            self._idle.clear()
            try:
                async with self._turns:
                    replies = await self.router.handle(message, settle=settle)
                    if not settled:
                        async with self.uow_factory() as uow:
                            await settle(uow, replies)
                            await uow.commit()
            finally:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.set()
                REQUEST_ID.reset(token)
            if answer_ids:  # answered at once; the worker retries what does not go out now
                await self.worker.deliver_pending(ids=answer_ids)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database went away: the row stays undone and is run again later
            log.exception("inbox: %s could not be settled; it will run again", key)

    async def run_inbox(self, interval: float = INBOX_RENEW) -> None:
        """Keep this instance's holds alive and run undone commands nobody holds (left by a
        crash, a stop, or another instance's death)."""
        from bot.inbox import message_from_row

        while self.accepting:
            try:
                now = datetime.now(UTC)
                async with self.uow_factory() as uow:
                    await uow.inbox.renew(self.instance_id, now + INBOX_LEASE)
                    rows = await uow.inbox.claim_undone(now, now + INBOX_LEASE, self.instance_id,
                                                        limit=MAX_CONCURRENT_COMMANDS * 4)  # fmt: skip
                    found = [(r.key, message_from_row(r.message), dict(r.reply_to)) for r in rows]
                    await uow.commit()
                for key, message, reply_to in found:
                    log.info("inbox: running %s, left undone earlier", key)
                    self._run_inbox(key, message, reply_to)
                wait = interval if len(found) < MAX_CONCURRENT_COMMANDS * 4 else 0.05
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

    def start_inbox(self) -> None:
        if self._inbox_loop is None:
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
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            async with self.uow_factory() as uow:
                left = int(await uow.inbox.release(self.instance_id))
                await uow.commit()
        except Exception as exc:
            log.warning("inbox: could not release this instance's commands (%s); they run after the lease", exc)
            return -1
        if left:
            log.info("inbox: %d command(s) left for the next start or another instance", left)
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
        with contextlib.suppress(Exception):
            await self.stop_inbox(0.5)
        with contextlib.suppress(Exception):
            await self.db.dispose()


async def open_app(config: Config, clock: Clock | None = None, *, upgrade: bool | None = None) -> App:
    """Connect to the database (SQLite is created/upgraded on start; PostgreSQL must be
    current, see `supportbot db upgrade`) and build the App."""
    from storage.database import Database

    db = Database(database_url(config))
    if upgrade is None:
        upgrade = db.is_sqlite
    if upgrade:
        await db.upgrade()
    elif not await db.is_current():
        await db.dispose()
        raise ConfigError(
            f"{config.source}: bot.database: the schema is not at the newest migration; run `supportbot db upgrade`"
        )
    return App(config, db, clock or SystemClock())
