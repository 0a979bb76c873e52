"""A trained model's file (toolkit/trained.py): --save writes what figures.py and
--params need, --params reads it back, and a file that is not this model's is
refused in one line, exit 2, before anything is trained or drawn."""
import json
import re
import shutil

import numpy as np
import pytensor
import pytest

from helpers import ROOT, accuracies, one_line, run
from load import mnist
from toolkit import trained

LOGISTIC = "2_logistic_regression.py"
CNN = "5_convolutional_net.py"
SHORT = ("--ntrain", "2000", "--ntest", "500")
RECIPE = {"lr": 0.1, "batch_size": 64, "epochs": 2, "seed": 3, "mode": "C"}


def arrays_of(path):
    """Every array of an .npz, meta decoded: (meta, arrays)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(arrays.pop("meta").tobytes()), arrays


def rewrite(path, meta, arrays):
    """An .npz as --save writes it, from meta and arrays changed by a test."""
    np.savez(path, **arrays, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    return path


def refused(script, *args):
    """The one stderr line of a run refused as a user's mistake, before any training."""
    line = one_line(run(script, *args, check=False))
    assert line.startswith(f"{script}: error: "), line
    return line


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A short run of 2_logistic_regression.py with --save and --log: (npz, stdout, log)."""
    folder = tmp_path_factory.mktemp("saved")
    npz, log = folder / "logistic.npz", folder / "logistic.jsonl"
    result = run(LOGISTIC, *SHORT, "--epochs", RECIPE["epochs"], "--lr", RECIPE["lr"],
                 "--batch-size", RECIPE["batch_size"], "--seed", RECIPE["seed"],
                 "--mode", RECIPE["mode"], "--save", npz, "--log", log)
    return npz, result.stdout, [json.loads(line) for line in log.read_text().splitlines()]


def test_save_writes_the_weights_the_probabilities_and_the_recipe(saved):
    npz, stdout, log = saved
    meta, arrays = arrays_of(npz)
    assert set(arrays) == {"w", "test_probabilities"}
    assert arrays["w"].shape == (784, 10)
    probabilities = arrays["test_probabilities"]
    assert probabilities.shape == (500, 10)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    _, _, _, teY = mnist(ntrain=1, ntest=500, onehot=False)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == teY))
    assert len(log) == 2 and accuracy == log[-1]["test_accuracy"]
    assert round(accuracy, 4) == accuracies(stdout)[-1]
    assert meta["script"] == LOGISTIC
    assert {k: meta[k] for k in RECIPE} == RECIPE
    assert meta["ntest"] == 500 and meta["weights"] == {"w": [784, 10]}
    assert trained.read(npz)[0] == meta  # and the reader takes it


def test_params_trains_nothing_and_gives_the_same_answers(saved, tmp_path):
    npz, _, _ = saved
    again = tmp_path / "again.npz"
    result = run(LOGISTIC, *SHORT, "--params", npz, "--save", again)
    assert "epoch" not in result.stdout and not accuracies(result.stdout)
    before, after = arrays_of(npz)[1], arrays_of(again)[1]
    assert np.array_equal(before["w"], after["w"])
    np.testing.assert_allclose(after["test_probabilities"], before["test_probabilities"],
                               rtol=1e-6, atol=1e-7)


def test_params_with_epochs_trains_on(saved):
    npz, _, _ = saved
    result = run(LOGISTIC, *SHORT, "--params", npz, "--epochs", "1", "--lr", "0.1",
                 "--batch-size", "64")
    assert len(accuracies(result.stdout)) == 1
    assert accuracies(result.stdout)[0] > 0.8  # on from the saved 2 epochs, not from scratch


def logistic_file(path, w, script=LOGISTIC):
    """A file as toolkit.trained.save writes it, of any weight w."""
    recipe = {"script": script, **RECIPE, "ntrain": 2000, "ntest": 500, "device": "cpu"}
    trained.save(path, {"w": pytensor.shared(np.asarray(w, "float32"))}, recipe,
                 np.full((500, 10), 0.1))
    return path


def test_a_file_of_another_script_is_refused_naming_both():
    line = refused(LOGISTIC, *SHORT, "--params", ROOT / "results" / "net.npz")
    assert "net.npz" in line and "3_net.py" in line and LOGISTIC in line


def test_a_text_file_is_refused(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_text("w = 0.5\n")
    line = refused(LOGISTIC, *SHORT, "--params", path)
    assert str(path) in line and "--save" in line


def test_a_truncated_file_is_refused(saved, tmp_path):
    npz, _, _ = saved
    path = tmp_path / "cut.npz"
    data = npz.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    line = refused(LOGISTIC, *SHORT, "--params", path)
    assert str(path) in line


def test_a_file_lacking_its_weight_is_refused(tmp_path):
    path = logistic_file(tmp_path / "full.npz", np.zeros((784, 10)))
    meta, arrays = arrays_of(path)
    del arrays["w"]  # meta still lists it: the archive lost it
    rewrite(path, meta, arrays)
    line = refused(LOGISTIC, *SHORT, "--params", path)
    assert str(path) in line and re.search(r"weight w\b", line)


def test_a_weight_of_the_wrong_shape_is_refused(tmp_path):
    path = logistic_file(tmp_path / "five.npz", np.zeros((784, 5)))
    line = refused(LOGISTIC, *SHORT, "--params", path)
    assert str(path) in line and "784x5" in line and "784x10" in line


def test_a_weight_that_is_not_numbers_is_refused(tmp_path):
    path = logistic_file(tmp_path / "text.npz", np.zeros((784, 10)))
    meta, arrays = arrays_of(path)
    arrays["w"] = np.full((784, 10), "a")
    rewrite(path, meta, arrays)
    line = refused(LOGISTIC, *SHORT, "--params", path)
    assert str(path) in line and re.search(r"weight w\b", line)


def test_every_byte_flip_of_a_saved_file_is_refused_or_harmless(tmp_path):
    """Every 500th byte of the committed logistic model: read() either refuses it
    with TrainedError or reads an archive whose every weight has its shape."""
    from toolkit import trained
    data = (ROOT / "results" / "logistic.npz").read_bytes()
    path = tmp_path / "flipped.npz"
    for i in range(0, len(data), 500):
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
        try:
            _, arrays = trained.read(path, LOGISTIC)
        except trained.TrainedError as e:
            assert "\n" not in str(e) and str(path) in str(e)
        else:
            assert arrays["w"].shape == (784, 10)


def test_a_renamed_weight_is_refused_naming_it(tmp_path):
    """The CNN's w4 renamed w_hidden (in a copy of the script, say): its file can no
    longer be the script's model."""
    meta, arrays = arrays_of(ROOT / "results" / "cnn.npz")
    arrays["w_hidden"] = arrays.pop("w4")
    meta["weights"] = {("w_hidden" if k == "w4" else k): v for k, v in meta["weights"].items()}
    path = rewrite(tmp_path / "renamed.npz", meta, arrays)
    line = refused(CNN, "--params", path)
    assert str(path) in line and "w4" in line and "w_hidden" in line


# --- figures.py reads the same files -------------------------------------------------

@pytest.fixture
def results(tmp_path):
    """A copy of the committed results/ a test can spoil."""
    folder = tmp_path / "results"
    folder.mkdir()
    for path in [*ROOT.glob("results/*.npz"), *ROOT.glob("results/*.jsonl")]:
        shutil.copy(path, folder)
    return folder


def figures_refused(results, out):
    line = refused("figures.py", "--results", results, "--out", out)
    assert not list(out.glob("5_*.png")), "drew the CNN's figures from a bad file"
    return line


@pytest.mark.slow
@pytest.mark.parametrize("how", ["the script renamed it", "the archive lost it"])
def test_figures_refuses_a_cnn_file_without_w(results, tmp_path, how):
    meta, arrays = arrays_of(results / "cnn.npz")
    del arrays["w"]
    if how == "the script renamed it":
        del meta["weights"]["w"]
    rewrite(results / "cnn.npz", meta, arrays)
    line = figures_refused(results, tmp_path / "out")
    assert str(results / "cnn.npz") in line and re.search(r"weight w\b", line)


@pytest.mark.slow
def test_figures_refuses_a_cnn_file_of_another_script(results, tmp_path):
    shutil.copy(results / "modern.npz", results / "cnn.npz")
    line = figures_refused(results, tmp_path / "out")
    assert str(results / "cnn.npz") in line and "4_modern_net.py" in line and CNN in line
