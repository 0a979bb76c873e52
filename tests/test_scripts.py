"""Each numbered script runs as a user runs it, on a small subset, and must learn."""
import ast
import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import ROOT, accuracies, run
from toolkit import checkpoint, trained


def test_multiply_prints_2_and_9():
    lines = run("0_multiply.py").stdout.split()
    assert [float(x) for x in lines] == [2, 9]


def imported(script):
    """The top-level package of every import in a script, wherever it stands."""
    tree = ast.parse((ROOT / script).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, (script, "a relative import")
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("script, allowed", [("0_multiply.py", {"pytensor"}),
                                             ("1_linear_regression.py", {"pytensor", "numpy"})])
def test_first_scripts_import_no_plumbing(script, allowed):
    """0 and 1 read as their slides: PyTensor (and numpy), nothing of the project's."""
    imports = imported(script)
    assert "pytensor" in imports and imports <= allowed, (script, imports)


@pytest.mark.slow
def test_linear_regression_recovers_the_slope():
    last = run("1_linear_regression.py").stdout.strip().splitlines()[-1]
    slope = float(last.split()[-1])
    assert abs(slope - 2) < 0.1


# Small subsets, a few epochs: 500 test images, chance is 0.10, and a run that
# learned nothing cannot reach these by luck (the binomial tail at 0.5 is ~1e-170).
LEARNING = [
    ("2_logistic_regression.py", ["--ntrain", 3000, "--epochs", 3, "--batch-size", 32], 0.75),
    ("3_net.py", ["--ntrain", 3000, "--epochs", 3, "--batch-size", 32, "--lr", 0.5], 0.75),
    ("4_modern_net.py", ["--ntrain", 3000, "--epochs", 3, "--batch-size", 32], 0.75),
    ("5_convolutional_net.py",
     ["--ntrain", 2000, "--epochs", 2, "--batch-size", 32, "--lr", 0.01], 0.5),
]


@pytest.mark.slow
@pytest.mark.parametrize("script, args, threshold", LEARNING, ids=[s for s, _, _ in LEARNING])
def test_script_learns_and_logs(tmp_path, script, args, threshold):
    log, save = tmp_path / "log.jsonl", tmp_path / "params.npz"
    result = run(script, *args, "--ntest", 500, "--log", log, "--save", save)
    epochs = args[args.index("--epochs") + 1]
    printed = accuracies(result.stdout)
    assert len(printed) == epochs
    assert printed[-1] > threshold, result.stdout

    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, epochs + 1))
    for r in records:
        assert {"epoch", "test_accuracy", "train_cost", "train_seconds", "eval_seconds",
                "mode", "device", "recipe"} <= set(r)
        assert r["train_seconds"] > 0 and r["eval_seconds"] > 0 and np.isfinite(r["train_cost"])
        assert r["recipe"] == recipe_of(script, args, r)
    assert [round(r["test_accuracy"], 4) for r in records] == printed

    meta, arrays = trained.read(save)  # the weights by name, the test set's probabilities
    assert {k: meta[k] for k in records[-1]["recipe"]} == records[-1]["recipe"]
    weights = set(arrays) - {"test_probabilities"}
    assert weights and weights == set(meta["weights"])
    assert all(arrays[name].dtype == np.float32 for name in weights)
    probabilities = arrays["test_probabilities"]
    assert probabilities.shape == (500, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-4)
    from load import mnist
    labels = mnist(ntrain=1, ntest=500, onehot=False)[3]
    assert abs(np.mean(probabilities.argmax(axis=1) == labels) - printed[-1]) <= 1 / 500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl", "params.npz"]


def recipe_of(script, args, record):
    """What a record's recipe must say of a run of `script` with these arguments."""
    given = dict(zip(args[::2], args[1::2]))
    recipe = {"script": script, "seed": 42, "ntrain": given["--ntrain"], "ntest": 500,
              "batch_size": given["--batch-size"], "epochs": record["epoch"],
              "mode": record["mode"], "device": record["device"],
              "lr": given.get("--lr", record["recipe"]["lr"])}  # else the script's own
    assert set(record["recipe"]) == set(recipe), record["recipe"]
    return recipe


def test_same_seed_same_numbers():
    args = ["--ntrain", 1000, "--ntest", 300, "--epochs", 2, "--seed", 7]
    first = run("4_modern_net.py", *args).stdout
    second = run("4_modern_net.py", *args).stdout
    other = run("4_modern_net.py", *args[:-1], 8).stdout
    strip = lambda out: re.sub(r"\d+\.\d+ s", "", out)  # noqa: E731 (times differ)
    assert strip(first) == strip(second)
    assert strip(first) != strip(other)


def test_minibatches_keep_the_last_partial_batch():
    """130 examples in batches of 128: the last 2 are a batch, not dropped."""
    from toolkit import training
    assert training.minibatches(130, 128) == [(0, 128), (128, 130)]
    assert training.minibatches(128, 128) == [(0, 128)]


@pytest.mark.parametrize("args, message", [
    (["--epochs", 0], "--epochs: must be a positive integer"),
    (["--batch-size", -5], "--batch-size: must be a positive integer"),
    (["--lr", 0], "--lr: must be a positive number"),
    (["--mode", "GPU"], "invalid choice"),
    (["--save", "/no/such/folder/p.npz"], "folder /no/such/folder does not exist"),
    (["--log", "/no/such/folder/log.jsonl"], "does not exist"),
    (["--ntrain", 70000], "ntrain=70000 but"),
    (["--device", "tpu"], "invalid choice"),
    (["--device", "gpu", "--mode", "C"], "--mode C runs on the CPU only"),
])
def test_bad_arguments_fail_fast_with_one_line(args, message):
    start = time.perf_counter()
    result = run("2_logistic_regression.py", *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "epoch" not in result.stdout
    assert time.perf_counter() - start < 60


def test_missing_data_dir_is_one_line(tmp_path):
    result = run("3_net.py", "--data-dir", tmp_path, check=False)
    assert result.returncode != 0
    assert "missing train-images-idx3-ubyte" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ctrl_c_leaves_no_half_file(tmp_path):
    log, save = tmp_path / "log.jsonl", tmp_path / "params.npz"
    command = [sys.executable, str(ROOT / "4_modern_net.py"), "--ntest", "200",
               "--epochs", "50", "--log", str(log), "--save", str(save)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not log.exists() and time.time() < deadline:  # wait for a complete epoch
        time.sleep(0.2)
    time.sleep(1.0)  # now well inside the next epoch
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl", "params.npz"]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and records[-1]["epoch"] == len(records)
    assert set(np.load(save).files) == {"w_h", "w_h2", "w_o"}
