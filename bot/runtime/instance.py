"""One running `supportbot run`: which adapters it runs, leadership, the operations HTTP
endpoint, reload (SIGHUP) and orderly shutdown (SIGTERM/SIGINT).

Every instance runs the webhook endpoints (Slack HTTP mode, Telegram webhook), the timer
worker and the HTTP endpoint; the leader also holds the singletons (IRC, Slack Socket Mode,
Telegram polling). The worker delivers outbox rows only for networks whose adapter this
instance runs and is connected, so a follower leaves IRC messages to the leader."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.desk.clock import Clock
from bot.desk.errors import ConfigError
from bot.runtime.bootstrap import (
    App,
    adapter_settings,
    is_singleton,
    load_checked,
    make_adapter,
    make_console_adapter,
    make_web_portal,
    shares_http,
)
from bot.runtime.config import Config, database_url
from bot.runtime.health import OpsServer, Readiness, parse_address
from bot.runtime.intake import Intake
from bot.runtime.leadership import Leadership, LeadershipLock
from bot.runtime.logs import secret_filter, secrets_in_config_file, secrets_in_database_url, secrets_in_settings
from bot.runtime.metrics import CONTENT_TYPE

log = logging.getLogger("supportbot")

DRAIN_SECONDS = 4.0  # commands in flight at SIGTERM get this long to finish
SETTLE_SECONDS = 2.0  # replies of those commands get this long to go out
WORKER_STOP_SECONDS = 2.0
DB_CHECK_SECONDS = 2.0
SCHEMA_RECHECK_SECONDS = 60.0
# What a reload does not change: these need a restart (logged when they differ).
RESTART_KEYS = ("database", "http", "leader_takeover_seconds", "worker_poll_seconds")


def register_secrets(config: Config, settings: dict[str, BaseModel], path: str | Path) -> None:
    """Teach the log filter this configuration's secrets."""
    secret_filter().add(
        secrets_in_settings(settings.values())
        | secrets_in_config_file(path)
        | secrets_in_database_url(config.bot.database)
        # alert intake keys and the calendar feed secret, also when written inline
        | {alert.key for alert in config.alerts.values()}
        | ({config.oncall.feeds.secret} if config.oncall.feeds is not None else set())
    )


class Instance:
    def __init__(self, app: App, settings: dict[str, BaseModel], lock: LeadershipLock, clock: Clock,
                 config_path: str) -> None:  # fmt: skip
        self.app = app
        self.clock = clock
        self.config_path = config_path
        self.settings = {n: s for n, s in settings.items() if getattr(s, "enabled", False)}
        self.singletons = {n: s for n, s in self.settings.items() if is_singleton(n, s)}
        self.webhooks = {n: s for n, s in self.settings.items() if not is_singleton(n, s)}
        interval = max(0.2, app.config.bot.leader_takeover_seconds / 3)
        self.leadership = Leadership(
            lock, interval=interval, on_elected=self._start_singletons, on_deposed=self._stop_singletons,
            on_tick=self._start_singletons,
        )
        self.http: OpsServer | None = None
        self.web: Any = None  # adapters.web.portal.WebPortal when [web] is enabled
        self._worker: asyncio.Task[None] | None = None
        self._unstartable: set[str] = set()  # singletons refused for good (a rejected token)
        self._schema_current: bool | None = None
        self._schema_checked = 0.0
        self._db_up = True
        self._config_at_start = app.config  # what a reload cannot change is compared with this
        self._terminal: Any = None  # the console adapter reading the terminal, if any

    # -- start -----------------------------------------------------------------------------------

    async def start(self) -> None:
        app = self.app
        cfg = app.config
        if cfg.bot.http:
            self.http = OpsServer(cfg.bot.http, readiness=self.readiness, metrics=self.metrics_page)
            # Alert intake and calendar feeds: routes for every key and feed of the current
            # configuration (a reload that adds an [alerts.*] section works at once).
            Intake(lambda: self.app.config, app.receive_alerts, app.calendar_feed).mount(self.http.web_app)
        webhook_adapters = []
        for network, settings in self.webhooks.items():
            adapter = make_adapter(network, settings, self.clock)
            if self.http is not None and shares_http(network, settings, cfg.bot.http):
                if adapter.mount(self.http.web_app.router):
                    log.info("%s webhook served on the [bot] http address %s", network, cfg.bot.http)
            webhook_adapters.append(adapter)
        if cfg.web.enabled:
            await self._start_web()
        if self.http is not None:
            try:
                await self.http.start()
            except OSError as exc:
                raise ConfigError(f"{cfg.source}: bot.http: cannot listen on {cfg.bot.http}: {exc.strerror}") from None
        await self._start_console()
        for adapter in webhook_adapters:
            await app.start_adapter(adapter)
            log.info("started the %s adapter (webhook, every instance)", adapter.network)
        self._worker = asyncio.get_running_loop().create_task(app.worker.run_forever(), name="worker")
        await app.start_inbox()  # commands left undone by a crash or a stop run now
        self.leadership.start()

    async def _start_web(self) -> None:
        """The web portal: on the `[bot] http` server (its routes added before it starts), or
        on a listener of its own when `[web] listen` names another address."""
        cfg = self.app.config
        self.web = make_web_portal(self.app)
        if not cfg.web.listen or cfg.web.listen == cfg.bot.http:
            assert self.http is not None  # the config check requires one of the two
            self.web.add_routes(self.http.web_app)
            log.info("web portal served on the [bot] http address %s", cfg.bot.http)
            return
        try:
            await self.web.serve(*parse_address(cfg.web.listen))
        except OSError as exc:
            raise ConfigError(f"{cfg.source}: web.listen: cannot listen on {cfg.web.listen}: {exc.strerror}") from None

    async def _start_console(self) -> None:
        cfg = self.app.config
        if not cfg.adapters.console.enabled:
            return
        adapter = make_console_adapter(cfg.adapters.console.speaker, self.app.is_command)
        await self.app.start_adapter(adapter)
        self.app.router.listeners.append(adapter.echo)
        if sys.stdin is not None and sys.stdin.isatty():
            if cfg.adapters.console.speaker:
                self._terminal = adapter
            else:
                log.info("console: no [adapters.console] speaker set; not reading the terminal")

    def open_terminal(self) -> None:
        """Read commands from the terminal (when `run` has one), once the start is logged."""
        if self._terminal is not None:
            speaker = self.app.config.adapters.console.speaker
            print(f"supportbot console: speaking as {speaker}; type help (Ctrl-C stops the bot)", file=sys.stderr)
            self._terminal.read_in_background()

    async def _start_singletons(self) -> None:
        """As leader: start every singleton not running yet (also retries failed starts)."""
        for network, settings in self.singletons.items():
            if network in self.app.adapters or network in self._unstartable:
                continue
            adapter = make_adapter(network, settings, self.clock)
            try:
                await self.app.start_adapter(adapter)
                log.info("started the %s adapter (leader)", network)
            except ConfigError as exc:
                self._unstartable.add(network)
                self.app.adapters.pop(network, None)
                log.error("the %s adapter cannot start: %s", network, exc)
            except Exception as exc:
                self.app.adapters.pop(network, None)
                with contextlib.suppress(Exception):
                    await adapter.stop()
                log.warning("the %s adapter did not start (%s); trying again", network, exc)

    async def _stop_singletons(self) -> None:
        for network in self.singletons:
            await self.app.stop_adapter(network)
            log.info("stopped the %s adapter", network)

    # -- health ---------------------------------------------------------------------------------

    async def _database_up(self) -> bool:
        try:
            up = bool(await asyncio.wait_for(self.app.db.ping(), DB_CHECK_SECONDS))
        except (TimeoutError, Exception):
            up = False
        if up and not self._db_up:
            log.info("the database is reachable again")
            self._schema_current = None  # recheck after an outage (maybe a restore)
        elif not up and self._db_up:
            log.warning("the database is unreachable")
        self._db_up = up
        return up

    async def _schema_is_current(self) -> bool:
        loop = asyncio.get_running_loop()
        if self._schema_current is None or loop.time() - self._schema_checked > SCHEMA_RECHECK_SECONDS:
            try:
                self._schema_current = await asyncio.wait_for(self.app.db.is_current(), 5)
                self._schema_checked = loop.time()
            except Exception:
                return False
        return bool(self._schema_current)

    async def readiness(self) -> Readiness:
        """Ready: the database answers, its schema is current, and the adapters this instance
        must run are connected (the leader: all enabled; a follower: its webhook endpoints)."""
        checks: dict[str, str] = {}
        if not self.app.accepting:
            checks["shutdown"] = "stopping"
        if await self._database_up():
            checks["database"] = "ok"
            checks["migrations"] = "ok" if await self._schema_is_current() else "behind: run `supportbot db upgrade`"
        else:
            checks["database"] = "unreachable"
        leader = self.leadership.is_leader
        wanted = list(self.webhooks) + (list(self.singletons) if leader else [])
        for network in wanted:
            adapter = self.app.adapters.get(network)
            checks[f"adapter:{network}"] = "ok" if adapter is not None and adapter.connected else "not connected"
        ready = all(v == "ok" for v in checks.values())
        return Readiness(ready, checks, "leader" if leader else "follower")

    async def metrics_page(self) -> tuple[bytes, str]:
        metrics = self.app.metrics
        assert metrics is not None, "supportbot run builds its App with metrics"
        up = await self._database_up()
        if up:
            try:
                metrics.set_figures(await asyncio.wait_for(self.app.desk_figures(), 5))
            except Exception as exc:
                metrics.scrape_errors.inc()
                log.warning("metrics: the desk figures query failed: %s", exc)
        metrics.set_state(
            adapters={n: a.connected for n, a in self.app.adapters.items()},
            leader=self.leadership.is_leader,
            timer_lag=self.app.worker.lag_seconds,
            database_up=up,
        )
        return metrics.render(), CONTENT_TYPE

    # -- reload -------------------------------------------------------------------------------------

    async def reload(self) -> bool:
        """SIGHUP: read bot.toml again; a file that does not validate is refused (logged) and
        the running configuration stays."""
        path = self.config_path
        try:
            config = load_checked(path)
            settings = adapter_settings(config)
            self.app.reconfigure(config)
        except ConfigError as exc:
            log.error("reload refused, still running the previous configuration:\n%s", exc)
            return False
        except Exception:
            log.exception("reload refused, still running the previous configuration")
            return False
        register_secrets(config, settings, path)
        old = self._config_at_start
        for key in RESTART_KEYS:
            if getattr(old.bot, key) != getattr(config.bot, key):
                log.warning("reload: bot.%s changed; it takes effect at the next restart", key)
        if old.web != config.web:
            log.warning("reload: [web] changed; the web portal keeps its settings until the next restart")
        if old.adapters != config.adapters:
            log.warning("reload: [adapters] changed; adapters keep their settings until the next restart")
        log.info(
            "reloaded %s: %d people, %d orgs, %d plans, %d calendars",
            path, len(config.people), len(config.orgs), len(config.plans), len(config.calendars),
        )
        return True

    # -- stop -----------------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """SIGTERM: take no new messages, finish the commands in flight (and their replies),
        QUIT IRC, release leadership, stop; well within 10 s."""
        log.info("stopping: no new messages; finishing the commands in flight")
        if self.http is not None:
            await self.http.stop_listening()
        await self.app.stop_inbox(DRAIN_SECONDS)  # what does not finish stays in the inbox for the next start
        await self.app.drain(1.0)
        for adapter in list(self.app.adapters.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(adapter.settled(), SETTLE_SECONDS)
        # The worker's last pass delivers what those commands queued, while the adapters still run.
        self.app.worker.stop()
        if self._worker is not None:
            try:
                await asyncio.wait_for(self._worker, WORKER_STOP_SECONDS)
            except (TimeoutError, Exception):
                log.warning("the timer worker did not stop in time")
        try:
            await asyncio.wait_for(self.app.worker.deliver_pending(), WORKER_STOP_SECONDS)
        except (TimeoutError, Exception) as exc:
            log.warning("last outbox delivery before stopping failed: %s", exc)
        await self.leadership.stop()  # the leader's singletons stop here: IRC says QUIT
        for network in list(self.app.adapters):
            await self.app.stop_adapter(network)
        if self.http is not None:
            await self.http.close()
        if self.web is not None:
            await self.web.close()
        await self.app.close()
        log.info("stopped")


async def run_instance(config: Config, config_path: str, clock: Clock) -> int:
    """`supportbot run` until SIGTERM/SIGINT; SIGHUP reloads bot.toml."""
    import signal

    from bot.runtime.bootstrap import leadership_lock, open_app
    from bot.runtime.leadership import AnotherInstanceRunning

    settings = adapter_settings(config)
    register_secrets(config, settings, config_path)
    log.info("supportbot run: database %s", config.bot.database)
    lock = leadership_lock(config)
    if database_url(config).startswith("sqlite") and not await lock.acquire():
        holder = getattr(lock, "holder", lambda: "")()
        raise AnotherInstanceRunning(
            f"{config.source}: bot.database: another `supportbot run` is already using this SQLite database"
            + (f" (pid {holder})" if holder else "")
            + "; SQLite allows one running instance (`supportbot console` still works beside it). "
            "Use PostgreSQL to run several instances."
        )
    try:
        app = await open_app(config, clock)
    except BaseException:
        await lock.release()
        raise
    instance = Instance(app, settings, lock, clock, config_path)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[bool]] = set()

    def on_hup() -> None:
        task = loop.create_task(instance.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await instance.start()
        log.info("supportbot is running (pid %s)", os.getpid())
        instance.open_terminal()
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await instance.shutdown()
    return 0
