"""The layout's rules that import-linter cannot state (docs/architecture.md): no import circles,
modules under 400 lines, folders of at most about 20 modules."""

from __future__ import annotations

from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("matcher", "registry", "server", "clients", "web")
MAX_LINES = 400
MAX_MODULES = 22  # "about 20"
GENERATED = ("migrations", "_pb2")


def _sources() -> list[Path]:
    roots = [ROOT / p for p in (*PACKAGES, "tests", "bench", "scripts") if (ROOT / p).is_dir()]
    return [
        path
        for root in roots
        for path in root.rglob("*.py")
        if not any(part in str(path) for part in GENERATED)
    ]


def test_no_import_circles() -> None:
    """No module imports, directly or not, a module that imports it (lazy imports included)."""
    packages = [p for p in PACKAGES if (ROOT / p).is_dir()]
    graph = grimp.build_graph(*packages, cache_dir=None)
    circles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                circles.add(" -> ".join((module, *chain)))
    assert not circles, sorted(circles)


def test_modules_are_under_400_lines() -> None:
    """Generated code and migrations aside, every module of the project."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in _sources()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


def test_folders_hold_about_20_modules_at_most() -> None:
    counts: dict[Path, int] = {}
    for path in _sources():
        if path.name != "__init__.py":
            counts[path.parent] = counts.get(path.parent, 0) + 1
    crowded = {str(d.relative_to(ROOT)): n for d, n in counts.items() if n > MAX_MODULES}
    assert not crowded, crowded
