"""The durable inbox under the burst of issue 15: signed Slack slash commands and Telegram
updates (long polling) against a real `supportbot run`, kill -9 once a given number were
acknowledged, a restart, then the count of acknowledged commands executed exactly once and
answered.

    .venv/bin/python -m bench.inbox_bench [--slack 450] [--telegram 450] [--kill-after 300] [--pg URL]

Acknowledged: HTTP 200 for Slack, an update offset passed for Telegram. p99_ms is the 99th
percentile of the time from sending a command until its answer reached the fake network
(commands left to the restart included); ack_p99_ms the 99th percentile of the time until
Slack's HTTP 200 (Slack's deadline is 3 s). SQLite in a temporary folder unless --pg names a
PostgreSQL database (a schema of its own, dropped at the end). The last line is key=value pairs."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.ops.inbox_burst import run_burst  # noqa: E402


def fresh_pg(url: str) -> tuple[str, str]:
    """A schema of its own in the PostgreSQL database (nothing else there is touched): the
    URL that uses it, and the schema's name (dropped at the end)."""
    import psycopg

    schema = f"inbox_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}", schema


def drop_pg(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slack", type=int, default=450)
    parser.add_argument("--telegram", type=int, default=450)
    parser.add_argument("--kill-after", type=int, default=300, help="acknowledged commands before kill -9 (0: never)")
    parser.add_argument("--pg", default="", help="postgresql://USER@HOST/DB (a schema of its own) instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inbox-bench-") as tmp:
        database, schema = fresh_pg(args.pg) if args.pg else (f"sqlite:///{tmp}/desk.db", "")
        started = time.monotonic()
        try:
            burst = await run_burst(Path(tmp), database, slack_n=args.slack, telegram_n=args.telegram,
                                    kill_after=args.kill_after or None)  # fmt: skip
        finally:
            if schema:
                drop_pg(args.pg, schema)
        took = time.monotonic() - started
    executed = sum(burst.executed[s] for s in burst.acked)
    print(f"database: {'postgresql' if args.pg else 'sqlite'}; sent {burst.sent} commands "
          f"({args.slack} Slack, {args.telegram} Telegram), kill -9 after {args.kill_after or 'never'} acks")
    answered = len(burst.acked & burst.answered)
    print(f"acknowledged {len(burst.acked)}, executed (of those) {executed}, answered {answered}")
    print(f"ack p99 {burst.p99(burst.ack_ms):.0f} ms (Slack HTTP); answer p99 {burst.p99(burst.answer_ms):.0f} ms; "
          f"SIGTERM took {burst.stop_seconds:.1f} s; whole run {took:.0f} s")
    print(f"acked={len(burst.acked)} executed={executed} lost={len(burst.lost)} doubled={len(burst.doubled)} "
          f"p99_ms={burst.p99(burst.answer_ms):.0f} ack_p99_ms={burst.p99(burst.ack_ms):.0f} "
          f"ack_max_ms={max(burst.ack_ms, default=0):.0f} stop_s={burst.stop_seconds:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
