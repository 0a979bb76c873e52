"""figures.py --quick draws every picture of the talk and the mistakes, none blank."""
import os

import numpy as np
import pytest

from helpers import run

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
