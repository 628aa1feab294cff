"""Schema migrations with Alembic, driven from code: `supportbot db upgrade` and the automatic upgrade at start.

Alembic (and Mako under it) costs about half a second of imports, which a scripted `supportbot
console` would pay for every line of a shell loop. So the question "is there anything to do?" is
answered without it: the heads are read from the migration files' `revision`/`down_revision`
assignments and the database's `alembic_version` rows are read with plain SQL; Alembic is
imported only when a migration is pending. Its own INFO chatter is kept quiet; each applied
migration is logged as one line of ours."""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, make_url, pool, text

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger("supportbot.storage")


def sync_url(async_url: str) -> str:
    """The synchronous driver URL Alembic runs on (aiosqlite -> sqlite3; psycopg is both)."""
    if async_url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + async_url[len("sqlite+aiosqlite://"):]
    if async_url.startswith("postgresql+asyncpg://"):
        return "postgresql+psycopg://" + async_url[len("postgresql+asyncpg://"):]
    return async_url


def alembic_config(url: str, attributes: Mapping[str, Any] | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    cfg.attributes["url"] = sync_url(url)
    cfg.attributes["on_version_apply"] = _log_step
    cfg.attributes.update(attributes or {})
    return cfg


def _log_step(*, step: Any, **_kw: Any) -> None:
    """One line per applied migration (Alembic's own INFO lines are silenced)."""
    doc = (step.up_revision.doc or "").strip().splitlines()[0] if step.up_revision is not None else ""
    log.info("database: applied migration %s%s", step.up_revision_id, f" ({doc})" if doc else "")


def upgrade(url: str, revision: str = "head", attributes: Mapping[str, Any] | None = None) -> list[str]:
    """Bring the schema to `revision`; returns the pending heads it found (empty: nothing ran).
    `attributes` reach the migrations (e.g. "sla_targets": the plans' targets that i21 folds
    the tickets' clocks with)."""
    if revision == "head" and current(url) == heads():
        return []
    logging.getLogger("alembic").setLevel(logging.WARNING)  # before the import: its plugins log then
    from alembic import command

    command.upgrade(alembic_config(url, attributes), revision)
    return sorted(heads())


_ASSIGNMENT = re.compile(r"^(revision|down_revision)\b[^=\n]*=(.*)$", re.MULTILINE)


@cache
def heads() -> frozenset[str]:
    """The newest revisions: those no other migration names as its `down_revision`.

    Read from the files' `revision = ...` / `down_revision = ...` lines (a few small reads;
    parsing every migration took ~10 ms, Alembic's ScriptDirectory far more). A file whose
    assignment is not a one-line literal is parsed whole."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _revision_lines(source)
        if found is None:
            found = _revision_assignments(ast.parse(source))
        rev, down = found
        if not isinstance(rev, str):
            continue
        revisions.add(rev)
        if isinstance(down, str):
            parents.add(down)
        elif down:
            parents.update(down)
    return frozenset(revisions - parents)


def _revision_lines(source: str) -> tuple[Any, Any] | None:
    values: dict[str, Any] = {}
    for name, value in _ASSIGNMENT.findall(source):
        try:
            values.setdefault(name, ast.literal_eval(value.strip()))
        except (ValueError, SyntaxError):  # e.g. a tuple over several lines
            return None
    if "revision" not in values:
        return None
    return values["revision"], values.get("down_revision")


def _revision_assignments(tree: ast.Module) -> tuple[Any, Any]:
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    values.setdefault(target.id, ast.literal_eval(node.value))
    return values.get("revision"), values.get("down_revision")


def current(url: str) -> frozenset[str]:
    """The revisions the database is at (empty for a new database)."""
    if url.startswith("sqlite"):
        return _sqlite_current(make_url(url).database or "")
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            try:
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            except Exception:  # no table yet: a new database
                return frozenset()
            return frozenset(rows)
    finally:
        engine.dispose()


def _sqlite_current(path: str) -> frozenset[str]:
    """SQLite with the standard library, read-only: no engine to build (~50 ms of a console's
    start) and no write lock taken."""
    import sqlite3

    if not path or path == ":memory:" or not os.path.exists(path):
        return frozenset()  # a new database (opening it read-only would fail)
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
        try:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return frozenset()  # no table yet: a new database
            raise
    return frozenset(r[0] for r in rows)


def is_current(url: str) -> bool:
    return current(url) == heads()
