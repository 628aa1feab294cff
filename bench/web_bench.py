"""The web portal's two heaviest pages over real HTTP (aiohttp server and client, the portal's
session lookup, templates): the agents' SLA board with 10,000 open tickets, and one ticket's
page with 1,000 events and one with 10,000 (clocks from the ticket's clock state; the page
reads and lists the newest 200 entries and their count, and links to the 200 before them,
`?page=2`, which is measured too), on PostgreSQL. Targets: board <= 300 ms, ticket <= 100 ms
(median), the same at 10,000 events.

    python bench/web_bench.py [postgresql://postgres@127.0.0.1:5432/test]

Last line: `board_10k_ms=... ticket_1k_ms=... ticket_10k_ms=...`."""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from aiohttp import CookieJar, web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from adapters.web.portal import WebPortal  # noqa: E402
from bench.board_pg import NOW, _fill, _schema_url  # noqa: E402
from bot.desk.clock import FixedClock  # noqa: E402
from bot.desk.domain import InboundMessage  # noqa: E402
from bot.runtime.bootstrap import open_app  # noqa: E402
from bot.runtime.config import parse_config  # noqa: E402

TICKETS = 10_000
EVENTS = 1_000
MANY_EVENTS = 10_000
RUNS = 15
SECRET = "bench-web-secret-0123456789abcdef0123456789"


def config(url: str) -> str:
    text = (Path(__file__).resolve().parent.parent / "bot.toml").read_text()
    text = text.replace('database = "sqlite:///supportbot.db"', f'database = "{url}"', 1)
    for old, new in (("[web]\nenabled = false", "[web]\nenabled = true"), ('listen = ""', 'listen = "127.0.0.1:0"'),
                     ('secret = "${SUPPORTBOT_WEB_SECRET}"', f'secret = "{SECRET}"')):
        text = text.replace(old, new, 1)
    return text


def add_events(plain: str, schema: str, ticket_id: int, n: int) -> None:
    """n public replies on one ticket, alternating customer and agent (COPY)."""
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        cols = "ticket_id, at, actor, actor_role, kind, text, public, reason, data"
        with conn.cursor().copy(f"COPY ticket_events ({cols}) FROM STDIN") as copy:
            for i in range(n):
                agent = i % 2 == 1
                copy.write_row((ticket_id, NOW + timedelta(seconds=10 * (i + 1)), "agnes" if agent else "alice",
                                "agent" if agent else "customer", "reply", f"message {i} about the mail queue",
                                True, "", "{}"))
        conn.execute("ANALYZE ticket_events")


async def timed(client: TestClient, path: str, must: str) -> list[float]:  # type: ignore[type-arg]
    times = []
    for i in range(RUNS + 1):
        t0 = time.perf_counter()
        r = await client.get(path)
        body = await r.text()
        ms = (time.perf_counter() - t0) * 1000
        assert r.status == 200 and must in body, (r.status, body[:300])
        if i:  # the first is a warm-up
            times.append(ms)
    return sorted(times)


async def measure(plain: str, schema: str, url: str) -> tuple[float, float, float]:
    cfg = parse_config(config(url), "bot.toml", env={})
    app = await open_app(cfg, FixedClock(NOW + timedelta(hours=3)), upgrade=False)
    server = client = None
    try:
        opened = await app.handle(InboundMessage("console", "alice", "ticket open P2 mail queue stuck"))
        ticket_id = opened[0].ticket_id
        assert ticket_id is not None
        add_events(plain, schema, ticket_id, EVENTS - 1)
        long = await app.handle(InboundMessage("console", "alice", "ticket open P2 a long conversation"))
        long_id = long[0].ticket_id
        assert long_id is not None
        add_events(plain, schema, long_id, MANY_EVENTS - 1)
        link = (await app.handle(InboundMessage("console", "agnes", "web")))[0].text
        token = re.search(r"/login/([A-Za-z0-9_-]+)", link).group(1)  # type: ignore[union-attr]
        portal = WebPortal(app)
        web_app = web.Application()
        portal.add_routes(web_app)
        server = TestServer(web_app)
        client = TestClient(server, cookie_jar=CookieJar(unsafe=True))
        await client.start_server()
        r = await client.post("/login", data={"token": token}, allow_redirects=False)
        assert r.status == 303
        board = await timed(client, "/board", f"{TICKETS + 2} open")
        ticket = await timed(client, f"/tickets/{ticket_id}", f"message {EVENTS - 2} about")
        older = await timed(client, f"/tickets/{ticket_id}?page=2", f"message {EVENTS - 202} about")
        longest = await timed(client, f"/tickets/{long_id}", f"200 of {MANY_EVENTS} entries")
        for name, times in (("board (100 rows of 10,002 open tickets)", board),
                            (f"ticket page ({EVENTS} events: the newest 200 shown)", ticket),
                            (f"ticket page ({EVENTS} events: the 200 before them, ?page=2)", older),
                            (f"ticket page ({MANY_EVENTS} events: the newest 200 shown)", longest)):
            print(f"web_bench: {name}: median {statistics.median(times):.1f} ms, min {times[0]:.1f} ms, "
                  f"max {times[-1]:.1f} ms ({RUNS} runs)")
        return statistics.median(board), statistics.median(ticket), statistics.median(longest)
    finally:
        if client is not None:
            await client.close()
        await app.close()


def main(base: str) -> None:
    from storage import schema as migrations

    plain, schema, url = _schema_url(base)
    try:
        migrations.upgrade("postgresql+psycopg://" + url.split("://", 1)[1])
        t0 = time.perf_counter()
        _fill(plain, schema, TICKETS)
        print(f"web_bench: filled {TICKETS} open tickets in {time.perf_counter() - t0:.1f} s")
        board_ms, ticket_ms, long_ms = asyncio.run(measure(plain, schema, url))
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(f"board_10k_ms={board_ms:.1f} ticket_1k_ms={ticket_ms:.1f} ticket_10k_ms={long_ms:.1f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test")
