"""`supportbot run | console | check-config | db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from bot.desk.clock import Clock, clock_from_env
from bot.desk.errors import ConfigError
from bot.runtime import report

if TYPE_CHECKING:
    from bot.runtime.config import Config

# This module imports little (report's parser options too): the libraries a command needs
# (pydantic, SQLAlchemy, ...) are imported by the command, after _main has paused the garbage
# collector (see _collector_paused).

DEFAULT_CONFIG = "bot.toml"


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        default=os.environ.get("SUPPORTBOT_CONFIG", DEFAULT_CONFIG),
        help="path to bot.toml (default: $SUPPORTBOT_CONFIG or ./bot.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supportbot",
        description="Run a paid support desk in chat.",
        epilog="Start with: supportbot console --as alice (then type help). "
        "supportbot COMMAND --help shows a command's options.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    run = sub.add_parser("run", help="start every enabled network adapter plus the timer worker")
    _config_arg(run)
    con = sub.add_parser("console", help="speak to the bot from a terminal or a script (stdin)")
    _config_arg(con)
    con.add_argument("--as", dest="speaker", required=True, help="a console handle from [people]")
    con.add_argument("--channel", default=None, help="speak in this channel (default: a direct conversation)")
    chk = sub.add_parser("check-config", help="validate bot.toml and exit")
    _config_arg(chk)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_cmd", required=True)
    up = db_sub.add_parser("upgrade", help="apply Alembic migrations (SQLite and PostgreSQL)")
    _config_arg(up)
    rep = sub.add_parser("report", help=report.HELP)
    _config_arg(rep)
    report.setup_parser(rep)
    return parser


class _VersionAction(argparse.Action):
    """`--version`, looked up only when asked (importlib.metadata costs every start ~40 ms)."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("supportbot")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown (not installed)"


def _load(path: str) -> Config:
    from bot.runtime.config import load_config

    return load_config(path)


def _setup_logging(quiet: bool) -> None:
    level = os.environ.get("SUPPORTBOT_LOG_LEVEL", "WARNING" if quiet else "INFO").upper()
    try:
        from bot.runtime.logs import configure

        configure(level)
    except ModuleNotFoundError:
        logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    """The `supportbot` program. Run as the process itself (argv None), it leaves without
    Python's interpreter teardown once its work is done and flushed: collecting the garbage of
    SQLAlchemy, pydantic and friends took up to a second after "stopped" (Ctrl-C in a
    terminal) and after a scripted console's last answer."""
    rc = _main(argv)
    if argv is None:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(rc)
    return rc


def _main(argv: list[str] | None) -> int:
    with _collector_paused() as resume:
        return _command(argv, resume)


def _command(argv: list[str] | None, resume: Callable[[], None]) -> int:
    """One command; `resume` turns the garbage collector back on: a console once its desk is
    open, `run` and `db upgrade` (long, or holding many objects) before they start. check-config
    and report are short processes that never turn it back on."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmd is None:  # a bare `supportbot`: what it can do, not an error
        parser.print_help()
        return 0
    try:
        clock = clock_from_env()
    except ValueError as exc:
        print(f"supportbot: {exc}", file=sys.stderr)
        return 2
    try:
        if args.cmd == "check-config":
            return check_config(args.config)
        if args.cmd == "db":
            resume()
            _setup_logging(quiet=False)  # one line per migration applied
            return asyncio.run(db_upgrade(args.config))
        if args.cmd == "console":
            _setup_logging(quiet=True)
            return asyncio.run(console(_load(args.config), args.speaker, args.channel, clock, started=resume))
        if args.cmd == "run":
            resume()
            _setup_logging(quiet=False)
            from bot.runtime.bootstrap import load_checked

            return asyncio.run(run(load_checked(args.config), clock, args.config))
        if args.cmd == "report":
            _setup_logging(quiet=True)
            return report.run(args, clock)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        line = _unreachable_database(exc, args.config)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 2
    return 2


def _unreachable_database(exc: BaseException, path: str) -> str | None:
    """One line for a database that cannot be reached (URL with the password hidden), or
    None when `exc` is something else (a bug: let it show)."""
    from bot.runtime.config import database_url
    from storage.database import shown_url, unreachable_reason

    reason = unreachable_reason(exc)
    if reason is None:
        return None
    try:
        url = shown_url(database_url(_load(path)))
    except Exception:
        url = "(the [bot] database in " + path + ")"
    return f"supportbot: cannot reach the database {url}: {reason}"


def check_config(path: str) -> int:
    """Every problem of the file at once (exit 2), warnings (exit 0), or OK with a summary."""
    from bot.runtime.bootstrap import diagnose

    cfg, problems, warnings = diagnose(path)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    if problems or cfg is None:
        print("\n".join(problems), file=sys.stderr)
        print(f"{path}: {len(problems)} problem(s); nothing was started", file=sys.stderr)
        return 2
    print(
        f"{path}: OK — {len(cfg.plans)} plans, {len(cfg.calendars)} calendars, {len(cfg.orgs)} orgs, "
        f"{len(cfg.people)} people, adapters enabled: "
        + (", ".join(n for n in ("console", "irc", "slack", "telegram") if _enabled(cfg, n)) or "none")
    )
    return 0


def _enabled(cfg: Config, network: str) -> bool:
    if network == "console":
        return cfg.adapters.console.enabled
    return bool(getattr(cfg.adapters, network).get("enabled", False))


async def db_upgrade(path: str) -> int:
    from bot.runtime.config import business_calendars, database_url, plan_targets
    from storage.database import Database

    cfg = _load(path)
    db = Database(database_url(cfg))
    try:
        await db.upgrade(plan_targets(cfg, business_calendars(cfg)))
    finally:
        await db.dispose()
    print(f"{path}: database schema is at the newest migration")
    return 0


@contextlib.contextmanager
def _collector_paused() -> Iterator[Callable[[], None]]:
    """Python's cyclic garbage collector off while a command starts (importing pydantic,
    SQLAlchemy and friends allocates much and frees little: its passes were ~2% of a console's
    start), back on when the command calls the function yielded (or at the end)."""
    was_enabled = gc.isenabled()
    gc.disable()

    def resume() -> None:
        if was_enabled:
            gc.enable()

    try:
        yield resume
    finally:
        resume()


async def console(
    cfg: Config, speaker: str, channel: str | None, clock: Clock, started: Callable[[], None] = lambda: None
) -> int:
    """Commands from stdin, one per line; exits 0 at end of input after finishing due work.
    Never starts the network adapters enabled in the same file. `started` is called once the
    desk is open and due work is done, before the first line is read."""
    from adapters.console import ConsoleAdapter
    from bot.runtime.bootstrap import open_app

    app = await open_app(cfg, clock, with_metrics=False)
    try:
        if app.router.directory.person_of("console", speaker) is None and channel is None:
            print(f"supportbot: note: '{speaker}' is not a console handle in [people]", file=sys.stderr)
        adapter = ConsoleAdapter(speaker, channel=channel, is_command=app.is_command)
        await app.start_adapter(adapter)
        app.router.listeners.append(adapter.echo)
        app.worker.listeners.append(adapter.echo)
        await app.worker.run_once()
        started()
        interactive = sys.stdin.isatty()  # a person at a terminal gets a prompt; scripts do not
        if interactive:
            adapter.show_prompt()
        for line in sys.stdin:
            if line.strip():
                await adapter.say(line)
                await app.worker.run_once()
            if interactive:
                adapter.show_prompt()
        if interactive:
            print()
        await app.worker.run_once()
    finally:
        await app.close()
    return 0


async def run(cfg: Config, clock: Clock, config_path: str | None = None) -> int:
    """Every enabled adapter, the timer worker and the `[bot] http` endpoint until SIGTERM;
    SIGHUP reloads bot.toml. See bot/instance.py (leadership, shutdown, reload)."""
    from bot.runtime.instance import run_instance

    return await run_instance(cfg, config_path or cfg.source, clock)


if __name__ == "__main__":
    sys.exit(main())
