"""figures.py --quick draws every picture of the talk and the mistakes, none blank."""
import subprocess
import sys

import numpy as np

from helpers import ROOT

EXPECTED = [
    "1_linear_regression_fit.png", "2_logistic_regression_weights.png",
    "3_net_hidden_weights.png", "4_modern_net_hidden_weights.png",
    "5_convolutional_net_filters.png", "5_convolutional_net_feature_maps.png",
    "6_quantifying_the_difference.png", "7_understanding_sgd_vs_rmsprop.png",
    "8_understanding_sigmoid_vs_rectifier.png",
    *[f"9_mistakes_{name}.png" for name in ("logistic", "net", "modern", "cnn", "knn")],
    "10_confusion_matrices.png",
]


def test_quick_figures_are_all_drawn(tmp_path):
    import matplotlib.image
    subprocess.run([sys.executable, str(ROOT / "figures.py"), "--quick", "--out", str(tmp_path),
                    "--results", str(tmp_path / "no-results")],
                   cwd=ROOT, check=True, capture_output=True, timeout=1200)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(EXPECTED)
    for name in EXPECTED:
        pixels = matplotlib.image.imread(tmp_path / name)[..., :3]
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        # not blank: many distinct colours, and not one flat colour with a title
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, name
        assert pixels.std() > 0.05, name
