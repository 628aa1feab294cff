"""`sla board` over 100,000 open tickets in PostgreSQL, answered end to end through the
router (parse, permission, queries, formatting). Used by bench/sla_bench.py --pg URL."""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bot.desk.clock import FixedClock  # noqa: E402
from bot.desk.domain import InboundMessage  # noqa: E402
from bot.runtime.bootstrap import open_app  # noqa: E402
from bot.runtime.config import parse_config  # noqa: E402

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _schema_url(base: str) -> tuple[str, str, str]:
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in plain else "?"
    return plain, schema, f"{plain}{sep}options=-csearch_path%3D{schema}"


def _fill(plain: str, schema: str, n: int, seed: int = 7) -> None:
    """n open tickets across the shipped orgs with stored deadlines (COPY: seconds, not minutes)."""
    rnd = random.Random(seed)
    orgs = ["acme", "globex", "initech", "umbrella", "hooli", "wayne", "community"]
    plans = {"acme": "silver", "globex": "enterprise-gold", "initech": "credits", "umbrella": "per-minute",
             "hooli": "per-incident", "wayne": "on-demand", "community": "basic"}
    cols = ("org", "plan", "summary", "priority", "state", "opened_by", "origin_network", "test_system",
            "accept_assessment", "over_quota", "opened_at", "updated_at", "sla_paused", "next_due_at",
            "next_due_position", "next_due_calendar", "response_due_at")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        with conn.cursor().copy(f"COPY tickets ({', '.join(cols)}) FROM STDIN") as copy:
            for i in range(n):
                org = orgs[i % len(orgs)]
                opened = NOW - timedelta(minutes=rnd.randint(0, 60 * 24 * 30))
                due = opened + timedelta(minutes=rnd.randint(60, 60 * 24 * 10))
                paused = rnd.random() < 0.1
                copy.write_row((org, plans[org], f"ticket {i}", rnd.randint(1, 4),
                                "waiting" if paused else "open", "alice", "console", False, False, False,
                                opened, opened, paused, due, int(due.timestamp()), "uk-office", due))
        conn.execute("ANALYZE tickets")


async def _measure(url: str, runs: int) -> list[float]:
    text = (Path(__file__).resolve().parent.parent / "bot.toml").read_text()
    text = text.replace('database = "sqlite:///supportbot.db"', f'database = "{url}"', 1)
    cfg = parse_config(text, "bot.toml", env={})
    app = await open_app(cfg, FixedClock(NOW), upgrade=False)
    try:
        msg = InboundMessage(network="console", sender="agnes", text="sla board")
        await app.handle(msg)  # warm-up: connections, calendars
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            replies = await app.handle(msg)
            times.append((time.perf_counter() - t0) * 1000)
            assert replies and replies[0].text.startswith("SLA board for all organisations: ")
        return times
    finally:
        await app.close()


def storage_board_bench(base_url: str, tickets: int = 100_000, runs: int = 15) -> float:
    """Median ms for `sla board` over `tickets` open tickets in a fresh schema (dropped after)."""
    from storage import schema as migrations

    plain, schema, url = _schema_url(base_url)
    try:
        migrations.upgrade("postgresql+psycopg://" + url.split("://", 1)[1])
        t0 = time.perf_counter()
        _fill(plain, schema, tickets)
        print(f"board_pg: filled {tickets} open tickets in {time.perf_counter() - t0:.1f} s")
        times = asyncio.run(_measure(url, runs))
        times.sort()
        print(f"board_pg: sla board end to end over {tickets} open tickets: median {statistics.median(times):.1f} ms, "
              f"min {times[0]:.1f} ms, max {times[-1]:.1f} ms ({runs} runs)")
        return statistics.median(times)
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    base = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test"
    ms = storage_board_bench(base)
    print(f"board_pg_ms={ms:.1f}")
