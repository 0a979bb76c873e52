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
    assert len(markdown) >= 2 if script[0] != "0" else len(markdown) == 1, markdown
    assert len(code) == len(markdown)  # each code cell follows its title


@pytest.mark.parametrize("script", ["0_multiply.py", "1_linear_regression.py",
                                    "2_logistic_regression.py"])
def test_notebook_runs_in_a_kernel(script):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    notebook = jupytext.read(ROOT / script)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells
                      for o in cell.get("outputs", []))
    errors = [o for cell in notebook.cells for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    if script.startswith("0"):
        assert outputs.split() == ["2.0", "9.0"]
    if script.startswith("1"):
        assert "learned slope w = 2.0" in outputs
    if script.startswith("2"):
        # the defaults of the parse_args call, not the kernel's own arguments: 100 epochs
        accuracies = [float(a) for a in re.findall(r"test accuracy (\d\.\d+)", outputs)]
        assert len(accuracies) == 100 and accuracies[-1] > 0.91, outputs[-500:]


def test_importing_ipykernel_is_not_being_in_a_notebook():
    """Only a running kernel makes the scripts skip their command line."""
    pytest.importorskip("ipykernel")
    import ipykernel  # noqa: F401

    from toolkit import notebook
    assert not notebook.in_notebook()


def test_the_learning_curve_is_one_figure_drawn_again_each_epoch():
    """4_modern_net.py, 2 epochs, in a real kernel: the training cell shows one
    figure, updated after each epoch; in a terminal nothing is drawn."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    notebook = jupytext.read(ROOT / "4_modern_net.py")
    for cell in notebook.cells:
        cell.source = re.sub(r"training\.parse_args\(epochs=100,", "training.parse_args(epochs=2, "
                             "ntrain=10000, ntest=1000,", cell.source)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\n"
        "print('figures', len(plt.get_fignums()), 'draws', report.curve.draws)"))
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    training_cell = next(c for c in notebook.cells if "report.start_epoch()" in c.source)
    images = [o for o in training_cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, training_cell.outputs
    assert images[0]["output_type"] == "display_data"
    assert "figures 0 draws 2" in notebook.cells[-1].outputs[0]["text"]
