"""No import circles among ConvLab's own modules (``convlab/`` and ``ui/``), issue 24.

The graph is read from the source with ``ast``, without importing anything: every ``import``
counts, at module level or inside a function (a lazy import still ties the two modules together),
relative ones resolved against the importing module's package.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("convlab", "ui")


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file, for every module of ``PACKAGES`` (a package's ``__init__`` is the package)."""
    names = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names[".".join(parts)] = path
    return names


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours ``name`` runs: itself, or the nearest package holding it (an attribute's)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that ``module`` imports, anywhere in its file."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    with warnings.catch_warnings():  # a string's invalid escape is its module's business, not the graph's
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            # ``from package import name``: the submodule ``name`` if there is one, else the package itself
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(target for target in map(lambda name: _resolve(name, modules), targets) if target)
    found.discard(module)
    return found


def cycles(root: Path = ROOT) -> list[list[str]]:
    """Each group of modules that import one another round a circle (strongly connected, 2 or more)."""
    modules = module_names(root)
    graph = {module: sorted(imports_of(module, modules)) for module in modules}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(module: str) -> None:  # Tarjan's algorithm; the graph is a few dozen modules deep at most
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in graph:
        if module not in index:
            visit(module)
    return sorted(groups)


def test_the_graph_sees_lazy_and_relative_imports():
    modules = module_names()
    assert {"convlab.jobs", "convlab.worker", "ui.state", "ui.views.journey"} <= set(modules)
    assert "convlab.training" in imports_of("convlab.jobformat", modules)  # inside progress_events
    assert "convlab.worker" in imports_of("convlab.jobs", modules)  # inside executor_for_environment
    assert "ui.runs" in imports_of("ui.views", modules)  # from ..runs import Run


def test_no_import_circles():
    found = cycles()
    assert not found, "modules importing one another in a circle: " + "; ".join(" <-> ".join(c) for c in found)


def test_executors_import_the_job_format_not_the_queue():
    modules = module_names()
    for executor in ("convlab.worker", "convlab.cluster"):
        assert "convlab.jobformat" in imports_of(executor, modules)
        assert "convlab.jobs" not in imports_of(executor, modules), executor
    assert "ui.tour" not in imports_of("ui.state", modules)
