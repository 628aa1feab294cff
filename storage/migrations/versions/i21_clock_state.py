"""SLA clock state on the ticket row, folded from the events; events indexed by (ticket, time)

Issue 21: reading or writing a ticket's clocks no longer loads its history. `tickets.clock_state`
holds bot.desk.sla.ClockFacts as JSON; this migration folds every existing ticket's events into
it when the upgrade is given the plans' targets (`supportbot db upgrade` and the start of the bot
pass them; the calendars live in bot.toml, not in the database). Without them, or for a ticket
on a plan bot.toml no longer has, the column stays NULL and the bot folds that ticket's events at
its next event. Two indexes: the history newest first (`ticket show` pages) and a ticket's
events of some kinds (links, clock events).

Revision ID: i21_clock_state
Revises: i18_web_portal
Create Date: 2026-11-29 13:10:00
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from bot.desk.sla import STORED_KINDS, ClockEvent, PlanTargets, clock_event_of, fold_events

revision = "i21_clock_state"
down_revision = "i18_web_portal"
branch_labels = None
depends_on = None

BATCH = 1000  # tickets folded per round trip pair

tickets = sa.table("tickets", sa.column("id", sa.Integer), sa.column("plan", sa.String),
                   sa.column("clock_state", sa.JSON))
events = sa.table(
    "ticket_events", sa.column("id", sa.Integer), sa.column("ticket_id", sa.Integer),
    sa.column("at", sa.DateTime(timezone=True)), sa.column("kind", sa.String), sa.column("public", sa.Boolean),
    sa.column("actor", sa.String), sa.column("actor_role", sa.String), sa.column("priority", sa.Integer),
    sa.column("reason", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_state", sa.JSON(), nullable=True))
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_events_ticket_at", ["ticket_id", "at", "id"], unique=False)
        batch_op.create_index("ix_ticket_events_ticket_kind", ["ticket_id", "kind"], unique=False)
    config = op.get_context().config
    targets = config.attributes.get("sla_targets") if config is not None else None
    if targets:
        backfill(op.get_bind(), targets)


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def backfill(conn: sa.Connection, targets: Mapping[str, PlanTargets]) -> None:
    """Fold each ticket's clock events into its clock_state, BATCH tickets at a time."""
    last = 0
    update = tickets.update().where(tickets.c.id == sa.bindparam("tid")).values(clock_state=sa.bindparam("state"))
    while True:
        rows = conn.execute(
            sa.select(tickets.c.id, tickets.c.plan).where(tickets.c.id > last).order_by(tickets.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        plans = {r.id: r.plan for r in rows if r.plan in targets}
        history: dict[int, list[ClockEvent]] = defaultdict(list)
        if plans:
            found = conn.execute(
                sa.select(events)
                .where(events.c.ticket_id.in_(list(plans)), events.c.kind.in_(sorted(STORED_KINDS)))
                .order_by(events.c.ticket_id, events.c.at, events.c.id)
            ).all()
            for e in found:
                ev = clock_event_of(e.kind, _aware(e.at), public=bool(e.public), actor=e.actor or "",
                                    actor_role=e.actor_role or "", priority=e.priority, reason=e.reason or "")
                if ev is not None:
                    history[e.ticket_id].append(ev)
        params: list[dict[str, Any]] = []
        for tid, plan in plans.items():
            facts = fold_events(targets[plan], history.get(tid, []))
            if facts is not None:
                params.append({"tid": tid, "state": facts.to_json()})
        if params:
            conn.execute(update, params)


def downgrade() -> None:
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_events_ticket_kind")
        batch_op.drop_index("ix_ticket_events_ticket_at")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("clock_state")
