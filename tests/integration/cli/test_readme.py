"""Every shell block of README.md, run as a new user would: in a fresh folder holding the shipped
bot.toml (so a fresh database) and the project's .venv, with the visible result the README shows
right after the block checked. The conventions are documented in the README's *Tests* section:
`<!-- readme-test: network (why) -->` (needs the internet: not run) and
`<!-- readme-test: until "TEXT" -->` (runs until TEXT is printed, then SIGTERM, must exit 0)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
VENV = Path(sys.executable).parent.parent  # the environment running the tests, as the README's .venv
NOW = "2026-11-24T10:00:00+00:00"  # a Tuesday, 10:00 in London: business hours on the shipped calendars


@dataclass(frozen=True)
class Block:
    heading: str
    line: int
    script: str
    expected: tuple[str, ...]
    marker: str  # "", "network ...", 'until "..."'

    @property
    def id(self) -> str:
        return f"L{self.line}-{re.sub(r'[^a-z0-9]+', '-', self.heading.lower()).strip('-')}"


def readme_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    heading = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip() == "```sh":
            start = i
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            script = "\n".join(lines[i + 1 : j])
            k = start - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            m = re.fullmatch(r"<!-- readme-test: (.+) -->", lines[k].strip()) if k >= 0 else None
            marker = m.group(1) if m else ""
            n = j + 1
            while n < len(lines) and not lines[n].strip():
                n += 1
            expected: list[str] = []
            if n < len(lines) and lines[n].strip() == "```text":
                n += 1
                while lines[n].strip() != "```":
                    if lines[n].strip():
                        expected.append(lines[n].strip())
                    n += 1
            blocks.append(Block(heading, start + 1, script, tuple(expected), marker))
            i = j
        i += 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
RUNNABLE = [b for b in BLOCKS if not b.marker.startswith("network")]


def workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    shutil.copy(ROOT / "bot.toml", tmp_path / "bot.toml")
    (tmp_path / ".venv").symlink_to(VENV)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env.update(SUPPORTBOT_NOW=NOW, HOME=str(tmp_path))
    return tmp_path, env


def test_the_readme_has_runnable_blocks_and_few_network_ones() -> None:
    assert len(RUNNABLE) >= 5
    network = [b for b in BLOCKS if b.marker.startswith("network")]
    assert all(re.fullmatch(r"network \(.+\)", b.marker) for b in network), "say why a block needs the network"
    assert len(network) <= 2
    assert all(b.marker == "" or b.marker.startswith(("network", "until ")) for b in BLOCKS)


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_a_readme_block_works_as_shown(block: Block, tmp_path: Path) -> None:
    cwd, env = workspace(tmp_path)
    if block.marker.startswith("until "):
        output, rc = run_until(block, cwd, env)
    else:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.script], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120)
        output, rc = done.stdout + "\n" + done.stderr, done.returncode
    assert rc == 0, f"README line {block.line} exited {rc}:\n{block.script}\n---\n{output}"
    assert "Traceback" not in output, output
    for want in block.expected:
        assert want in output, f"README line {block.line}: expected {want!r} in what it printed:\n{output}"
    assert not list(cwd.glob("*.run.lock")), "a lock file was left behind"


def run_until(block: Block, cwd: Path, env: dict[str, str]) -> tuple[str, int]:
    text = re.fullmatch(r'until "(.+)"', block.marker)
    assert text is not None, block.marker
    proc = subprocess.Popen(["bash", "-c", f"exec {block.script}"], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if text.group(1) in line:
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), f"never printed {text.group(1)!r}:\n{''.join(seen)}"
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    reader.join(5)
    return "".join(seen), rc
