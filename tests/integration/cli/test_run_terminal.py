"""`supportbot run` in a terminal (a pseudo-terminal here): the console shows a prompt and
answers, Ctrl-C or SIGTERM stop the process within a second (no reader thread keeps it alive
until Enter), Ctrl-D closes the console only and says how to stop the bot, and no lock file is
left behind."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import shipped_text


class Terminal:
    """`supportbot run` with its stdin, stdout and stderr on a pseudo-terminal."""

    def __init__(self, cfg: Path) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "SUPPORTBOT_NOW": "2026-11-24T10:00:00+00:00", "SUPPORTBOT_LOG_FORMAT": "text"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.runtime.cli", "run", "--config", str(cfg)],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
        )
        os.close(slave)
        self.seen = ""

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self._drain()
                if text in self.seen:
                    return
                raise AssertionError(f"never saw {text!r}; the terminal showed:\n{self.seen}")
            if select.select([self.master], [], [], left)[0]:
                self._read()

    def _read(self) -> None:
        try:
            self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
        except OSError:  # the other side closed
            pass

    def _drain(self) -> None:
        while select.select([self.master], [], [], 0)[0]:
            before = len(self.seen)
            self._read()
            if len(self.seen) == before:
                break

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def exit_seconds_after(self, sig: int, timeout: float = 10) -> float:
        started = time.monotonic()
        self.proc.send_signal(sig)
        deadline = started + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.02)[0]:
                self._read()
        elapsed = time.monotonic() - started
        self._drain()
        return elapsed

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self.master)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(shipped_text("sqlite:///desk.db"))
    term = Terminal(cfg)
    try:
        yield term
    finally:
        term.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_run_in_a_terminal_answers_at_a_prompt_and_stops_within_a_second(
    terminal: Terminal, tmp_path: Path, sig: int
) -> None:
    terminal.wait_for("agnes> ")
    terminal.type("whoami\n")
    terminal.wait_for("You are Agnes Agent, role agent")
    terminal.wait_for("agnes> ", 5)
    assert (tmp_path / "desk.db.run.lock").exists()  # held while running

    elapsed = terminal.exit_seconds_after(sig)

    assert terminal.proc.returncode == 0, terminal.seen
    assert elapsed < 1.0, f"took {elapsed:.2f}s to stop:\n{terminal.seen}"
    assert "stopped" in terminal.seen
    assert "Traceback" not in terminal.seen
    assert not (tmp_path / "desk.db.run.lock").exists()  # nothing left behind


def test_ctrl_d_closes_the_console_only_and_says_how_to_stop_the_bot(terminal: Terminal) -> None:
    terminal.wait_for("agnes> ")
    terminal.type("\x04")  # Ctrl-D at the start of a line: end of input

    terminal.wait_for("the console is closed")
    terminal.wait_for(f"Stop it with Ctrl-C, or: kill {terminal.proc.pid}")
    assert terminal.proc.poll() is None  # the bot keeps running
    assert terminal.exit_seconds_after(signal.SIGTERM) < 1.0
    assert terminal.proc.returncode == 0
