"""How long a scripted `supportbot console` takes to answer one command (prints numbers; not a test).

A shell loop pays the whole process start for every line, so the figure is the wall time from
starting `supportbot console --as alice` with one line on stdin to the answer on stdout (and to
the process exiting), on the shipped bot.toml with a SQLite file already at the newest
migration. The first run (which creates the schema) is not counted.

Python's bytecode cache is on, as for an installed supportbot (pip compiles on install; a source
checkout writes `__pycache__` on its first run): `PYTHONDONTWRITEBYTECODE` is dropped and the
cache goes to a temporary folder. `--no-bytecode-cache` measures a start that compiles every
module of ours from source instead (about 0.15 s more on the 2-core test machine).
The machine's load is printed before and after: figures taken on a busy machine are not comparable.
Machines differ too, so the bench also times a Python that only imports the libraries every
console start needs (asyncio, SQLAlchemy's async ORM with aiosqlite, pydantic, holidays,
tomllib) and does nothing else: `library_floor_ms`, the part of the answer no code of ours can
remove on this machine (and `ours_ms`, the answer minus that floor).

    .venv/bin/python bench/console_bench.py [--runs 15] [--command whoami] [--source /work/main]

The last line is machine-readable key=value pairs.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _python_env(pycache: Path | None, **extra: str) -> dict[str, str]:
    """This environment for a Python we start: with the bytecode cache in `pycache` (None: as
    the environment says), plus `extra`."""
    env = {**os.environ, **extra}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def one_run(
    config: Path, command: str, source: Path | None = None, pycache: Path | None = None
) -> tuple[float, float, float]:
    """(ms to the first stdout line, ms to exit, CPU ms of the process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    exe = Path(sys.executable).with_name("supportbot")
    env = _python_env(pycache, SUPPORTBOT_NOW="2026-11-24T10:00:00+00:00")
    if source is not None:  # another checkout's code (e.g. main, for a before/after figure)
        argv = [sys.executable, "-m", "bot.runtime.cli"]
        env["PYTHONPATH"] = str(source)
    else:
        argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "bot.runtime.cli"]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*argv, "console", "--config", str(config), "--as", "alice"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        cwd=source,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.close()
    first = proc.stdout.readline()
    answered = time.perf_counter()
    proc.stdout.read()
    proc.wait(timeout=60)
    if proc.returncode != 0 or not first.strip():  # a refused config answers fast and means nothing
        raise SystemExit(f"console exited {proc.returncode} with first line {first!r}: not a figure")
    exited = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (answered - started) * 1000, (exited - started) * 1000, cpu * 1000


LIBRARIES = ("asyncio", "sqlalchemy.ext.asyncio", "sqlalchemy.orm", "sqlalchemy.dialects.sqlite.aiosqlite",
             "aiosqlite", "pydantic", "pydantic.fields", "holidays", "tomllib")


def library_floor_run(pycache: Path | None) -> float:
    """ms for a Python that imports LIBRARIES and leaves at once (os._exit, as the console does:
    no interpreter teardown), with the same bytecode cache settings."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import os, " + ", ".join(LIBRARIES) + "; os._exit(0)"],
                   env=_python_env(pycache), check=True)  # fmt: skip
    return (time.perf_counter() - started) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--command", default="whoami")
    ap.add_argument("--source", type=Path, default=None, help="run this checkout's code (default: this one)")
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="compile our modules from source at every start (as with PYTHONDONTWRITEBYTECODE=1)")
    args = ap.parse_args()
    load_before = _loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bot.toml"
        text = ((args.source or ROOT) / "bot.toml").read_text()  # that checkout's keys
        config.write_text(re.sub(r'^database = ".*"$', 'database = "sqlite:///desk.db"', text, count=1, flags=re.M))
        pycache = None if args.no_bytecode_cache else Path(tmp) / "pycache"
        one_run(config, args.command, args.source, pycache)  # creates the database (and the bytecode cache)
        library_floor_run(pycache)
        answers, exits, cpus, floors = [], [], [], []
        for _ in range(args.runs):  # interleaved: both see the same moments of a noisy machine
            a, e, c = one_run(config, args.command, args.source, pycache)
            answers.append(a)
            exits.append(e)
            cpus.append(c)
            floors.append(library_floor_run(pycache))
    load_after = _loadavg()
    cache = "off (compiled from source at every start)" if pycache is None else "on"
    print(f"`{args.command}` through `supportbot console`, {args.runs} runs on {os.cpu_count()} CPUs, "
          f"bytecode cache {cache}")
    print(f"machine load (1/5/15 min) before: {load_before}, after: {load_after}")
    print(f"first answer: median {statistics.median(answers):.0f} ms, min {min(answers):.0f} ms, "
          f"max {max(answers):.0f} ms")
    print(f"process exit: median {statistics.median(exits):.0f} ms, min {min(exits):.0f} ms")
    print(f"CPU time (user+sys) of the process: median {statistics.median(cpus):.0f} ms, min {min(cpus):.0f} ms "
          "(less sensitive to a busy machine)")
    floor = statistics.median(floors)
    print(f"the libraries alone ({', '.join(LIBRARIES)}): import in median {floor:.0f} ms, min {min(floors):.0f} ms "
          f"on this machine; the answer less that: {statistics.median(answers) - floor:.0f} ms")
    print(f"console_first_answer_ms={statistics.median(answers):.0f} console_first_answer_min_ms={min(answers):.0f} "
          f"console_exit_ms={statistics.median(exits):.0f} console_cpu_ms={statistics.median(cpus):.0f} "
          f"library_floor_ms={floor:.0f} ours_ms={statistics.median(answers) - floor:.0f} "
          f"load={os.getloadavg()[0]:.1f} runs={args.runs} bytecode_cache={'no' if pycache is None else 'yes'}")
    return 0


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
