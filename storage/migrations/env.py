"""Alembic environment: runs synchronously (stdlib sqlite3 / psycopg 3) on a URL the caller
passes in `config.attributes["url"]`; the bot runs it in a thread at start."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from storage.models import migration_metadata

config = context.config
target_metadata = migration_metadata()  # the models and the partial indexes


def run_migrations_online() -> None:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
        # One log line per applied migration (storage.schema); Alembic's own INFO is silenced.
        on_version_apply=config.attributes.get("on_version_apply"),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
