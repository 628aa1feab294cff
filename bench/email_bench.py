"""E-mail benchmark (prints numbers; not a test).

Real peers: Dovecot (IMAP with IDLE, STARTTLS) holds the support mailbox, aiosmtpd receives
what the bot sends. A customer mail is APPENDed (as the MTA would deliver it); the bot reads
it, opens a ticket and mails the acknowledgement through the outbox.

1. Latency: one mail at a time, from APPEND to the acknowledgement accepted by the SMTP peer
   (median, p95). Dovecot itself waits 0.5 s before an IDLE push (NOTIFY_DELAY_MSECS, compiled
   in); the bot re-issues IDLE every second, and a search after that sees new mail at once.
2. Throughput: a burst of mails APPENDed back to back; mails per second from the first APPEND
   to the last acknowledgement.

    .venv/bin/python bench/email_bench.py [--samples 20] [--burst 100] [--pg URL]

SQLite by default; --pg (or SUPPORTBOT_TEST_PG) uses a throw-away PostgreSQL schema.
The last line is machine-readable key=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import logging
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402

from adapters.email import EmailAdapter  # noqa: E402
from bot.desk.clock import SystemClock  # noqa: E402
from bot.runtime.bootstrap import open_app  # noqa: E402
from tests.conftest import config_with  # noqa: E402
from tests.integration.email import dovecot_server  # noqa: E402
from tests.integration.email.conftest import REPLACE, customer_mail, settings_for  # noqa: E402


class Sink:
    """The SMTP peer: when each acknowledgement (by the Message-ID it answers) was accepted."""

    def __init__(self) -> None:
        self.port = 0
        self.acked: dict[str, float] = {}
        self.cond = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.cond:
            self.acked[str(msg["In-Reply-To"])] = time.monotonic()
            self.cond.notify_all()
        return "250 OK"

    def wait(self, ids: list[str], timeout: float) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: all(i in self.acked for i in ids), timeout):
                missing = [i for i in ids if i not in self.acked]
                raise TimeoutError(f"{len(missing)} acknowledgements missing")


def pg_schema(base: str) -> tuple[str, str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


async def run(samples: int, burst: int, database: str) -> dict[str, float]:
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=dovecot_server.free_port())
    ctl.start()
    sink.port = ctl.port
    try:
        with dovecot_server.DovecotServer() as srv:
            folder = "bench"
            mta = imaplib.IMAP4(srv.host, srv.port)
            mta.login("support", srv.users["support"])
            mta.create(folder)
            app = await open_app(config_with(database, replace=REPLACE), SystemClock(), upgrade=True)
            adapter = EmailAdapter(settings_for(srv, sink, folder, auto_reply_limit=100_000))  # type: ignore[arg-type]
            await app.start_adapter(adapter)
            worker = asyncio.get_running_loop().create_task(app.worker.run_forever())
            try:
                def append(raw: bytes) -> None:
                    assert mta.append(folder, None, None, re.sub(rb"\r?\n", b"\r\n", raw))[0] == "OK"

                # warm-up: one mail (connections, first ticket)
                mid, raw = customer_mail("alice@acme.example", "warm-up")
                await asyncio.to_thread(append, raw)
                await asyncio.to_thread(sink.wait, [mid], 20)
                latencies = []
                for n in range(samples):
                    mid, raw = customer_mail("alice@acme.example", f"latency sample {n}")
                    t0 = time.monotonic()
                    await asyncio.to_thread(append, raw)
                    await asyncio.to_thread(sink.wait, [mid], 20)
                    latencies.append(sink.acked[mid] - t0)
                mails = [customer_mail("alice@acme.example", f"burst {n}") for n in range(burst)]
                t0 = time.monotonic()
                for _, raw in mails:
                    await asyncio.to_thread(append, raw)
                appended = time.monotonic() - t0
                await asyncio.to_thread(sink.wait, [m for m, _ in mails], 120)
                elapsed = max(sink.acked[m] for m, _ in mails) - t0
            finally:
                app.worker.stop()
                await asyncio.wait_for(worker, 10)
                await app.close()
                mta.logout()
    finally:
        ctl.stop()
    lat = sorted(latencies)
    return {
        "median_ms": statistics.median(lat) * 1000,
        "p95_ms": lat[max(0, int(len(lat) * 0.95) - 1)] * 1000,
        "min_ms": lat[0] * 1000,
        "max_ms": lat[-1] * 1000,
        "mails_per_s": burst / elapsed,
        "append_s": appended,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--pg", default=os.environ.get("SUPPORTBOT_TEST_PG", ""))
    parser.add_argument("--sqlite", action="store_true", help="SQLite even when --pg/SUPPORTBOT_TEST_PG is set")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    schema = ""
    with tempfile.TemporaryDirectory() as tmp:
        if args.pg and not args.sqlite:
            database, schema = pg_schema(args.pg)
            where = "postgresql"
        else:
            database, where = f"sqlite:///{tmp}/bench.db", "sqlite"
        try:
            r = asyncio.run(run(args.samples, args.burst, database))
        finally:
            if schema:
                import psycopg

                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(f"database: {where}; IDLE on Dovecot {dovecot_server.find_dovecot()}")
    print(f"APPEND -> acknowledgement accepted by SMTP, one at a time (n={args.samples}): median "
          f"{r['median_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, min {r['min_ms']:.0f}, max {r['max_ms']:.0f}")
    print(f"burst of {args.burst} mails (APPENDed in {r['append_s']:.2f} s): {r['mails_per_s']:.1f} mails/s "
          "from the first APPEND to the last acknowledgement")
    print(f"email_median_ms={r['median_ms']:.0f} email_p95_ms={r['p95_ms']:.0f} mails_per_s={r['mails_per_s']:.1f} "
          f"samples={args.samples} burst={args.burst} database={where}")


if __name__ == "__main__":
    main()
