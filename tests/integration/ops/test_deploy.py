"""deploy/: the systemd unit and the Containerfile work with the shipped bot.toml. The unit's
environment is rebuilt under a temporary root (no systemd, no container build): the SQLite file
lands in the unit's StateDirectory (the only writable place under ProtectSystem=strict), and the
container's HEALTHCHECK command passes against `supportbot run` with the image's environment."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

from tests.integration.ops.ops_peers import free_port

ROOT = Path(__file__).resolve().parents[3]
UNIT = ROOT / "deploy" / "supportbot.service"
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
SUPPORTBOT = [sys.executable, "-m", "bot.runtime.cli"]


def unit_settings(text: str) -> dict[str, list[str]]:
    """`Key=value` lines of a systemd unit (repeated keys kept in order)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def container_env(text: str) -> dict[str, str]:
    joined = text.replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in joined.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def run_until_running(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    running = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "supportbot is running" in line:
                running.set()
        running.set()

    threading.Thread(target=read, daemon=True).start()
    if not running.wait(60) or proc.poll() is not None:
        proc.kill()
        raise AssertionError("supportbot run did not start:\n" + "".join(seen))
    return proc, seen


def stop(proc: subprocess.Popen[str], seen: list[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(10) == 0, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_systemd_unit_keeps_the_sqlite_file_in_its_state_directory(tmp_path: Path) -> None:
    unit = unit_settings(UNIT.read_text())
    assert unit["ProtectSystem"] == ["strict"]  # /etc (and everything but the listed paths) is read-only
    state = "/var/lib/" + unit["StateDirectory"][0]
    assert state in unit["ReadWritePaths"] or unit["StateDirectory"]  # writable: systemd grants it
    environment = dict(v.split("=", 1) for v in unit["Environment"])
    config_path = environment["SUPPORTBOT_CONFIG"]
    assert not config_path.startswith(state)
    exec_start = shlex.split(unit["ExecStart"][0])
    assert Path(exec_start[0]).name == "supportbot" and exec_start[1:] == ["run"]

    root = tmp_path / "root"
    etc = root / config_path.lstrip("/")
    etc.parent.mkdir(parents=True)
    shutil.copy(ROOT / "bot.toml", etc)  # the shipped file, as the install steps copy it
    state_dir = root / state.lstrip("/")
    state_dir.mkdir(parents=True)  # what StateDirectory= does before starting
    workdir = root / unit["WorkingDirectory"][0].lstrip("/")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPORTBOT_", "STATE_DIRECTORY"))}
    env.update(SUPPORTBOT_CONFIG=str(etc), STATE_DIRECTORY=str(state_dir))  # as systemd sets them

    proc, seen = run_until_running([*SUPPORTBOT, *exec_start[1:]], env, workdir)
    stop(proc, seen)

    assert (state_dir / "supportbot.db").exists(), "".join(seen)
    assert sorted(p.name for p in etc.parent.iterdir()) == ["bot.toml"]  # nothing written under /etc
    assert not list(state_dir.glob("*.run.lock"))


def test_the_container_health_check_passes_with_the_shipped_config(tmp_path: Path) -> None:
    text = CONTAINERFILE.read_text()
    image_env = container_env(text)
    assert image_env["SUPPORTBOT_HTTP"].endswith(":8080") and image_env["STATE_DIRECTORY"]
    check = re.search(r"^HEALTHCHECK .*? CMD (.+)$", text, re.M)
    assert check is not None
    assert "http" not in tomllib.loads((ROOT / "bot.toml").read_text())["bot"]  # the image's env provides it

    port = free_port()
    root = tmp_path / "root"
    config = root / image_env["SUPPORTBOT_CONFIG"].lstrip("/")
    config.parent.mkdir(parents=True)
    shutil.copy(ROOT / "bot.toml", config)
    state_dir = root / image_env["STATE_DIRECTORY"].lstrip("/")
    state_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPORTBOT_", "STATE_DIRECTORY"))}
    env.update(SUPPORTBOT_CONFIG=str(config), STATE_DIRECTORY=str(state_dir),
               SUPPORTBOT_HTTP=image_env["SUPPORTBOT_HTTP"].replace("0.0.0.0:8080", f"127.0.0.1:{port}"))

    proc, seen = run_until_running([*SUPPORTBOT, "run"], env, state_dir)
    try:
        probe = check.group(1).replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        assert probe.startswith("python ")
        health = subprocess.run(["sh", "-c", sys.executable + probe[len("python"):]], capture_output=True,
                                text=True, timeout=30)
        assert health.returncode == 0, health.stderr + "".join(seen)
    finally:
        stop(proc, seen)
    assert (state_dir / "supportbot.db").exists()
