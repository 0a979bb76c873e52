"""The exercises' checker, run as a learner runs it (python -m exercises, in a
subprocess): every solution passes, from a file outside the repository too; every
stub, as committed, is "not done yet"; each wrong answer in exercises_wrong/ is
caught with its hint and no traceback of the checker."""
import re
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT

NAMES = ["knn", "gradient", "softmax", "sgd", "modern", "conv"]
WRONG = ROOT / "tests" / "exercises_wrong"
# each wrong answer: what its hint must say (a few words of it)
HINTS = {
    "knn_squared": "square root", "knn_loop": "no Python loop",
    "knn_comprehension": "no Python loop", "knn_negative": "negative",
    "knn_transposed": "one row per test image", "knn_uint8": "uint8",
    "knn_no_test_norm": "by hand",
    "gradient_no_two": "u^2", "gradient_sum": "not a sum", "gradient_sign": "sign",
    "gradient_no_chain": "chain rule", "gradient_no_mean": "mean over the batch",
    "gradient_t_grad": "by hand", "gradient_numpy": "gradient_numpy.py, line 6",
    "softmax_naive": "overflows", "softmax_columns": "normalizes the columns",
    "softmax_global_max": "each row needs its own",
    "softmax_broadcast": "softmax_broadcast.py, line 7",
    "softmax_builtin": "your own",
    "sgd_plus": "uphill", "sgd_fixed_lr": "use the lr given", "sgd_first_only": "all the params",
    "sgd_reversed": "its own gradient", "sgd_no_lr": "scaled by the learning rate",
    "modern_epsilon_outside": "inside the square root", "modern_acc_not_kept": "update of its own",
    "modern_old_acc": "new running average", "modern_rho_swapped": "rho weighs the old",
    "modern_no_rescale": "must grow", "modern_rescale_by_p": "fraction 1 - p",
    "modern_keep_p": "probability to drop", "modern_one_mask_per_column": "X's shape",
    "modern_float64_mask": "float32",
    "conv_correlation": "correlation", "conv_flip_one_axis": "one way only",
    "conv_full_pad_k": "kh - 1", "conv_full_pad_one_side": "on each side",
    "conv_pool_drops_edge": "partial window", "conv_pool_zero_padding": "padding with zeros",
    "conv_pool_mean": "largest pixel", "conv_pool_ds_swapped": "conv_pool_ds_swapped.py, line",
}


def exercises(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "exercises", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def committed(path):
    """The file as committed (a fresh clone's), or as it is outside a git checkout."""
    shown = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True,
                           text=True)
    return shown.stdout if shown.returncode == 0 else (ROOT / path).read_text()


def test_the_list_names_the_six_and_where_they_stand():
    result = exercises()
    assert result.returncode == 0, result.stderr
    for name in NAMES:
        line = next(line for line in result.stdout.splitlines() if line.startswith(name + " "))
        assert re.search(r"right|wrong|not done yet", line), line
        assert f"exercises/{name}.py" in line


@pytest.mark.parametrize("name", NAMES)
def test_a_fresh_stub_is_not_done_yet(name, tmp_path):
    stub = tmp_path / f"{name}.py"
    stub.write_text(committed(f"exercises/{name}.py"))
    result = exercises("check", name, "--file", stub)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not done yet" in result.stdout and "NotImplementedError" in result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_the_stub_is_a_notebook_without_its_answer(name):
    text = committed(f"exercises/{name}.py")
    assert text.startswith("# %% [markdown]\n# # Exercise: ")
    assert "Slide" in text and "# %%\n" in text and 'check("' + name + '")' in text
    assert text.count("raise NotImplementedError") == text.count("\ndef ")


@pytest.mark.parametrize("name", NAMES)
def test_each_solution_passes_from_outside_the_repository(name, tmp_path):
    copy = tmp_path / "elsewhere" / f"my_{name}.py"
    copy.parent.mkdir()
    shutil.copy(ROOT / "exercises" / "solutions" / f"{name}.py", copy)
    result = exercises("check", name, "--file", copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"{name}: right")


def test_the_default_file_is_the_one_in_exercises():
    by_default, named = exercises("check", "softmax"), exercises(
        "check", "softmax", "--file", "exercises/softmax.py")
    assert by_default.returncode == named.returncode
    assert "exercises/softmax.py" in by_default.stdout


@pytest.mark.parametrize("wrong", sorted(p.stem for p in WRONG.glob("*.py")))
def test_each_wrong_answer_is_caught_with_its_hint(wrong):
    name = wrong.split("_")[0]
    result = exercises("check", name, "--file", WRONG / f"{wrong}.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = dict(re.findall(r"^  (\w+): +(.*)$", result.stdout, re.M))
    assert {"tried", "hint"} <= lines.keys(), result.stdout
    assert HINTS[wrong] in result.stdout, result.stdout


def test_every_wrong_answer_has_its_hint_listed():
    assert sorted(p.stem for p in WRONG.glob("*.py")) == sorted(HINTS)


def test_bad_usage_is_status_2(tmp_path):
    assert exercises("check", "nonsense").returncode == 2
    assert exercises("check", "knn", "--file", tmp_path / "missing.py").returncode == 2


def test_a_bad_pytensor_setting_is_one_line():
    """The checks import PyTensor, which reads PYTENSOR_FLAGS as it is imported."""
    import os
    env = {**os.environ, "PYTENSOR_FLAGS": "mode=NOPE"}
    result = subprocess.run([sys.executable, "-m", "exercises", "check", "modern"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "mode" in result.stderr and "PYTENSOR_FLAGS" in result.stderr


def test_a_learners_syntax_error_shows_their_line(tmp_path):
    broken = tmp_path / "knn.py"
    broken.write_text("import numpy as np\n\n\ndef distances(test, train)\n    return 0\n")
    result = exercises("check", "knn", "--file", broken)
    assert result.returncode == 1 and "line 4" in result.stdout and "SyntaxError" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_in_a_notebook_check_looks_at_the_notebooks_functions():
    """The stub's check cell, run where the notebook runs (exercises/), after a cell
    that defines the solution: the verdict printed under the cell."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    notebook = jupytext.read(ROOT / "exercises" / "softmax.py")
    solution = jupytext.reads((ROOT / "exercises" / "solutions" / "softmax.py").read_text(),
                              fmt="py:percent")
    notebook.cells[-1:-1] = solution.cells  # the learner's answer, before the check cell
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "exercises")}}).execute()
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].get("outputs", []))
    assert printed.startswith("softmax: right (this notebook)"), printed
