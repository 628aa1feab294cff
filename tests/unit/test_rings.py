"""The rings stay true: which of our packages may import which (style.md, "Rings you can see in
the folders"), checked on the source with `ast`, function-level imports included, so a newcomer's
import that crosses a ring fails here rather than in review."""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ("bot", "commands", "storage", "adapters")

# Third-party packages that mean I/O or a framework; the desk takes none of them.
FRAMEWORKS = ("pydantic", "sqlalchemy", "alembic", "aiohttp", "aiosqlite", "psycopg", "irc", "slack_bolt",
              "slack_sdk", "telegram", "prometheus_client", "jaraco")


def ring(module: str) -> str:
    """The ring a module of ours lives in."""
    if module == "bot.desk" or module.startswith("bot.desk."):
        return "desk"
    if module == "bot.runtime" or module.startswith("bot.runtime."):
        return "runtime"
    if module == "bot.ports" or module.startswith("bot.ports."):
        return "ports"
    if module.startswith("bot"):
        return "app"
    return module.split(".")[0]  # commands, storage, adapters


# ring -> the rings it may import. `runtime` may import everything; nothing imports it.
# `ports` (bot/ports/: adapter and repository protocols, row records, desk services) is the
# part of the application that storage and adapters may see.
ALLOWED: dict[str, set[str]] = {
    "desk": {"desk"},
    "ports": {"desk", "ports"},
    "app": {"desk", "ports", "app"},
    "commands": {"desk", "ports", "app", "commands"},
    "storage": {"desk", "ports", "storage"},
    "adapters": {"desk", "ports", "adapters"},
    "runtime": {"desk", "ports", "app", "commands", "storage", "adapters", "runtime"},
}



def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str, ours: set[str]) -> Iterator[str]:
    """Every module an import in the file reaches, at any depth (functions included):
    `from bot import converters` reaches bot.converters, `from bot.ports import X` bot.ports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in ours]
            yield from submodules or [base]


def source_files(root: Path) -> Iterable[Path]:
    for top in OURS:
        for path in sorted((root / top).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def violations(root: Path) -> list[str]:
    """Each import that breaks a ring rule, as `importer -> imported: why`."""
    ours = {module_name(p, root) for p in source_files(root)}
    found: list[str] = []
    for path in source_files(root):
        importer = module_name(path, root)
        mine = ring(importer)
        for name in set(imports(path, importer, ours)):
            top = name.split(".")[0]
            if mine == "desk" and top in FRAMEWORKS:
                found.append(f"{importer} -> {name}: the desk does no I/O and takes no framework")
                continue
            if top not in OURS or name not in ours:
                continue
            theirs = ring(name)
            if theirs not in ALLOWED[mine]:
                found.append(f"{importer} -> {name}: the {mine} ring may not import the {theirs} ring")
            elif mine == "commands" and theirs == "commands" and not _shared_command_module(name, importer):
                found.append(f"{importer} -> {name}: an area never imports another area's module")
    return sorted(found)


def _shared_command_module(name: str, importer: str) -> bool:
    """`commands` (the package) is shared; an area's own submodules are its own."""
    return name == "commands" or name.split(".")[:2] == importer.split(".")[:2]


def cycles(root: Path) -> list[list[str]]:
    """Import circles among our modules (strongly connected components of more than one)."""
    ours = {module_name(p, root) for p in source_files(root)}
    graph: dict[str, set[str]] = {}
    for path in source_files(root):
        m = module_name(path, root)
        graph[m] = {n for n in imports(path, m, ours) if n in ours and n != m and not m.startswith(n + ".")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_import_stays_inside_its_ring() -> None:
    assert violations(ROOT) == []


def test_sql_is_written_only_under_storage() -> None:
    """No module outside storage/ imports SQLAlchemy or Alembic: storage owns every query."""
    ours = {module_name(p, ROOT) for p in source_files(ROOT)}
    outside = sorted(
        f"{module_name(p, ROOT)} -> {name}"
        for p in source_files(ROOT)
        if p.relative_to(ROOT).parts[0] != "storage"
        for name in imports(p, module_name(p, ROOT), ours)
        if name.split(".")[0] in ("sqlalchemy", "alembic")
    )
    assert outside == []


def test_no_import_circle_among_our_modules() -> None:
    assert cycles(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for top in OURS:
        (tmp_path / top).mkdir(exist_ok=True)
    return tmp_path


def test_a_desk_module_importing_the_runtime_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "bot/__init__.py": "",
        "bot/desk/__init__.py": "",
        "bot/desk/sla.py": "def due():\n    from bot.runtime.config import Config\n",
        "bot/runtime/__init__.py": "",
        "bot/runtime/config.py": "import pydantic\n",
    })
    assert violations(root) == ["bot.desk.sla -> bot.runtime.config: the desk ring may not import the runtime ring"]


def test_a_desk_module_taking_a_framework_and_an_adapter_reaching_storage_are_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "bot/__init__.py": "",
        "bot/desk/__init__.py": "",
        "bot/desk/billing.py": "from sqlalchemy import select\n",
        "storage/__init__.py": "",
        "storage/models.py": "",
        "adapters/__init__.py": "",
        "adapters/irc.py": "from storage import models\n",
    })
    assert violations(root) == [
        "adapters.irc -> storage.models: the adapters ring may not import the storage ring",
        "bot.desk.billing -> sqlalchemy: the desk does no I/O and takes no framework",
    ]


def test_an_area_importing_another_area_and_a_circle_are_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "commands/__init__.py": "",
        "commands/tickets.py": "def f():\n    from commands.assist import take_card\n",
        "commands/assist.py": "from commands.tickets import f\n",
    })
    assert violations(root) == [
        "commands.assist -> commands.tickets: an area never imports another area's module",
        "commands.tickets -> commands.assist: an area never imports another area's module",
    ]
    assert cycles(root) == [["commands.assist", "commands.tickets"]]
