"""Every numbered script is also a notebook: cells at its slides, and 0-2 executed
top to bottom in a real Jupyter kernel (through jupytext and nbclient)."""
import re

import pytest

from helpers import ROOT

SCRIPTS = sorted(p.name for p in ROOT.glob("[0-5]_*.py"))


def test_all_six_scripts_are_there():
    assert [s[0] for s in SCRIPTS] == list("012345")


@pytest.mark.parametrize("script", SCRIPTS)
def test_cells_open_with_a_slide_title(script):
    text = (ROOT / script).read_text()
    markdown = re.findall(r"^# %% \[markdown\]\n# (#+ .+)$", text, re.M)
    code = re.findall(r"^# %%$", text, re.M)
    assert text.startswith("# %% [markdown]\n# # "), script
    assert len(markdown) >= 2, markdown  # script 0: its slide, and what PyTensor made of it
    assert len(code) == len(markdown)  # each code cell follows its title


def notebook_of(script, **defaults):
    """The script as a notebook, its parse_args call given these defaults first (a
    short run instead of the slide's 100 epochs), as a reader would edit it."""
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(ROOT / script)
    if defaults:
        given = "".join(f"{k}={v}, " for k, v in defaults.items())
        edits = 0
        for cell in notebook.cells:
            cell.source, n = re.subn(r"training\.parse_args\(epochs=100, ",
                                     f"training.parse_args({given}", cell.source)
            edits += n
        assert edits == 1, f"{script}: no parse_args(epochs=100, ...) call to shorten"
    return notebook


def execute(notebook):
    """Run every cell in a fresh python3 kernel (it inherits this process's
    environment) from the root; the text every cell printed."""
    nbclient = pytest.importorskip("nbclient")
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    return "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))


SHORT = dict(epochs=3, ntrain=10000, ntest=1000)


@pytest.mark.slow
@pytest.mark.parametrize("script", ["0_multiply.py", "1_linear_regression.py",
                                    "2_logistic_regression.py"])
def test_notebook_runs_in_a_kernel(script):
    outputs = execute(notebook_of(script, **(SHORT if script[0] == "2" else {})))
    if script.startswith("0"):
        assert outputs.split()[:2] == ["2.0", "9.0"]
    if script.startswith("1"):
        assert "learned slope w = 2.0" in outputs
    if script.startswith("2"):
        # the defaults of the parse_args call, not the kernel's own arguments: 3 epochs
        accuracies = [float(a) for a in re.findall(r"test accuracy (\d\.\d+)", outputs)]
        assert len(accuracies) == 3 and accuracies[-1] > 0.8, outputs[-500:]


def test_importing_ipykernel_is_not_being_in_a_notebook():
    """Only a running kernel makes the scripts skip their command line."""
    pytest.importorskip("ipykernel")
    import ipykernel  # noqa: F401

    from toolkit import notebook
    assert not notebook.in_notebook()


CURVE_CHECK = ("import os, matplotlib, matplotlib.pyplot as plt\n"
               "print('backend', os.environ.get('MPLBACKEND'), matplotlib.get_backend())\n"
               "print('figures', len(plt.get_fignums()), 'draws', run.curve.draws)")


def shown_curve(notebook, epochs):
    """The training cell shows one image, a display updated after each epoch, and no
    pyplot figure is left for a backend to show again."""
    training_cell = next(c for c in notebook.cells if "run.epochs()" in c.source)
    images = [o for o in training_cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, training_cell.outputs
    assert images[0]["output_type"] == "display_data"
    # the kernel may send one print as several stream messages: read them all
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert f"figures 0 draws {epochs}" in printed
    return printed


@pytest.mark.slow
def test_the_learning_curve_is_one_figure_drawn_again_each_epoch(monkeypatch):
    """4_modern_net.py, 2 epochs, in a real kernel with Jupyter's own backend: the
    training cell shows one figure, updated after each epoch."""
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend
    notebook = notebook_of("4_modern_net.py", epochs=2, ntrain=10000, ntest=1000)
    notebook.cells.append(nbformat.v4.new_code_cell(CURVE_CHECK))
    execute(notebook)
    shown_curve(notebook, 2)


@pytest.mark.slow
def test_the_learning_curve_shows_on_a_headless_server(monkeypatch):
    """MPLBACKEND=Agg in the kernel's environment (a server without a display): the
    curve is still shown, as a PNG, not left to a backend that shows nothing."""
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits it
    notebook = notebook_of("2_logistic_regression.py", epochs=2, ntrain=10000, ntest=1000)
    notebook.cells.append(nbformat.v4.new_code_cell(CURVE_CHECK))
    execute(notebook)
    text = shown_curve(notebook, 2)
    assert "backend agg agg" in text.lower(), text  # Agg it was, in the kernel
