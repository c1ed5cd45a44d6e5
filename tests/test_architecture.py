"""The package's shape: no import cycles, and HTTP leaves from one module only."""

from __future__ import annotations

import ast
from pathlib import Path

import doubao_vision

PACKAGE = Path(doubao_vision.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(path: Path) -> set[str]:
    """Modules of this package that ``path`` imports at run time (anywhere in it)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                if target.startswith("doubao_vision"):
                    found.add(target)
                    found.update(f"{target}.{alias.name}" for alias in child.names)
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("doubao_vision"))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in _runtime_imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_no_import_cycles() -> None:
    """No module imports itself back through others (imports under TYPE_CHECKING excepted)."""
    graph = _graph()
    # A package's __init__ re-exports its modules; a module importing its own package's
    # __init__ would be the cycle, so edges into an __init__ from inside it count.
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + "."):
                continue  # a package importing its own submodules is not a cycle
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert not cycles, cycles


def _imports_aiohttp(path: Path) -> bool:
    """``path`` imports aiohttp at run time (imports under TYPE_CHECKING excepted)."""
    found = False

    def visit(node: ast.AST) -> None:
        nonlocal found
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found |= any(a.name.split(".")[0] == "aiohttp" for a in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level:
                found |= (child.module or "").split(".")[0] == "aiohttp"
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_http_is_sent_from_the_transport_only() -> None:
    """Only _transport touches aiohttp's client side; _body only subclasses its Payload,
    and the emulator is a server."""
    users = sorted(
        _module_name(p)
        for p in PACKAGE.rglob("*.py")
        if _imports_aiohttp(p) and ".emulator" not in _module_name(p)
    )
    assert users == ["doubao_vision._body", "doubao_vision._transport"], users
    makers = [p.name for p in PACKAGE.rglob("*.py") if "ClientSession(" in p.read_text("utf-8")]
    assert makers == ["_transport.py"], makers
