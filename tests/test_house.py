"""The layout: the top level shows the talk, the machinery lives once in toolkit/,
its modules import each other without a circle, and importing them changes nothing
in the process until a mode is chosen."""
import ast
import json
import subprocess
import sys

import pytest

from helpers import ROOT

TALK = {"0_multiply.py", "1_linear_regression.py", "2_logistic_regression.py", "3_net.py",
        "4_modern_net.py", "5_convolutional_net.py", "knn_baseline.py", "load.py", "figures.py"}
FOLDERS = {"toolkit", "tests", "bench", "data", "results"}
CONFIGURATION = {"README.md", "requirements.txt", "pytest.ini", ".gitignore"}
MODULES = sorted(p.stem for p in (ROOT / "toolkit").glob("*.py") if p.stem != "__init__")


def test_top_level_shows_the_talk():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    top = {line.split("/")[0] for line in tracked.stdout.splitlines()}
    top.discard(".ci")
    assert top == TALK | FOLDERS | CONFIGURATION


def imported_toolkit_modules(module):
    """toolkit modules that `module` imports, at its top or inside a function."""
    tree = ast.parse((ROOT / "toolkit" / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "toolkit":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("toolkit."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("toolkit."))
    return found


def test_no_import_circle():
    graph = {m: imported_toolkit_modules(m) for m in MODULES}
    assert all(deps <= set(MODULES) for deps in graph.values()), graph

    def reaches(start, target, seen=()):
        return any(d == target or (d not in seen and reaches(d, target, seen + (d,)))
                   for d in graph[start])
    assert [m for m in MODULES if reaches(m, m)] == []
    assert "backends" not in graph["ops"] and "ops" not in graph["blas"]
    assert "ops" not in graph["c_rewrites"]  # the kernels' framework is ckernel


STATE = """
import json, os, sys, warnings
import pytensor
from pytensor.compile import optdb
def state():
    return {"config": {k: str(getattr(pytensor.config, k)) for k in
                       ("floatX", "mode", "linker", "blas__ldflags")},
            "rewrites": sorted(optdb._names), "filters": len(warnings.filters),
            "excepthook": repr(sys.excepthook), "environ": dict(os.environ),
            "jax_loaded": "jax" in sys.modules and sys.modules["jax"].config.jax_enable_x64}
"""


def test_importing_changes_nothing_until_a_mode_is_chosen():
    code = STATE + f"""
before = state()
import importlib
for name in {MODULES!r}:
    module = importlib.import_module("toolkit." + name)
    importlib.reload(module)  # a notebook's %autoreload
after = state()
from toolkit import backends
backends.compile_mode("C"); backends.compile_mode("JAX")
for name in {MODULES!r}:
    importlib.reload(importlib.import_module("toolkit." + name))
backends.compile_mode("JAX")  # registering again after a reload is fine
chosen = state()
print(json.dumps([before, after, chosen]))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    before, after, chosen = json.loads(result.stdout.splitlines()[-1])
    before["environ"].pop("JAX_PLATFORMS", None), after["environ"].pop("JAX_PLATFORMS", None)
    assert after == before
    assert chosen["config"]["blas__ldflags"] != before["config"]["blas__ldflags"]
    assert {"c_inline_softmax", "jax_shape_arithmetic"} <= set(chosen["rewrites"])


def test_args_mode_is_always_a_pytensor_mode():
    from pytensor.compile.mode import Mode

    from toolkit import training
    for mode in ("C", "NUMBA", "JAX"):
        args = training.parse_args(argv=["--mode", mode])
        assert isinstance(args.mode, Mode) and args.mode_name == mode
    sys.excepthook = sys.__excepthook__
