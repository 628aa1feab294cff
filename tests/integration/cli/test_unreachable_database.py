"""Every CLI subcommand turns a database it cannot reach into one line naming the URL (the
password hidden) and exit status 2 — never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nobody listens


def config(tmp_path: Path, url: str) -> Path:
    text = (ROOT / "bot.toml").read_text()
    lines = [f'database = "{url}"' if line.startswith("database = ") else line for line in text.splitlines()]
    path = tmp_path / "bot.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("args", [["db", "upgrade"], ["console", "--as", "alice"], ["report", "--month", "2026-01"],
                                  ["run"]])
@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path: Path, args: list[str], kind: str) -> None:
    if kind == "postgresql":
        url = f"postgresql://desk:hunter2@127.0.0.1:{closed_port()}/desk"
        shown = "postgresql+psycopg://desk:***@127.0.0.1:"
    else:
        (tmp_path / "a-file").write_text("not a folder")  # even root cannot create a database below it
        url = f"sqlite:///{tmp_path}/a-file/desk.db"
        shown = f"sqlite+aiosqlite:///{tmp_path}/a-file/desk.db"
    cfg = config(tmp_path, url)
    r = subprocess.run([sys.executable, "-m", "bot.runtime.cli", *args, "--config", str(cfg)], input="help\n",
                       capture_output=True, text=True, timeout=60, cwd=ROOT, env={"PATH": "/usr/bin:/bin",
                                                                                   "SUPPORTBOT_LOG_LEVEL": "ERROR"})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "hunter2" not in r.stderr + r.stdout
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"supportbot: cannot reach the database {shown}"), r.stderr
