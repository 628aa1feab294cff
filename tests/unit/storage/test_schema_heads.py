"""The newest migration is known without importing Alembic (a scripted console pays for every
import), and the answer agrees with Alembic's own."""

from __future__ import annotations

import sys

from storage import schema


def test_heads_read_from_the_migration_files_match_alembic() -> None:
    from alembic.script import ScriptDirectory

    alembic_heads = set(ScriptDirectory.from_config(schema.alembic_config("sqlite://")).get_heads())
    assert set(schema.heads()) == alembic_heads
    assert len(alembic_heads) == 1  # one head: new migrations have one parent


def test_a_current_database_is_opened_without_importing_alembic(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    url = f"sqlite:///{tmp_path / 'desk.db'}"
    schema.upgrade(url)
    probe = (
        "import sys; from storage import schema; "
        f"assert schema.upgrade({url!r}) == []; "
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
