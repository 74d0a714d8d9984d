"""The layering of docs/ARCHITECTURE.md holds: imports only point down the layer list."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package -> packages of this project it may import
ALLOWED = {
    "schema": {"schema"},
    "runtime": {"schema", "runtime"},
    "passes": {"schema", "runtime", "passes"},
    "gcc_flow": {"schema", "runtime", "passes", "gcc_flow"},
}


def _project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in ALLOWED)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if path.name.endswith("_pb2.py"):
            continue
        bad = _project_imports(path) - ALLOWED[package]
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
