"""Issue 14 item 9: every public function, method and class of the desk (bot/desk/) and of the
ports (bot/ports/) says in a docstring why it exists and its contract, checked with `ast` so a
new one without it fails here. Left out: names starting with `_` (dunders included), functions
nested in functions, and the read-only fields a Protocol declares as `@property ... : ...` (their
class docstring and bot.toml's comments describe them, as a dataclass's fields are)."""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CHECKED = [*sorted((ROOT / "bot" / "desk").glob("*.py")), *sorted((ROOT / "bot" / "ports").glob("*.py"))]


def _is_protocol(node: ast.ClassDef) -> bool:
    return any(isinstance(b, ast.Name) and b.id == "Protocol" for b in node.bases)


def _is_declared_field(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`@property def name(self) -> T: ...`: a field of a Protocol, not behaviour."""
    is_property = any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list)
    only_ellipsis = (len(node.body) == 1 and isinstance(node.body[0], ast.Expr)
                     and isinstance(node.body[0].value, ast.Constant) and node.body[0].value.value is Ellipsis)
    return is_property and only_ellipsis


def undocumented(path: Path, root: Path = ROOT) -> Iterator[str]:
    """`file:line name` for each public definition of `path` without a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    shown = path.relative_to(root).as_posix()

    def visit(body: list[ast.stmt], prefix: str, protocol: bool) -> Iterator[str]:
        for node in body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if node.name.startswith("_"):
                continue
            field = protocol and not isinstance(node, ast.ClassDef) and _is_declared_field(node)
            if ast.get_docstring(node) is None and not field:
                yield f"{shown}:{node.lineno} {prefix}{node.name}"
            if isinstance(node, ast.ClassDef):
                yield from visit(node.body, f"{prefix}{node.name}.", _is_protocol(node))

    yield from visit(tree.body, "", False)


def test_every_public_definition_of_the_desk_and_the_ports_has_a_docstring() -> None:
    assert [line for path in CHECKED for line in undocumented(path)] == []


def test_a_missing_docstring_is_named_and_protocol_fields_are_not(tmp_path: Path) -> None:
    module = tmp_path / "bot" / "desk" / "rules.py"
    module.parent.mkdir(parents=True)
    module.write_text(textwrap.dedent('''
        from typing import Protocol

        class Spec(Protocol):
            """What a rule is built from."""

            @property
            def name(self) -> str: ...

            def check(self) -> bool: ...

        def due(at):
            def inner():
                return at
            return inner

        def _private():
            return None
    '''), encoding="utf-8")
    assert list(undocumented(module, tmp_path)) == ["bot/desk/rules.py:10 Spec.check", "bot/desk/rules.py:12 due"]
