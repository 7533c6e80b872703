"""The layout holds: no import cycle (function-local imports included), no module over 400 lines, the layers
contract kept, and nothing in the wheel that runs apt-get or dpkg-deb (the recipes that do live in recipes/)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "src", *sorted((ROOT / "integrations").glob("*/src"))]
MAX_LINES = 400


def _modules() -> list[Path]:
    return [p for src in SOURCES for p in src.rglob("*.py")]


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: split them by role: {long}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                scc = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    scc.append(top)
                    if top == node:
                        break
                if len(scc) > 1:
                    out.append(sorted(scc))
    return out


@pytest.mark.parametrize("package", ["recallrank", "haystack_integrations", "llama_index"])
def test_no_import_cycle_function_local_imports_included(package: str) -> None:
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph(package, cache_dir=None)
    own = {m for m in graph.modules if not m.startswith("llama_index.core")
           and (package != "llama_index" or "recallrank" in m)
           and (package != "haystack_integrations" or "recallrank" in m)}
    # a package's __init__ re-exporting its modules is not a cycle: the edge from a module to its own package's
    # __init__ is left out only where that __init__ imports nothing back from the module importing it
    deps = {m: {d for d in graph.find_modules_directly_imported_by(m) if d in own} for m in own}
    cycles = _cycles(deps)
    assert not cycles, "import cycles (each list is one strongly connected set of modules):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_the_layers_contract_is_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed (pip install 'recallrank[dev]')")
    run = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]


def test_the_wheel_holds_no_recipe_that_runs_apt(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(tmp_path.glob("recallrank-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        offenders = [n for n in zf.namelist() if n.endswith(".py")
                     and any(word in zf.read(n).decode("utf-8", "replace") for word in ("apt-get", "dpkg-deb"))]
    assert not offenders, f"the wheel ships recipes that run apt-get/dpkg-deb; move them to recipes/: {offenders}"
