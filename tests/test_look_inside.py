"""What PyTensor made of each graph: the last cells of scripts 0-2 print what they
claim, on each backend they print it for, and figures.py draws scripts 0's and 1's
graphs from PyTensor's own graph objects."""
import itertools
import os
import re

import numpy as np
import pytest

from helpers import run, run_script

BACKENDS = ["C", "NUMBA", "JAX"]
NEEDS = {"C": None, "NUMBA": "numba", "JAX": "jax"}  # what a backend imports


def needs(mode):
    if NEEDS[mode]:
        pytest.importorskip(NEEDS[mode])


def with_flags(mode):
    """The environment of a user who runs a slide script on this backend."""
    return {**os.environ, "PYTENSOR_FLAGS": f"mode={mode}"}


def between(text, start, end=None):
    """The lines printed after the line `start` and before the line `end` (or the end)."""
    lines = text.splitlines()
    assert start in lines, f"no line {start!r} in:\n{text}"
    after = lines[lines.index(start) + 1:]
    if end is not None:
        assert end in after, f"no line {end!r} after {start!r} in:\n{text}"
        after = after[:after.index(end)]
    return after


# --- 0_multiply.py --------------------------------------------------------------------

@pytest.mark.parametrize("mode", BACKENDS)
def test_multiply_prints_its_graph_as_written_and_compiled(mode):
    needs(mode)
    printed = run("0_multiply.py", env=with_flags(mode)).stdout
    assert printed.split()[:2] == ["2.0", "9.0"]  # the slide's own lines come first
    written = between(printed, "y = a * b, as written:", "multiply, as compiled:")
    assert written[0].startswith("Mul ") and len(written) == 3, written
    assert "a [id" in written[1] and "b [id" in written[2], written
    compiled = between(printed, "multiply, as compiled:")
    assert compiled[0].startswith("Mul "), compiled


def test_multiply_shows_the_multiplication_in_the_c_it_compiled():
    printed = run("0_multiply.py", env=with_flags("C")).stdout
    headers = [line for line in printed.splitlines() if line.startswith("the C++")]
    assert len(headers) == 1, printed
    header = headers[0]
    total = int(re.search(r"(\d+) lines", header)[1])
    excerpt = between(printed, header)
    assert 0 < len(excerpt) <= 10 < total, (header, excerpt)  # the loop, not the module
    assert any(re.fullmatch(r"V\d+_i = V\d+_i \* V\d+_i;", line) for line in excerpt), excerpt


@pytest.mark.parametrize("mode, compiler, function",
                         [("NUMBA", "Numba", "numba_funcified_fgraph"),
                          ("JAX", "JAX", "jax_funcified_fgraph")])
def test_multiply_shows_the_python_written_for_numba_and_jax(mode, compiler, function):
    needs(mode)
    printed = run("0_multiply.py", env=with_flags(mode)).stdout
    source = between(printed, f"the Python that PyTensor writes for {compiler} to compile:")
    assert source[0] == f"def {function}(a, b):", source
    assert "    # Mul(a, b)" in source and source[-1].strip().startswith("return"), source


# --- 1_linear_regression.py -----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("mode", BACKENDS)
def test_linear_regression_prints_the_derivative_before_and_after_rewriting(mode):
    needs(mode)
    printed = run("1_linear_regression.py", env=with_flags(mode)).stdout
    assert printed.splitlines()[0].startswith("learned slope w = ")  # the slide's, first
    [written] = between(printed, "T.grad's derivative of the cost, as written:",
                        "the derivative, compiled:")
    [compiled] = between(printed, "the derivative, compiled:", "train, as compiled:")
    assert "fill(" in written and "Sqr(" in written, written  # the chain rule, step by step
    assert compiled.startswith("Composite{") and compiled.endswith("}(X, Y, w)"), compiled
    assert len(compiled) < len(written) / 2
    train = "\n".join(between(printed, "train, as compiled:"))
    assert "0.02" in train and "0.01" not in train, train  # 2 * lr, folded into one constant


def test_the_printed_derivative_is_the_one_pytensor_computes():
    """The simplified formula the last cell prints, evaluated at a point, with i0, i1,
    i2 the inputs it names, is what the script's own T.grad graph computes there."""
    import pytensor
    script = run_script("1_linear_regression.py")
    [compiled] = between(script["printed"], "the derivative, compiled:", "train, as compiled:")
    formula, names = re.fullmatch(r"Composite\{(.+)\}\((.+)\)", compiled).groups()
    point = {"X": 0.75, "Y": -0.5, "w": 1.25}  # exact in float32
    inputs = {f"i{k}": point[name] for k, name in enumerate(names.split(", "))}
    assert set(re.findall(r"[a-z_]\w*", formula)) <= set(inputs), formula  # arithmetic only
    printed_value = eval(formula, {"__builtins__": {}}, inputs)
    script["w"].set_value(np.float32(point["w"]))
    gradient = pytensor.function([script["X"], script["Y"]], script["gradient"])
    assert printed_value == pytest.approx(float(gradient(point["X"], point["Y"])), rel=1e-5)


# --- 2_logistic_regression.py ---------------------------------------------------------

SHORT = ("--epochs", 1, "--ntrain", 1000, "--ntest", 1000)


@pytest.mark.parametrize("mode", [BACKENDS[0], *[pytest.param(m, marks=pytest.mark.slow)
                                                 for m in BACKENDS[1:]]])
def test_logistic_regression_prints_the_cross_entropy_rewritten(mode):
    needs(mode)
    printed = run("2_logistic_regression.py", *SHORT, "--mode", mode).stdout
    heading = f"the cross-entropy, as compiled for --mode {mode}:"
    written = "\n".join(between(printed, "the cross-entropy, as written:", heading))
    compiled = "\n".join(between(printed, heading))
    assert "Log [id" in written and "Softmax{axis=(1,)} [id" in written, written
    if mode == "C":  # LogSoftmax opened into its steps: x - max(x) - log(sum(exp(x - max(x))))
        assert "Softmax" not in compiled, compiled
        for step in ("Max{axis=1} [id", "Exp [id", "Log [id", "Sub [id"):
            assert step in compiled, (step, compiled)
    else:
        assert "LogSoftmax{axis=(1,)} [id" in compiled and "Log [id" not in compiled, compiled


@pytest.mark.parametrize("mode", ["C", "NUMBA"])
def test_the_scripts_own_train_function_never_takes_the_log_of_a_softmax(mode):
    """What the last cell shows of the cross-entropy is what the script's training step
    runs: no Log reads a Softmax; NUMBA keeps a LogSoftmax, C opens it into its steps."""
    from pytensor.scalar import Log
    from pytensor.tensor.special import LogSoftmax, Softmax
    needs(mode)
    script = run_script("2_logistic_regression.py", *SHORT, "--mode", mode)
    nodes = script["train"].maker.fgraph.toposort()
    logs = [n for n in nodes if isinstance(getattr(n.op, "scalar_op", None), Log)]
    assert not [n for n in logs if n.inputs[0].owner
                and isinstance(n.inputs[0].owner.op, Softmax)]
    log_softmaxes = [n for n in nodes if isinstance(n.op, LogSoftmax)]
    assert (len(log_softmaxes) > 0) == (mode == "NUMBA"), nodes


# --- figures.py's pictures of the graphs ------------------------------------------------

def check_places(layout):
    """Every arrow goes one row down, and no two boxes of a row overlap."""
    import figures
    boxes = layout.boxes
    assert all(boxes[b].layer == boxes[a].layer + 1 for a, b in layout.edges)
    for layer in {box.layer for box in boxes}:
        row = sorted((box for box in boxes if box.layer == layer), key=lambda box: box.x)
        for left, right in itertools.pairwise(row):
            assert right.x - left.x >= (figures.width(left) + figures.width(right)) / 2


def test_the_multiply_picture_is_laid_out_from_its_graphs():
    import figures
    written, compiled = figures.multiply_graphs()
    for layout in (figures.graph_layout(written),
                   figures.graph_layout(dict(zip(written, compiled.maker.fgraph.outputs)))):
        assert layout.labels("op") == ["Mul"]
        assert sorted(layout.labels("input")) == ["a", "b"]
        assert layout.labels("output") == ["y"] and layout.fused == []
        check_places(layout)


def test_the_linear_regression_picture_opens_the_fused_loop():
    import figures
    written, train = figures.linear_regression_graphs()
    assert list(written) == ["cost", "new w"]
    as_written = figures.graph_layout(written)
    as_compiled = figures.graph_layout(dict(zip(written, train.maker.fgraph.outputs)))
    assert {"Second", "Sqr", "Mul", "Sub"} <= set(as_written.labels("op"))  # T.grad's steps
    assert {"2", "0.01"} <= set(as_written.labels("constant"))
    [loop] = as_compiled.fused  # the whole step is one Composite ...
    ops = [i for i, box in enumerate(as_compiled.boxes) if box.kind == "op"]
    assert set(ops) <= set(loop) and len(ops) < len(as_written.labels("op"))
    assert "0.02" in [as_compiled.boxes[i].label for i in loop]  # ... with 2 * lr folded in
    assert sorted(as_compiled.labels("input")) == ["X", "Y", "w"]
    for layout in (as_written, as_compiled):
        assert sorted(layout.labels("output")) == ["cost", "new w"]
        check_places(layout)


def test_figures_writes_the_two_graph_pictures(tmp_path):
    import matplotlib.image
    import matplotlib.pyplot as plt

    import figures
    plt.switch_backend("Agg")  # files only, as figures.py's main() draws them
    figures.draw_look_inside(tmp_path)
    names = ["0_multiply_graph.png", "1_linear_regression_graph.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for name in names:
        pixels = matplotlib.image.imread(tmp_path / name)[..., :3]
        assert pixels.shape[0] > 300 and pixels.shape[1] > 600, name
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, name
