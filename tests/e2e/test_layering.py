"""The layering of docs/ARCHITECTURE.md holds: imports only point down the layer list."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The layer list of docs/ARCHITECTURE.md, bottom first; a unit may import itself and the units
# listed before it. runtime.kernels sits below passes (constant folding runs kernels); the rest
# of runtime (loader, placement and partition at load, executor) sits above passes.
# runtime.state: the support modules stateful kernels need (variables, checkpoint files, the
# rendezvous of Send/Recv); they import only schema.
LAYERS = ["schema", "runtime.state", "runtime.kernels", "passes", "runtime", "gcc_flow"]
STATE_MODULES = {"runtime.resources", "runtime.checkpoint", "runtime.rendezvous"}


def _unit(module: str) -> str:
    if module.startswith("runtime.kernels"):
        return "runtime.kernels"
    if module in STATE_MODULES:
        return "runtime.state"
    return module.split(".")[0]


def _project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "runtime":  # "from runtime import rendezvous": the submodule
                names = [f"runtime.{a.name}" for a in node.names]
        else:
            continue
        found.update(_unit(n) for n in names if _unit(n) in LAYERS)
    return found


def _files(unit: str):
    if unit == "runtime.state":
        yield from (ROOT / (m.replace(".", "/") + ".py") for m in sorted(STATE_MODULES))
        return
    folder = ROOT / unit.replace(".", "/")
    for path in sorted(folder.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if path.name.endswith("_pb2.py") or _unit(module) != unit:
            continue
        yield path


@pytest.mark.parametrize("unit", LAYERS)
def test_imports_point_down(unit):
    allowed = set(LAYERS[:LAYERS.index(unit) + 1])
    offenders = []
    for path in _files(unit):
        bad = _project_imports(path) - allowed
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "layering broken:\n" + "\n".join(offenders)


def test_runtime_runs_a_graph_without_loading_the_frontend(tmp_path):
    fixture = ROOT / "tests" / "fixtures" / "tf" / "mlp.pb"
    script = (
        "import sys, numpy as np, runtime\n"
        f"sess = runtime.load({str(fixture)!r})\n"
        "out = sess.run('probs:0', {'x:0': np.ones((4, 8), np.float32)})\n"
        "assert out.shape[0] == 4 and np.allclose(out.sum(axis=1), 1, rtol=1e-5), out\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'gcc_flow')\n"
        "print('FRONTEND', loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "FRONTEND []" in result.stdout
