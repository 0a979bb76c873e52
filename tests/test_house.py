"""The layout: the top level shows the talk, the machinery lives once in toolkit/,
its modules import each other without a circle, importing them changes nothing
in the process until a mode is prepared, and data flows one way: scripts write
files, everything else reads them."""
import ast
import json
import subprocess
import sys

import pytest

from helpers import ROOT

TALK = {"0_multiply.py", "1_linear_regression.py", "2_logistic_regression.py", "3_net.py",
        "4_modern_net.py", "5_convolutional_net.py", "knn_baseline.py", "load.py", "figures.py"}
FOLDERS = {"toolkit", "tools", "tests", "bench", "data", "results", "exercises", "docs"}
MODULES = sorted(p.stem for p in (ROOT / "toolkit").glob("*.py") if p.stem != "__init__")
NUMBERED = sorted(p.name for p in ROOT.glob("[0-9]_*.py"))


def tracked_files():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    return tracked.stdout.splitlines()


def test_top_level_shows_the_talk():
    """Every Python file at the top is the talk's, every folder one of FOLDERS; other
    files (README, requirements, a LICENSE one day) may sit beside them."""
    files = tracked_files()
    top_python = {f for f in files if "/" not in f and f.endswith(".py")}
    folders = {f.split("/")[0] for f in files if "/" in f} - {".ci"}
    assert top_python == TALK
    assert folders == FOLDERS


def test_nothing_outside_a_script_reads_its_source():
    """Data flows one way: nothing in the machinery, figures.py, bench/ or the
    loaders parses, execs or introspects a script's source, or names its globals.
    One exception, by design: tools/slide_copy.py makes what a learner makes by hand,
    a copy of a slide's code in a file of their own (tests/test_copy_a_slide.py and
    bench/copy_a_slide.py train that copy); nothing the scripts run reads it."""
    pattern = r"ast\.parse|exec\(|inspect\.signature|slide_functions|SCRIPT_VARIABLES"
    found = subprocess.run(["git", "grep", "-nE", pattern, "--", "toolkit", "tools",
                            "figures.py", "bench", "load.py", "knn_baseline.py",
                            ":!tools/slide_copy.py"],
                           cwd=ROOT, capture_output=True, text=True)
    if found.returncode == 128:
        pytest.skip("not a git checkout")
    assert found.stdout == ""


def test_no_numbered_script_imports_figures():
    for script in NUMBERED:
        tree = ast.parse((ROOT / script).read_text())
        imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for a in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "figures" not in imported, script


def test_one_root():
    """The repository's root is computed once, in toolkit/__init__.py."""
    found = subprocess.run(["git", "grep", "-nE", r"^ROOT = |\bROOT = Path"], cwd=ROOT,
                           capture_output=True, text=True)
    if found.returncode == 128:
        pytest.skip("not a git checkout")
    assert [line.split(":")[0] for line in found.stdout.splitlines()] == ["toolkit/__init__.py"]


def imported_toolkit_modules(module):
    """toolkit modules that `module` imports, at its top or inside a function."""
    tree = ast.parse((ROOT / "toolkit" / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "toolkit":
            found.update(alias.name for alias in node.names if alias.name != "ROOT")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("toolkit."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("toolkit."))
    return found


# Imports made by functions that PyTensor calls while it compiles a graph for Numba or
# JAX (ops.numba_versions, ops.jax_versions), long after every module is loaded:
# ops has its backends' versions registered then, and those modules import ops.
AT_COMPILE_TIME = {"ops": {"ops_numba", "ops_jax"}}


def test_no_import_circle():
    graph = {m: imported_toolkit_modules(m) - AT_COMPILE_TIME.get(m, set()) for m in MODULES}
    assert all(deps <= set(MODULES) for deps in graph.values()), graph

    def reaches(start, target, seen=()):
        return any(d == target or (d not in seen and reaches(d, target, seen + (d,)))
                   for d in graph[start])
    assert [m for m in MODULES if reaches(m, m)] == []
    assert "backends" not in graph["ops"] and "ops" not in graph["blas"]
    # ops are Theano's functions and their kernels; --mode C's rewrites use them
    assert "c_rewrites" not in graph["ops"] and "backends" not in graph["c_rewrites"]


def test_the_machinery_does_not_import_the_lesson():
    """load.py is the talk's loader, for the scripts; toolkit/ holds what it calls
    (mnist_files, digits), never the other way round."""
    for module in MODULES + ["__init__"]:
        tree = ast.parse((ROOT / "toolkit" / f"{module}.py").read_text())
        imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for a in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "load" not in imported, module


STATE = """
import json, os, sys, warnings
import pytensor
from pytensor.compile import optdb
def state():
    return {"config": {k: str(getattr(pytensor.config, k)) for k in
                       ("floatX", "mode", "linker", "blas__ldflags")},
            "rewrites": sorted(optdb._names), "filters": len(warnings.filters),
            "excepthook": repr(sys.excepthook), "environ": dict(os.environ),
            "jax_loaded": "jax" in sys.modules and sys.modules["jax"].config.jax_enable_x64,
            "numba_loaded": "numba" in sys.modules}
"""


# What PyTensor's first compile for Numba imports (ops.numba_versions): importing it
# imports numba and PyTensor's Numba backend, as that compile would
COMPILE_TIME_MODULES = {"ops_numba"}


def test_importing_changes_nothing_until_a_mode_is_chosen():
    modules = [m for m in MODULES if m not in COMPILE_TIME_MODULES]
    code = STATE + f"""
before = state()
import importlib
for name in {modules!r}:
    module = importlib.import_module("toolkit." + name)
    importlib.reload(module)  # a notebook's %autoreload
after = state()
from toolkit import backends
backends.compile_mode("C"); backends.compile_mode("JAX")
for name in {modules!r}:
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
    # importing ops registers, and only registers, what has PyTensor's Numba and JAX
    # compiles find the Ops' versions, and the Numba compiles fuse the pools (neither
    # numba nor jax is imported)
    hooks = {"toolkit_numba_versions", "toolkit_jax_versions", "toolkit_numba_fused_pools"}
    assert set(after.pop("rewrites")) - set(before.pop("rewrites")) == hooks
    assert after == before
    assert chosen["config"]["blas__ldflags"] != before["config"]["blas__ldflags"]
    assert {"c_inline_softmax"} | hooks <= set(chosen["rewrites"])


def test_parsing_only_parses_and_prepare_gives_a_pytensor_mode():
    """parse_args leaves --mode a string and PyTensor's flags as they were; the
    backend is prepared by the call the script makes, backends.prepare."""
    import pytensor
    from pytensor.compile.mode import Mode

    from toolkit import backends, training
    flags = pytensor.config.blas__ldflags
    args = training.parse_args(argv=["--mode", "NUMBA"])
    assert args.mode == "NUMBA" and pytensor.config.blas__ldflags == flags
    for mode in ("C", "NUMBA", "JAX"):
        args = training.parse_args(argv=["--mode", mode])
        assert isinstance(backends.prepare(args), Mode)


def code_lines(path):
    """Lines holding code: not blank, not only a comment, not part of a docstring."""
    import io
    import tokenize
    source = path.read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(getattr(node.value, "value", None), str):
            docstrings.update(range(node.lineno, node.end_lineno + 1))
    code = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            code.update(range(token.start[0], token.end[0] + 1))
    return len(code - docstrings)


# The talk's own code lines per slide script (25, 36, 58, 71) plus 11 for PyTensor's
# settings check, the command line, backend, saving, resuming and logging, plus the project's own cells (script 2's
# look inside, script 5's digit): the lesson stays in front of the machinery.
CODE_BUDGET = {"load.py": 60, "2_logistic_regression.py": 47, "3_net.py": 46,
               "4_modern_net.py": 69, "5_convolutional_net.py": 88}


@pytest.mark.parametrize("name, budget", CODE_BUDGET.items())
def test_the_lesson_files_stay_close_to_their_slides(name, budget):
    assert code_lines(ROOT / name) <= budget
