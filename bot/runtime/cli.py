"""`supportbot run | console | check-config | db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from bot.desk.clock import Clock, clock_from_env
from bot.desk.errors import ConfigError
from bot.runtime import report
from bot.runtime.config import Config, load_config

DEFAULT_CONFIG = "bot.toml"


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        default=os.environ.get("SUPPORTBOT_CONFIG", DEFAULT_CONFIG),
        help="path to bot.toml (default: $SUPPORTBOT_CONFIG or ./bot.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supportbot", description="Run a paid support desk in chat.")
    sub = parser.add_subparsers(dest="cmd", required=True)
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


def _load(path: str) -> Config:
    return load_config(path)


def _setup_logging(quiet: bool) -> None:
    level = os.environ.get("SUPPORTBOT_LOG_LEVEL", "WARNING" if quiet else "INFO").upper()
    try:
        from bot.runtime.logs import configure

        configure(level)
    except ModuleNotFoundError:
        logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        clock = clock_from_env()
    except ValueError as exc:
        print(f"supportbot: {exc}", file=sys.stderr)
        return 2
    try:
        if args.cmd == "check-config":
            return check_config(args.config)
        if args.cmd == "db":
            return asyncio.run(db_upgrade(args.config))
        if args.cmd == "console":
            _setup_logging(quiet=True)
            return asyncio.run(console(_load(args.config), args.speaker, args.channel, clock))
        if args.cmd == "run":
            _setup_logging(quiet=False)
            return asyncio.run(run(_load(args.config), clock, args.config))
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
    from bot.runtime.bootstrap import check

    cfg = _load(path)
    check(cfg)
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
    from bot.runtime.config import database_url
    from storage.database import Database

    cfg = _load(path)
    db = Database(database_url(cfg))
    try:
        await db.upgrade()
    finally:
        await db.dispose()
    print(f"{path}: database schema is at the newest migration")
    return 0


async def console(cfg: Config, speaker: str, channel: str | None, clock: Clock) -> int:
    """Commands from stdin, one per line; exits 0 at end of input after finishing due work.
    Never starts the network adapters enabled in the same file."""
    from adapters.console import ConsoleAdapter
    from bot.runtime.bootstrap import open_app

    app = await open_app(cfg, clock)
    try:
        if app.router.directory.person_of("console", speaker) is None and channel is None:
            print(f"supportbot: note: '{speaker}' is not a console handle in [people]", file=sys.stderr)
        adapter = ConsoleAdapter(speaker, channel=channel, is_command=app.is_command)
        await app.start_adapter(adapter)
        app.router.listeners.append(adapter.echo)
        app.worker.listeners.append(adapter.echo)
        await app.worker.run_once()
        for line in sys.stdin:
            if not line.strip():
                continue
            await adapter.say(line)
            await app.worker.run_once()
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
