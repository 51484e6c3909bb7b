"""The package's shape: no import cycles, no private names across stages, short functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "anomsearch"
#: Longest function body allowed (lines of code, the docstring not counted).
MAX_FUNCTION_LINES = 100


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return out


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    is_package = (PACKAGE.parent / Path(*base) / "__init__.py").exists()
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *(node.module.split(".") if node.module else [])])


def _imports(module: str, tree: ast.Module, *, top_level_only: bool) -> list[tuple[str, str]]:
    """``(imported module, imported name or '')`` of ``module``'s anomsearch imports."""
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # `if TYPE_CHECKING:` only types
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("anomsearch")]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if target.startswith("anomsearch"):
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.append((sub, "") if sub in MODULES else (target, alias.name))
    return found


def _stage(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_module_level_import_cycles() -> None:
    graph = {
        m: {t for t, _ in _imports(m, tree, top_level_only=True) if t in MODULES and t != m}
        for m, tree in MODULES.items()
    }
    # importing a module imports its parent packages first: a package __init__ importing a
    # submodule is the normal re-export, not a cycle, so edges from a module to its own
    # ancestors are dropped
    for m, targets in graph.items():
        graph[m] = {t for t in targets if not m.startswith(t + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_no_private_name_is_imported_from_another_stage() -> None:
    bad = []
    for module, tree in MODULES.items():
        for target, name in _imports(module, tree, top_level_only=False):
            private = (name.startswith("_") and not name.startswith("__")) or any(
                p.startswith("_") and p != "__init__" for p in target.split(".")[1:]
            )
            if private and _stage(target) != _stage(module) and target != "anomsearch._io":
                bad.append(f"{module} imports {target}{'.' + name if name else ''}")
    assert not bad, "\n".join(bad)


def test_no_function_is_longer_than_the_limit() -> None:
    long = []
    for module, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                body = node.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)
                ):
                    n -= body[0].end_lineno - body[0].lineno + 1  # type: ignore[operator]
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {n} lines")
    assert not long, "\n".join(long)


def test_the_top_level_holds_a_handful_of_modules() -> None:
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == ["__init__", "_io", "cli", "exceptions", "progress", "provenance", "workflow"]
