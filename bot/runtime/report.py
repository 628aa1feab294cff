"""`supportbot report --month YYYY-MM [--org ORG] [--out DIR]`: monthly statements as CSV,
one file per organisation plus a summary, straight from the ledger (so they reconcile)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import sys
from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # imported when a report runs: `supportbot --help` and the other commands go without
    from bot.desk.clock import Clock
    from bot.runtime.config import Config


def _month(text: str) -> date:
    from bot.converters import parse_month
    from bot.desk.errors import UserError

    try:
        return parse_month(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def setup_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--month", type=_month, required=True, help="the month, YYYY-MM (in each plan calendar's time zone)")
    p.add_argument("--org", default=None, help="only this organisation (default: every org on a billed plan)")
    p.add_argument("--out", default=".", help="folder for the CSV files (created if missing; default: .)")


async def write_statements(
    cfg: Config, clock: Clock, month: date, org: str | None, out: Path, progress: TextIO | None = None
) -> list[Path]:
    """Write each billed org's statement and the summary. Rows stream from the database into
    the CSV (a month's ledger is never held whole); `progress`, a terminal, gets a bar per org."""
    # Imported when a report runs, so the other subcommands start without SQLAlchemy.
    from bot.runtime.bootstrap import open_app
    from commands.billing import STATEMENT_COLUMNS, SUMMARY_COLUMNS, billed_orgs, statement_lines, statement_summary
    from storage.uow import UnitOfWork

    app = await open_app(cfg, clock, with_metrics=False)  # no /metrics to serve: no prometheus_client
    written: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        summaries: list[dict[str, Any]] = []
        # one read-only snapshot: the rows agree with their summary while agents keep billing
        # (and on SQLite the report never holds the write lock)
        async with UnitOfWork(app.db, read_only=True) as uow:
            await uow.one_snapshot()
            for key in billed_orgs(cfg, org):
                summary = await statement_summary(uow, cfg, key, month)
                path = out / f"statement-{month:%Y-%m}-{key}.csv"
                with (
                    path.open("w", newline="", encoding="utf-8") as f,
                    _progress_bar(progress, int(summary["entries"]), f"statement {key}") as bar,
                ):
                    w = csv.writer(f)
                    w.writerow(STATEMENT_COLUMNS)
                    async for batch in statement_lines(uow, cfg, key, month):
                        w.writerows(batch)
                        if bar is not None:
                            bar.update(len(batch))
                written.append(path)
                summaries.append(summary)
        path = out / f"summary-{month:%Y-%m}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            summary_writer = csv.DictWriter(f, fieldnames=list(SUMMARY_COLUMNS))
            summary_writer.writeheader()
            summary_writer.writerows(summaries)
        written.append(path)
    finally:
        await app.close()
    return written


def _progress_bar(to: TextIO | None, total: int, what: str) -> AbstractContextManager[Any]:
    """A tqdm bar on `to` (cleared when done), or nothing at all (tqdm not even imported)."""
    if to is None:
        return contextlib.nullcontext(None)
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit=" rows", file=to, leave=False, mininterval=0.2)


def run(args: argparse.Namespace, clock: Clock) -> int:
    from bot.runtime.config import load_config

    cfg = load_config(args.config)
    if args.org is not None and args.org not in cfg.orgs:
        print(f"supportbot report: '{args.org}' is not an organisation in {args.config}", file=sys.stderr)
        return 2
    progress = sys.stderr if sys.stderr.isatty() else None  # a bar on a terminal, nothing in a pipe or a log
    paths = asyncio.run(write_statements(cfg, clock, args.month, args.org, Path(args.out), progress))
    for p in paths:
        print(p)
    return 0


HELP = "monthly statements as CSV: one file per organisation plus a summary"
