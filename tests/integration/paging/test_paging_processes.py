"""Two real `supportbot run` processes on one PostgreSQL database walk the escalation of P1
tickets opened by `supportbot console` processes; one run process is killed with SIGKILL in
the middle and restarted. Issue 6 §4: no step is lost, doubled or reordered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import shipped_text

LEVELS = (
    'levels = [ { rotation = "primary", after = "0s" }, { person = "frank", after = "1s" }, '
    '{ person = "root", after = "1s" } ]'
)
SHIPPED_LEVELS = 'levels = [ { rotation = "primary", after = "0m" }, { person = "frank", after = "10m" } ]'
TICKETS = 4
SILVER_PAGE_HOURS = 'page_hours = "calendar"                      # the out-of-hours add-on: "24x7"'


def fast_config(tmp_path: Path, url: str) -> Path:
    text = shipped_text(url)
    for old, new in (
        (SHIPPED_LEVELS, LEVELS),
        ("repeat = 1\n", 'repeat = 0\nfinal_wait = "1s"\n'),
        ("worker_poll_seconds = 5.0", "worker_poll_seconds = 0.2"),
        ('start = "2026-11-02"', 'start = "2024-01-01"'),  # somebody is on call whatever today is
        (SILVER_PAGE_HOURS, 'page_hours = "24x7"'),  # pages at once whatever the hour (issue 16)
    ):
        assert old in text, old
        text = text.replace(old, new)
    cfg = tmp_path / "bot.toml"
    cfg.write_text(text)
    return cfg


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SUPPORTBOT_NOW"}  # real time in every process
    env["SUPPORTBOT_LOG_LEVEL"] = "INFO"
    return env


class Processes:
    """Started processes with their stderr in files, for the transcript; all stopped at the end."""

    def __init__(self, tmp_path: Path, cfg: Path) -> None:
        self.tmp_path = tmp_path
        self.cfg = cfg
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start_run(self, name: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{name}.stderr"
        self.logs[name] = log
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.runtime.cli", "run", "--config", str(self.cfg)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=environment(),
            )
        self.running[name] = proc
        return proc

    def console(self, name: str, who: str, lines: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{name}.stderr"
        self.logs[name] = log
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.runtime.cli", "console", "--config", str(self.cfg), "--as", who],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=environment(),
            )
        assert proc.stdin is not None
        proc.stdin.write(lines.encode())
        proc.stdin.close()
        self.running[name] = proc
        return proc

    def transcript(self) -> str:
        parts = []
        for name, log in self.logs.items():
            text = log.read_text(errors="replace") if log.exists() else "(no output)"
            parts.append(f"===== {name} (exit {self.running[name].poll()}) =====\n{text}")
        return "\n".join(parts)

    def stop_all(self) -> None:
        for proc in self.running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.running.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def processes(tmp_path: Path, pg_url: str) -> Iterator[Processes]:
    cfg = fast_config(tmp_path, pg_url)
    up = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "db", "upgrade", "--config", str(cfg)],
                        capture_output=True, text=True, timeout=120, env=environment())
    assert up.returncode == 0, up.stderr
    procs = Processes(tmp_path, cfg)
    try:
        yield procs
    finally:
        procs.stop_all()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return list(conn.execute(sql).fetchall())


def wait_for(condition: Any, timeout: float, what: str, procs: Processes) -> None:
    """Poll the database until `condition()` holds (each check is a query, no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{procs.transcript()}")
        time.sleep(0.05)


def test_two_run_processes_one_killed_mid_escalation_notify_each_level_once_in_order(
    processes: Processes, pg_url: str
) -> None:
    runs = {name: processes.start_run(name) for name in ("run-a", "run-b")}
    openers = [
        processes.console(f"console-{i}", "alice", f"ticket open P1 outage {i}a\nticket open P1 outage {i}b\n")
        for i in range(TICKETS // 2)
    ]
    for proc in openers:
        assert proc.wait(timeout=60) == 0, processes.transcript()

    def busy_run() -> str | None:
        """A run process that has handed a second-level page to its console adapter."""
        for name in runs:
            if "[to frank]" in processes.logs[name].read_text(errors="replace"):
                return name
        return None

    wait_for(lambda: busy_run() is not None, 30, "a run process paging the second level", processes)
    victim = busy_run()
    assert victim is not None
    runs[victim].send_signal(signal.SIGKILL)  # kill -9 the busy one in the middle of the escalations
    runs[victim].wait(timeout=10)
    processes.start_run(f"{victim}-restarted")

    def all_exhausted() -> bool:
        rows = query(pg_url, "SELECT count(*) FROM pages WHERE exhausted_at IS NOT NULL")
        return int(rows[0][0]) == TICKETS

    wait_for(all_exhausted, 60, "every page to run out of levels", processes)

    pages = query(pg_url, "SELECT id, ticket_id FROM pages ORDER BY id")
    assert len(pages) == TICKETS, processes.transcript()
    for page_id, ticket_id in pages:
        steps = query(
            pg_url,
            f"SELECT kind, step, person, at FROM page_notifications WHERE page_id = {int(page_id)} ORDER BY at, id",
        )
        shown = [(kind, step, person) for kind, step, person, _ in steps]
        on_call = shown[0][2] if shown else None
        assert on_call in ("dave", "erin"), (shown, processes.transcript())
        assert shown == [
            ("notified", 0, on_call),
            ("notified", 1, "frank"),
            ("notified", 2, "root"),
            ("exhausted", 3, None),
        ], f"page {page_id} (ticket {ticket_id}): {shown}\n{processes.transcript()}"
        instants = [at for *_, at in steps]
        gaps = [(b - a).total_seconds() for a, b in zip(instants, instants[1:], strict=False)]
        assert all(gap >= 1.0 for gap in gaps), (page_id, gaps, processes.transcript())
        # One outbox page per person and network handle: dave/erin on each of theirs, frank and root on console.
        sent = query(
            pg_url,
            "SELECT label, network, count(*) FROM outbox WHERE kind = 'page' "
            f"AND extra->>'page' = '{int(page_id)}' GROUP BY label, network",
        )
        assert all(count == 1 for *_, count in sent), (sent, processes.transcript())
        assert {label for label, *_ in sent} == {on_call, "frank", "root"}, (sent, processes.transcript())
