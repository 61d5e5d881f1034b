"""The layout of DESIGN §2, checked: imports flow one way and the engine stays pure.

Every import counts, including those inside functions (a function-local import hides a cycle; it
does not remove it). Tests are left out: they may import whatever they exercise.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("allocator", "bookings", "flags", "observability", "reservex", "locustfiles", "bench")
DOMAIN_APPS = ("bookings", "allocator", "flags", "observability")
# Which domain app may import which (DESIGN §2): bookings → allocator, flags, observability;
# flags → observability; allocator and observability import no other domain app.
ALLOWED = {
    "bookings": {"allocator", "flags", "observability"},
    "flags": {"observability"},
    "observability": set(),
    "allocator": set(),
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts or path.name.startswith("test_"):
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Return the project modules ``module`` imports, resolved to the longest known name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    resolved = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            resolved.add(name)
    return resolved


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, set(modules)) for name, path in modules.items()}


def test_no_module_imports_itself_back_through_others() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_domain_apps_import_only_downwards() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if (app := module.split(".")[0]) in ALLOWED
        and (other := target.split(".")[0]) in DOMAIN_APPS
        and other != app
        and other not in ALLOWED[app]
    )
    assert not wrong, "\n".join(wrong)


def test_the_engine_imports_nothing_of_ours_and_nothing_of_django() -> None:
    impure = []
    for path in (ROOT / "allocator").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            impure += [
                f"{path.name}: {root}"
                for root in roots
                if root in {"django", "rest_framework", *APPS} - {"allocator"}
            ]
    assert not impure, impure
