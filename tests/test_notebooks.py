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

    from toolkit import training
    assert not training.in_notebook()
