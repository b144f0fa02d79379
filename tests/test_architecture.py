"""The layout's rules, read from the imports of the source (docs/architecture.md draws them).

Every import counts, at module level or inside a function: an arrow runs only down the floors,
no module imports itself back through others, nothing private crosses from one room to another,
and torch is imported only where a network runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "factorprobe"

# Rooms from the bottom floor up; a room may import its own floor's shared core and any room
# on a lower floor, never one on its own floor or above.
FLOORS: list[tuple[str, ...]] = [
    ("_version", "dims", "_validation", "_options", "_deprecated", "scheduler"),
    ("io",),
    ("stimuli",),
    ("probing",),
    ("analysis",),
    ("interventions",),
    ("report",),
    ("pipeline",),
    ("cli", "__init__"),
]
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}
# The core's private modules are the package's shared helpers, meant for every room: the
# version, argument checks, every option's choices and defaults, and the deprecation shims.
SHARED_PRIVATE = {"_version", "_validation", "_options", "_deprecated"}
# Rooms that run a network and may import torch.
TORCH_ROOMS = {"probing", "interventions"}
# Shims for the paths that moved in 0.2 (one release): they import their new place, wherever
# it is, and are exempt from the floors.
SHIMS = {
    "factorprobe.files",
    "factorprobe.tables",
    "factorprobe.cluster",
    "factorprobe.run",
    "factorprobe.config",
    "factorprobe.probing.store",
    "factorprobe.analysis.ablation",
    "factorprobe.analysis.input_gradients",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_package(module: str) -> bool:
    return _modules()[module].name == "__init__.py"


@cache
def _imports(module: str) -> tuple[tuple[str, str, int], ...]:
    """``(imported module, imported name or "", line)`` for every import of ``module``."""
    path = _modules()[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, "", node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if _is_package(module) else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = ".".join(p for p in (base, node.module) if p)
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in _modules():  # "from package import submodule"
                    found.append((sub, "", node.lineno))
                else:
                    found.append((source, alias.name, node.lineno))
    return tuple(found)


def _internal(module: str) -> bool:
    return module == "factorprobe" or module.startswith("factorprobe.")


def test_imports_run_only_down_the_floors():
    wrong = []
    for module in _modules():
        if module in SHIMS:
            continue
        here = _room(module)
        for target, _, line in _imports(module):
            if not _internal(target) or target in SHIMS:
                continue
            there = _room(target)
            if there == here:
                continue
            if FLOOR[there] >= FLOOR[here] and not (here == "__init__" and there != "__init__"):
                wrong.append(f"{module}:{line} imports {target} ({there} is not below {here})")
    assert not wrong, "\n".join(wrong)


def test_no_private_name_crosses_rooms():
    wrong = []
    for module in _modules():
        if module in SHIMS:
            continue
        here = _room(module)
        for target, name, line in _imports(module):
            if not _internal(target) or _room(target) == here:
                continue
            parts = target.split(".")[1:]
            private = [p for p in parts if p.startswith("_") and p not in SHARED_PRIVATE]
            if private or (name.startswith("_") and name != "__version__"):
                wrong.append(f"{module}:{line} imports {name or target} from {target}")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back():
    graph: dict[str, set[str]] = {m: set() for m in _modules()}
    for module in _modules():
        for target, _, _ in _imports(module):
            if target in graph and target != module:
                # a package's __init__ gathering its own modules is how packages work
                if _is_package(module) and target.startswith(module + "."):
                    continue
                graph[module].add(target)
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(circles)


def test_torch_is_imported_only_where_a_network_runs():
    wrong = []
    for module in _modules():
        if _room(module) in TORCH_ROOMS or module in SHIMS:
            continue
        for target, _, line in _imports(module):
            if target.split(".")[0] in {"torch", "timm", "torchvision", "safetensors"}:
                wrong.append(f"{module}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_array_engine_sees_no_labels():
    engine = [m for m in _modules() if m.startswith("factorprobe.analysis._kernels")]
    assert engine
    for module in engine:
        for target, _, line in _imports(module):
            top = target.split(".")[0]
            assert top not in {"xarray", "pandas", "torch"}, f"{module}:{line} imports {target}"
            if _internal(target):
                assert target.startswith("factorprobe.analysis._kernels"), f"{module}:{line}"


@pytest.mark.parametrize("command", ["analyze", "report"])
def test_analyze_and_report_do_not_import_torch(tmp_path, command):
    from factorprobe.analysis.planted import planted_units
    from factorprobe.io.store import to_netcdf

    results = tmp_path / "res"
    results.mkdir()
    acts = planted_units(n_units=6, seed=0)
    to_netcdf(acts, results / "activations.nc")
    from factorprobe.cli import main

    assert main(["analyze", str(results), "--quiet"]) == 0
    code = (
        "import sys\n"
        "from factorprobe.cli import main\n"
        f"code = main([{command!r}, {str(results)!r}, '--quiet'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'timm'))\n"
        "print(code, len(loaded), loaded[:3])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["0", "0"], done.stdout
