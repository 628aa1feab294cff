"""Prometheus metrics of one supportbot instance (prometheus-client, a registry per App).

Counted as they happen: commands by name and outcome, command latency, SLA breach warnings
and page notifications committed to the outbox, deliveries. Computed at scrape time with a
cheap query each (`DeskFigures`, so every instance reports the same desk-wide figures): open
tickets by org and priority, pages by state and time to acknowledge (when the paging tables
exist), the oldest overdue timer, pending outbox rows; plus this instance's adapter connection
state, leadership, database reachability and the worker's timer lag."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from bot.desk.domain import Outbound
from bot.ports import DeskFigures

CONTENT_TYPE = CONTENT_TYPE_LATEST
SLA_BREACH_PREFIX = "SLA breached"  # commands/sla.py posts breaches as kind="warning" with this text
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ACK_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0)


FiguresSource = Callable[[], Awaitable[DeskFigures]]


class DeskMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.commands = Counter(
            "supportbot_commands", "Inbound lines handled, by command and outcome", ["command", "outcome"], registry=r
        )
        self.command_seconds = Histogram(
            "supportbot_command_seconds", "Time to handle one command (wall clock)", ["command"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.sla_breaches = Counter(
            "supportbot_sla_breaches", "SLA breach warnings posted by this instance", registry=r
        )
        self.sla_breached_open = Gauge(
            "supportbot_sla_breached_open", "Open tickets past their nearest due instant (as on the SLA board)",
            registry=r,
        )
        self.page_messages = Counter(
            "supportbot_page_messages", "Page notifications queued for delivery, by network", ["network"], registry=r
        )
        self.pages = Gauge(
            "supportbot_pages", "Pages by state: escalating, acknowledged, resolved, exhausted", ["state"], registry=r
        )
        self._ack_times = _AckTimes()
        r.register(self._ack_times)
        self.delivered = Counter(
            "supportbot_outbox_delivered", "Outbox messages delivered by this instance", ["network"], registry=r
        )
        self.open_tickets = Gauge(
            "supportbot_open_tickets", "Active tickets (open, waiting, relieved) by org and priority",
            ["org", "priority"], registry=r,
        )
        self.pending_outbox = Gauge(
            "supportbot_outbox_pending", "Outbox messages waiting for delivery, by network", ["network"], registry=r
        )
        self.overdue_timer = Gauge(
            "supportbot_timer_overdue_seconds", "How long the oldest due timer has waited (database)", registry=r
        )
        self.timer_lag = Gauge(
            "supportbot_timer_lag_seconds", "Lateness of the last timer this instance performed", registry=r
        )
        self.adapter_connected = Gauge(
            "supportbot_adapter_connected", "1 when this instance's adapter is connected", ["network"], registry=r
        )
        self.leader = Gauge("supportbot_leader", "1 when this instance holds the singleton connections", registry=r)
        self.database_up = Gauge("supportbot_database_up", "1 when the database answered the last check", registry=r)
        self.scrape_errors = Counter(
            "supportbot_scrape_errors", "Scrape-time queries that failed", registry=r
        )

    # -- counted as it happens ------------------------------------------------------------------

    def observe_command(self, command: str, outcome: str, seconds: float) -> None:
        """The router's metrics hook."""
        self.commands.labels(command, outcome).inc()
        if outcome not in ("ignored",):
            self.command_seconds.labels(command).observe(max(0.0, seconds))

    async def outbound(self, messages: list[Outbound]) -> None:
        """Router and worker listener: messages committed to the outbox."""
        for message in messages:
            if message.kind == "warning" and message.text.startswith(SLA_BREACH_PREFIX):
                self.sla_breaches.inc()
            elif message.kind == "page":
                self.page_messages.labels(message.destination.network).inc()

    def on_delivered(self, message: Outbound) -> None:
        self.delivered.labels(message.destination.network).inc()

    # -- at scrape time ---------------------------------------------------------------------------

    def set_figures(self, figures: DeskFigures) -> None:
        self.sla_breached_open.set(figures.sla_breached_open)
        self.open_tickets.clear()
        for (org, priority), count in sorted(figures.open_tickets.items()):
            self.open_tickets.labels(org, priority).set(count)
        self.pending_outbox.clear()
        for network, count in sorted(figures.pending_outbox.items()):
            self.pending_outbox.labels(network).set(count)
        self.overdue_timer.set(figures.oldest_overdue_timer_seconds)
        self.pages.clear()
        for state, count in sorted(figures.pages.items()):
            self.pages.labels(state).set(count)
        self._ack_times.seconds = list(figures.page_ack_seconds)

    def set_state(self, *, adapters: dict[str, bool], leader: bool, timer_lag: float, database_up: bool) -> None:
        self.adapter_connected.clear()
        for network, connected in sorted(adapters.items()):
            self.adapter_connected.labels(network).set(1 if connected else 0)
        self.leader.set(1 if leader else 0)
        self.timer_lag.set(timer_lag)
        self.database_up.set(1 if database_up else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _AckTimes(Collector):
    """supportbot_page_ack_seconds: a histogram of every acknowledged page's time to
    acknowledge, rebuilt from the database at each scrape (the same on every instance)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def collect(self) -> Iterator[Metric]:
        buckets: list[tuple[str, float]] = []
        for bound in ACK_BUCKETS:
            buckets.append((repr(bound), float(sum(1 for s in self.seconds if s <= bound))))
        buckets.append(("+Inf", float(len(self.seconds))))
        family = HistogramMetricFamily(
            "supportbot_page_ack_seconds", "Time from page to acknowledgement (all acknowledged pages)",
        )
        family.add_metric([], buckets, sum_value=sum(self.seconds))
        yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())
