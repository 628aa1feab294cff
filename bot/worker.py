"""The timer worker: performs due timer rows (SLA warnings, escalation steps) and hands
outbox messages to the adapters this process runs. Timers are database rows, never
in-memory sleeps: a restart neither loses nor repeats a step; several instances share
the work through SKIP LOCKED (PostgreSQL) or the single writer lock (SQLite)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.desk.clock import Clock
from bot.desk.domain import Destination, InboundMessage, Outbound, Role
from bot.desk.settings import Settings
from bot.hooks import Hooks, TimerHandler
from bot.identity import Caller
from bot.ports import Adapter, DeliveryError, DeskServices, PermanentDeliveryError
from bot.ports.bookkeeping import StateWrite, as_writes, collected
from bot.ports.repositories import UnitOfWorkFactory
from bot.router import CommandContext, CommandRegistry

log = logging.getLogger("supportbot.worker")

# A handler performs a due timer; returning a later instant reschedules it instead.

MAX_DELIVERY_ATTEMPTS = 5
DELIVERY_LEASE = timedelta(minutes=2)  # a claimed outbox row is left alone by others meanwhile
MAX_TIMER_ATTEMPTS = 5

SYSTEM = Caller(None, "supportbot", Role.ADMIN, None, "system", "supportbot", None)



class Worker:
    def __init__(
        self,
        config: Settings,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        registry: CommandRegistry,
        services: DeskServices,
        adapters: dict[str, Adapter],
        hooks: Hooks | None = None,
        timers: Mapping[str, TimerHandler] | None = None,
    ) -> None:
        self.hooks = hooks or Hooks()
        self.timers = dict(timers or {})
        self.config = config
        self.uow_factory = uow_factory
        self.clock = clock
        self.registry = registry
        self.services = services
        self.adapters = adapters
        self.listeners: list[Callable[[list[Outbound]], Awaitable[None]]] = []
        self.wake = asyncio.Event()
        # (when the earliest unfired timer is due,) as the last timer pass found it
        self._next_due: tuple[datetime | None] | None = None
        # Deliveries to mark done, waiting for the transaction that records them (group commit).
        self._delivered_queue: list[tuple[list[int], list[StateWrite], asyncio.Future[None]]] = []
        self._delivered_turn = asyncio.Lock()
        self._stopping = False
        self.lag_seconds = 0.0
        self.on_delivered: Callable[[Outbound], None] | None = None
        self._seeded_for: Settings | None = None
        # Why an exception means the database cannot be reached (None: it means something else);
        # set by the App from the storage ring.
        self.outage: Callable[[BaseException], str | None] = lambda _exc: None

    def poke(self) -> None:
        self.wake.set()

    async def run_forever(self) -> None:
        while not self._stopping:
            try:
                await self.run_once()
            except Exception as exc:
                reason = self.outage(exc)
                if reason is None:
                    log.exception("worker pass failed; retrying")
                else:  # the database went away: /readyz and its own log line say so; no traceback
                    log.warning("worker pass failed, the database is unreachable (%s); retrying", reason)
            delay = await self._sleep_for()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            self.wake.clear()

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()

    async def _sleep_for(self) -> float:
        poll = self.config.bot.worker_poll_seconds
        known, self._next_due = self._next_due, None
        if known is not None:  # read by the pass that just found nothing due (no transaction of its own)
            nxt = known[0]
        else:
            try:
                async with self.uow_factory(read_only=True) as uow:  # (SQLite: not behind a writer's lock)
                    nxt = await uow.timers.next_due_at()
            except Exception:
                return poll
        if nxt is None:
            return poll
        wait: float = (nxt - self.clock.now()).total_seconds()
        return max(0.0, min(poll, wait))

    async def run_once(self) -> int:
        """Perform every due timer, then deliver pending messages; returns the work done."""
        if self._seeded_for is not self.config:
            await self._seed()
        done = 0
        while True:
            n = await self._timers_pass()
            done += n
            if n == 0:
                break
        if done == 0:
            self.lag_seconds = 0.0  # nothing was due: the worker is not behind
        while delivered := await self.deliver_pending():  # a batch at a time, until none is left
            done += delivered
        return done

    async def _seed(self) -> None:
        """Let every seed schedule its first timer (at start, and for a reloaded config)."""
        config = self.config
        async with self.uow_factory() as uow:
            ctx = CommandContext(
                SYSTEM, _system_message(), uow, config, self.clock, self.clock.now(), self.services, self.registry,
                self.hooks,
            )
            for seed in self.hooks.seed_timers:
                await seed(ctx)
            await uow.commit()
        self._seeded_for = config

    async def _timers_pass(self) -> int:
        now = self.clock.now()
        performed = 0
        async with self.uow_factory() as uow:
            timers = await uow.timers.claim_due(now, limit=20)
            if not timers:  # the usual pass: the next due time too, for the sleep after it
                self._next_due = (await uow.timers.next_due_at(),)
                return 0
            ctx = CommandContext(
                SYSTEM, _system_message(), uow, self.config, self.clock, now, self.services, self.registry,
                self.hooks,
            )
            for timer in timers:
                self.lag_seconds = max(0.0, (now - timer.due_at).total_seconds())
                handler = self.timers.get(timer.kind)
                if handler is None:
                    log.error("no handler for timer kind %s (id %s); marking it done", timer.kind, timer.id)
                    timer.done_at = now
                    continue
                queued = len(ctx.outbound)
                try:
                    async with uow.savepoint():
                        later = await handler(ctx, timer)
                        if isinstance(later, datetime) and later > now:
                            timer.due_at = later  # not yet: the handler says when
                        else:
                            timer.done_at = now
                    performed += 1
                except Exception:
                    del ctx.outbound[queued:]  # what the failed timer queued is rolled back with it
                    ref = secrets.token_hex(4)
                    log.exception("timer %s %s/%s failed (ref %s)", timer.kind, timer.ref, timer.key, ref)
                    timer.attempts += 1
                    if timer.attempts >= MAX_TIMER_ATTEMPTS:
                        timer.done_at = now
                    else:
                        timer.due_at = now + timedelta(seconds=2**timer.attempts)
            for out in ctx.outbound:
                await uow.outbox.add(out, now)
            await uow.commit()
        if ctx.outbound:
            for listener in self.listeners:
                await listener(ctx.outbound)
        return performed

    def networks_here(self) -> list[str]:
        """The networks whose messages this instance can deliver right now."""
        return [name for name, a in self.adapters.items() if a.connected]

    async def deliver_pending(self, ids: list[int] | None = None) -> int:
        """Claim due outbox rows (a lease: other instances skip them meanwhile), let go of the
        database while the adapters talk to their networks (they use it themselves through
        host.state, which an open SQLite write transaction would block), then record outcomes."""
        networks = self.networks_here()
        if not networks:
            return 0
        now = self.clock.now()
        async with self.uow_factory() as uow:
            rows = await uow.outbox.claim_pending(networks, now, ids=ids)
            if not rows:
                return 0
            claimed = [uow.outbox.as_outbound(row) for row in rows]
            for row in rows:
                row.next_attempt_at = now + DELIVERY_LEASE
            await uow.commit()
        return await self.deliver(claimed, now)

    async def deliver(self, leased: Sequence[Outbound], now: datetime) -> int:
        """Deliver outbox messages leased to this instance (claimed by a pass, or queued so by
        the command that wrote them), then record the outcomes in one transaction, with the
        bookkeeping the adapters noted meanwhile (bot.ports.bookkeeping). The number delivered."""
        outcomes: dict[int, str | None] = {}
        refused: set[int] = set()  # refused for good (PermanentDeliveryError): no retry
        with collected() as noted:
            for message in leased:
                assert message.id is not None
                adapter = self.adapters.get(message.destination.network)
                if adapter is None:  # stopped meanwhile (shutdown, leadership lost): delivered after the lease
                    continue
                try:
                    await adapter.deliver(message)
                    outcomes[message.id] = None
                    if self.on_delivered is not None:
                        self.on_delivered(message)
                except PermanentDeliveryError as exc:
                    outcomes[message.id] = str(exc)
                    refused.add(message.id)
                    log.warning("delivery to %s refused for good: %s", message.label or message.destination, exc)
                except DeliveryError as exc:
                    outcomes[message.id] = str(exc)
                    log.warning("delivery to %s failed: %s", message.label or message.destination, exc)
                except Exception as exc:
                    ref = secrets.token_hex(4)
                    outcomes[message.id] = f"{type(exc).__name__} (ref {ref})"
                    log.exception("delivery to %s crashed (ref %s)", message.destination, ref)
        done = [message_id for message_id, error in outcomes.items() if error is None]
        failed = [message_id for message_id, error in outcomes.items() if error is not None]
        if not failed:  # (the usual case) recorded together with other deliveries finishing now
            if done or noted:
                await self._record_delivered(done, as_writes(noted), now)
            return len(done)
        async with self.uow_factory() as uow:
            await uow.outbox.mark_delivered(done, now)  # one UPDATE for the batch
            await uow.state.put_many(as_writes(noted))  # and one upsert for the bookkeeping
            for row in await uow.outbox.by_ids(failed):
                error = outcomes[row.id] or ""
                if row.id in refused:
                    row.attempts += 1
                    row.error = error[:500]
                    row.failed_at = now
                    await uow.outbox.add(self._refused(row), now)
                    continue
                _retry_later(row, now, error)
                if row.failed_at is not None and row.kind == "page":
                    await uow.outbox.add(self._page_undeliverable(row), now)
            await uow.commit()
        return len(done)

    async def _record_delivered(self, ids: list[int], writes: list[StateWrite], now: datetime) -> None:
        """Mark delivered, with the adapters' bookkeeping. Group commit: what other deliveries
        bring while one transaction runs goes together in the next one (a burst of commands
        answered at once costs a few transactions, not one each, and holds one connection)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._delivered_queue.append((ids, writes, done))
        while not done.done():
            async with self._delivered_turn:
                if done.done():
                    break
                batch, self._delivered_queue = self._delivered_queue, []
                try:
                    async with self.uow_factory() as uow:
                        await uow.outbox.mark_delivered([i for ids_, _, _ in batch for i in ids_], now)
                        await uow.state.put_many([w for _, writes_, _ in batch for w in writes_])
                        await uow.commit()
                except asyncio.CancelledError:  # (a stop) the others waiting take it up
                    self._delivered_queue[:0] = [item for item in batch if not item[2].done()]
                    raise
                except Exception as exc:
                    for _, _, waiting in batch:
                        if not waiting.done():
                            waiting.set_exception(exc)
                else:
                    for _, _, waiting in batch:
                        if not waiting.done():
                            waiting.set_result(None)
        await done

    def _refused(self, row: Any) -> Outbound:
        """The triage channel hears once when a network refused a message for good (SMTP 5xx)."""
        about = f"#{row.ticket_id}: " if row.ticket_id is not None else ""
        return Outbound(
            Destination.parse(self.config.bot.triage_channel),
            f"{about}{row.kind} to {row.label} on {row.network} was refused for good: {row.error}",
            kind="notice",
            ticket_id=row.ticket_id,
        )

    def _page_undeliverable(self, row: Any) -> Outbound:
        """The triage channel hears when a page could not reach someone on one network for good."""
        return Outbound(
            Destination.parse(self.config.bot.triage_channel),
            f"Page {row.extra.get('page', '?')}: could not reach {row.label} on {row.network} "
            f"after {row.attempts} attempts: {row.error}",
            kind="notice",
            ticket_id=row.ticket_id,
        )


def _retry_later(row: Any, now: datetime, error: str) -> None:
    row.attempts += 1
    row.error = error[:500]
    if row.attempts >= MAX_DELIVERY_ATTEMPTS:
        row.failed_at = now
    else:
        row.next_attempt_at = now + timedelta(seconds=2**row.attempts)


def _system_message() -> Any:
    return InboundMessage(network="system", sender="supportbot", text="")


def networks_of(adapters: Iterable[Adapter]) -> list[str]:
    return [a.network for a in adapters]
