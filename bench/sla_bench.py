"""SLA engine benchmark (prints numbers; not a test).

Same random (start, duration) pairs over 2026-2027 on the Isode calendar (Europe/London
09:00-17:00 Mon-Fri, England & Wales holidays): microseconds per `add` and per `between` for
bot.desk.calendar and for businesstimedelta, the disagreements with businesstimedelta classified,
and the board figure: remaining business time for every open ticket from stored due positions.

    .venv/bin/python bench/sla_bench.py [--pairs 100000] [--peer-sample 5000] [--pg URL]

The last line is machine-readable key=value pairs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time as clock
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.desk.calendar import BusinessCalendar

LONDON = ZoneInfo("Europe/London")
TARGETS = [4 * 3600, 8 * 3600, 16 * 3600, 2 * 8 * 3600, 3 * 8 * 3600, 12 * 3600]


def isode_calendar() -> BusinessCalendar:
    return BusinessCalendar(
        "uk-office", "Europe/London", {d: [(time(9), time(17))] for d in range(5)}, ("GB", "ENG")
    )


def random_pairs(
    n: int, seed: int
) -> tuple[list[tuple[datetime, int]], list[tuple[datetime, datetime]]]:
    """(start, business seconds) for add — half of them plan targets from whole minutes, half
    arbitrary seconds — and (a, b) instant pairs up to 30 days apart for between."""
    rng = random.Random(seed)
    lo = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    hi = int(datetime(2027, 12, 1, tzinfo=UTC).timestamp())
    adds: list[tuple[datetime, int]] = []
    betweens: list[tuple[datetime, datetime]] = []
    for i in range(n):
        if i % 2:
            start = datetime.fromtimestamp(lo + 60 * rng.randrange((hi - lo) // 60), LONDON)
            amount = rng.choice(TARGETS)
        else:
            start = datetime.fromtimestamp(rng.randrange(lo, hi), LONDON)
            amount = rng.randrange(1, 5 * 8 * 3600)
        adds.append((start, amount))
        a = datetime.fromtimestamp(rng.randrange(lo, hi), LONDON)
        betweens.append((a, a + timedelta(seconds=rng.randrange(0, 30 * 86400))))
    return adds, betweens


def per_call_us(fn: Callable[[Any, Any], object], pairs: list[tuple[Any, Any]]) -> float:
    started = clock.perf_counter()
    for x, y in pairs:
        fn(x, y)
    return (clock.perf_counter() - started) / len(pairs) * 1e6


def peer_rules() -> Any:
    import businesstimedelta as btd
    import holidays
    import pytz

    tz = pytz.timezone("Europe/London")
    workday = btd.WorkDayRule(
        start_time=time(9), end_time=time(17), working_days=[0, 1, 2, 3, 4], tz=tz
    )
    closed = btd.HolidayRule(
        holidays.country_holidays("GB", subdiv="ENG", years=range(2025, 2030)), tz=tz
    )
    return btd.Rules([workday, closed]), btd


def classify(cal: BusinessCalendar, start: datetime, ours: datetime, theirs: datetime) -> str:
    """Why businesstimedelta's due instant differs from ours."""
    lo, hi = min(start, ours, theirs), max(start, ours, theirs)
    if lo.astimezone(LONDON).utcoffset() != hi.astimezone(LONDON).utcoffset() or any(
        (lo + timedelta(days=d)).astimezone(LONDON).utcoffset() != lo.astimezone(LONDON).utcoffset()
        for d in range((hi - lo).days + 1)
    ):
        return "DST change in between"
    gaps = cal.closed_stretches(lo, hi)
    if any(not g.reason.startswith(("outside", "weekend")) for g in gaps):
        return "holiday in between"
    if cal.is_open(theirs) != cal.is_open(ours):
        return "exact closing time (interval end vs next opening)"
    return "other"


def board_ms(cal: BusinessCalendar, n: int, seed: int) -> float:
    """Remaining business time for n open tickets from their stored due positions, sorted
    nearest deadline first (what `sla board` does); best of 5 runs."""
    rng = random.Random(seed)
    now = datetime(2026, 6, 3, 11, 17, tzinfo=LONDON)
    base = cal.position(now)
    dues = [base + rng.randrange(-5 * 28800, 20 * 28800) for _ in range(n)]
    timings = []
    for _ in range(5):  # best of 5: the machine is shared
        started = clock.perf_counter()
        now_position = cal.position(now)
        remaining = sorted(due - now_position for due in dues)
        timings.append((clock.perf_counter() - started) * 1000)
        assert len(remaining) == n
    return min(timings)


def pg_board_ms(url: str | None) -> str:
    """The PostgreSQL board part, when storage provides `storage_board_bench(url) -> ms`."""
    if url is None:
        return "na"
    try:
        from bench.board_pg import storage_board_bench
    except ImportError:
        print("board_pg: bench/board_pg.py could not be imported")
        return "na"
    return f"{float(storage_board_bench(url)):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--peer-sample", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg", default=None, help="PostgreSQL URL for the storage board part")
    args = parser.parse_args()

    cal = isode_calendar()
    adds, betweens = random_pairs(args.pairs, args.seed)
    cal.add(adds[0][0], 1)  # build the interval arrays once, outside the timing
    add_us = per_call_us(cal.add, adds)
    between_us = per_call_us(cal.between, betweens)
    print(f"ours, {args.pairs} pairs 2026-2027: add {add_us:.2f} us, between {between_us:.2f} us")

    rules, btd = peer_rules()
    sample = min(args.peer_sample, args.pairs)
    peer_adds = [(s, btd.BusinessTimeDelta(rules, seconds=n)) for s, n in adds[:sample]]

    def peer_add(start: datetime, delta: Any) -> datetime:
        result: datetime = start + delta
        return result

    def peer_between(a: datetime, b: datetime) -> int:
        return int(rules.difference(a, b).timedelta.total_seconds())

    btd_add_us = per_call_us(peer_add, peer_adds)
    btd_between_us = per_call_us(peer_between, betweens[:sample])
    print(
        f"businesstimedelta on the first {sample} pairs (--peer-sample): "
        f"add {btd_add_us:.1f} us, between {btd_between_us:.1f} us"
    )

    reasons: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for (start, amount), (_, delta) in zip(adds[:sample], peer_adds, strict=True):
        ours, theirs = cal.add(start, amount), peer_add(start, delta)
        if ours != theirs:
            why = classify(cal, start, ours, theirs)
            reasons[why] += 1
            examples.setdefault(
                why, f"{start:%Y-%m-%d %H:%M:%S %Z} + {amount}s: ours {ours}, theirs {theirs}"
            )
    between_disagree = sum(
        cal.between(a, b) != peer_between(a, b) for a, b in betweens[: min(sample, 2000)]
    )
    disagreements = sum(reasons.values())
    print(f"add disagreements with businesstimedelta: {disagreements} of {sample}")
    for why, count in reasons.most_common():
        print(f"  {count:6d}  {why}   e.g. {examples[why]}")
    print(f"between disagreements (first {min(sample, 2000)} pairs): {between_disagree}")

    board_all = board_ms(cal, args.pairs, args.seed)
    print(
        f"board: remaining time for {args.pairs} open tickets via positions: {board_all:.1f} ms (best of 5)"
    )
    board_pg = pg_board_ms(args.pg)
    ok = "ok" if add_us <= 4 and between_us <= 4 else "OVER TARGET"
    print(f"targets: add/between <= 4 us ({ok}), board < 50 ms")
    print(
        f"add_us={add_us:.2f} between_us={between_us:.2f} btd_add_us={btd_add_us:.1f} "
        f"btd_between_us={btd_between_us:.1f} disagreements={disagreements} "
        f"board_all_ms={board_all:.1f} board_pg_ms={board_pg}"
    )


if __name__ == "__main__":
    main()
