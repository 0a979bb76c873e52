"""figures.py --quick draws every picture of the talk and the mistakes, none blank."""
import os
import shutil

import numpy as np
import pytest

from helpers import ROOT, blank_mnist, names, run

EXPECTED = [
    "0_multiply_graph.png", "1_linear_regression_graph.png",
    "1_linear_regression_fit.png", "2_logistic_regression_weights.png",
    "3_net_hidden_weights.png", "4_modern_net_hidden_weights.png",
    "5_convolutional_net_filters.png", "5_convolutional_net_feature_maps.png",
    "6_quantifying_the_difference.png", "7_understanding_sgd_vs_rmsprop.png",
    "8_understanding_sigmoid_vs_rectifier.png",
    *[f"9_mistakes_{name}.png" for name in ("logistic", "net", "modern", "cnn", "knn")],
    "10_confusion_matrices.png",
]


@pytest.mark.slow
def test_quick_figures_are_all_drawn(tmp_path):
    import matplotlib.image
    # files only: whatever backend the caller's MPLBACKEND names (none here)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    result = run("figures.py", "--quick", "--out", tmp_path, "--results",
                 tmp_path / "no-results", timeout=1200, env=env)
    assert sorted(result.stdout.split()) == sorted(str(tmp_path / n) for n in EXPECTED)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(EXPECTED)
    for name in EXPECTED:
        pixels = matplotlib.image.imread(tmp_path / name)[..., :3]
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        # not blank: many distinct colours, and not one flat colour with a title
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, name
        assert pixels.std() > 0.05, name


def figures_env(**changes):
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    return {**env, **changes}


def test_a_bad_mplbackend_is_one_line(tmp_path):
    result = run("figures.py", "--out", tmp_path, check=False,
                 env=figures_env(MPLBACKEND="nonsense"))
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    names(one_line_err(result), "MPLBACKEND", "nonsense")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damaged", ["net.jsonl", "cnn.npz"])
def test_damaged_results_are_one_line_and_nothing_is_drawn(tmp_path, damaged):
    results, out = tmp_path / "results", tmp_path / "out"
    shutil.copytree(ROOT / "results", results, ignore=shutil.ignore_patterns("figures", "gpu"))
    path = results / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = run("figures.py", "--out", out, "--results", results, check=False,
                 env=figures_env())
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    names(one_line_err(result), path)
    assert not out.exists() or list(out.iterdir()) == []


def one_line_err(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_damaged_data_is_one_line_and_nothing_is_drawn(tmp_path):
    data, out = blank_mnist(tmp_path / "mnist"), tmp_path / "out"
    path = data / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = run("figures.py", "--out", out, check=False,
                 env=figures_env(MNIST_DIR=str(data)))
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    names(one_line_err(result), path)
    assert not out.exists() or list(out.iterdir()) == []
