"""Issue 15, "done means": a burst of 450 signed Slack slash commands and 450 Telegram updates,
kill -9 at a random moment, a restart — every acknowledged command executed exactly once and
answered, on SQLite and PostgreSQL; SIGTERM then stops the bot within 10 s."""

from __future__ import annotations

import random
from pathlib import Path

from tests.integration.ops.inbox_burst import run_burst


async def test_every_acknowledged_command_survives_kill_9_exactly_once(any_db_url: str, tmp_path: Path) -> None:
    kill_after = random.randint(50, 700)
    burst = await run_burst(tmp_path, any_db_url, kill_after=kill_after)
    summary = (f"kill after {kill_after} acks: acked={len(burst.acked)} executed={sum(burst.executed.values())} "
               f"lost={sorted(burst.lost)[:10]} doubled={sorted(burst.doubled)[:10]}")
    assert len(burst.acked) >= kill_after, summary
    assert not burst.lost, summary + "\n" + burst.logs
    assert not burst.doubled, summary + "\n" + burst.logs
    assert burst.stop_seconds < 10, f"SIGTERM took {burst.stop_seconds:.1f}s"
