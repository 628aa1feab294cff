"""The one place that wires config, storage, commands and adapters together."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.clock import Clock, SystemClock
from bot.config import Config, database_url
from bot.domain import InboundMessage, Outbound, Reply
from bot.errors import ConfigError
from bot.ports import Adapter, AdapterState
from bot.router import Router
from bot.worker import Worker

log = logging.getLogger("supportbot")

# network -> (module, settings model, adapter class)
NETWORK_ADAPTERS = {
    "irc": ("adapters.irc", "IrcSettings", "IrcAdapter"),
    "slack": ("adapters.slack", "SlackSettings", "SlackAdapter"),
    "telegram": ("adapters.telegram", "TelegramSettings", "TelegramAdapter"),
}


@dataclass
class Services:
    """Domain services the command areas set up (calendars, schedules); ctx.services."""

    config: Config
    clock: Clock
    extras: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["extras"][name]
        except KeyError:
            raise AttributeError(name) from None


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


def check(config: Config) -> None:
    """Everything check-config verifies beyond parsing."""
    adapter_settings(config)


def make_adapter(network: str, settings: BaseModel, clock: Clock) -> Adapter:
    module_name, _settings, cls_name = NETWORK_ADAPTERS[network]
    cls = getattr(importlib.import_module(module_name), cls_name)
    adapter: Adapter = cls(settings, clock=clock)
    return adapter


class App:
    """A running supportbot: router, worker, adapters, on one database. It is the
    AdapterHost every adapter talks to."""

    def __init__(self, config: Config, db: Any, clock: Clock) -> None:
        from commands import hooks, load_all
        from storage.database import StateStore
        from storage.uow import UnitOfWork

        self.config = config
        self.db = db
        self.clock = clock
        self.registry = load_all()
        self.services = Services(config, clock)
        for setup in hooks.SETUP:
            setup(self.services, config)
        self.uow_factory = lambda: UnitOfWork(db)
        self.router = Router(self.registry, config, self.uow_factory, clock, self.services)
        self.state: AdapterState = StateStore(db)
        self.adapters: dict[str, Adapter] = {}
        self.worker = Worker(config, self.uow_factory, clock, self.registry, self.services, self.adapters)
        self.router.listeners.append(self._after_command)

    async def _after_command(self, outbound: list[Outbound]) -> None:
        self.worker.poke()

    async def handle(self, message: InboundMessage) -> list[Reply]:
        return await self.router.handle(message)

    def is_command(self, text: str) -> bool:
        return self.registry.is_command(text)

    async def start_adapter(self, adapter: Adapter) -> None:
        self.adapters[adapter.network] = adapter
        await adapter.start(self)

    async def close(self) -> None:
        self.worker.stop()
        for adapter in list(self.adapters.values()):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", adapter.network)
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
