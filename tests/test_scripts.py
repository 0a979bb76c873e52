"""Each numbered script runs as a user runs it, on a small subset, and must learn."""
import ast
import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

import helpers
from helpers import (ROOT, accuracies, default_sigint, err_lines, learned_slope, names,
                     one_line, run, wait_for_file, wait_for_line)
from toolkit import checkpoint, trained


def test_multiply_prints_2_and_9():
    lines = run("0_multiply.py").stdout.splitlines()[:2]  # then its last cell's graphs
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
    slope = learned_slope(run("1_linear_regression.py").stdout)
    assert abs(slope - 2) < 0.1


# Small subsets, a few epochs: 500 test images, chance is 0.10, and a run that
# learned nothing cannot reach these by luck (the binomial tail at 0.5 is ~1e-170).
LEARNING = [  # the logistic regression trains in a second: it is in the fast tier
    pytest.param("2_logistic_regression.py",
                 ["--ntrain", 3000, "--epochs", 3, "--batch-size", 32], 0.75),
    pytest.param("3_net.py", ["--ntrain", 3000, "--epochs", 3, "--batch-size", 32, "--lr", 0.5],
                 0.75, marks=pytest.mark.slow),
    pytest.param("4_modern_net.py", ["--ntrain", 3000, "--epochs", 3, "--batch-size", 32], 0.75,
                 marks=pytest.mark.slow),
    pytest.param("5_convolutional_net.py",
                 ["--ntrain", 2000, "--epochs", 2, "--batch-size", 32, "--lr", 0.01], 0.5,
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("script, args, threshold", LEARNING,
                         ids=[p.values[0] for p in LEARNING])
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
              "mode": record["mode"], "device": record["device"], "params": None,
              "data": "MNIST",  # the committed files, checked by their sha256
              "lr": given.get("--lr", record["recipe"]["lr"])}  # else the script's own
    assert set(record["recipe"]) == set(recipe), record["recipe"]
    return recipe


@pytest.mark.slow
def test_same_seed_same_numbers():
    args = ["--ntrain", 1000, "--ntest", 300, "--epochs", 2, "--seed", 7]
    first = run("4_modern_net.py", *args).stdout
    second = run("4_modern_net.py", *args).stdout
    other = run("4_modern_net.py", *args[:-1], 8).stdout
    strip = lambda out: re.sub(r"\d+\.\d+ s", "", out)  # noqa: E731 (times differ)
    assert len(accuracies(first)) == 2
    assert strip(first) == strip(second)
    assert strip(first) != strip(other)


def test_minibatches_keep_the_last_partial_batch():
    """130 examples in batches of 128: the last 2 are a batch, not dropped."""
    from toolkit import training
    assert training.minibatches(130, 128) == [(0, 128), (128, 130)]
    assert training.minibatches(128, 128) == [(0, 128)]




BAD_ARGUMENTS = [
    (["--epochs", 0], ["--epochs", "positive"]),
    (["--batch-size", -5], ["--batch-size", "positive", "-5"]),
    (["--lr", 0], ["--lr", "positive"]),
    (["--mode", "GPU"], ["--mode", "GPU", "C", "NUMBA", "JAX"]),
    (["--save", "/no/such/folder/p.npz"], ["--save", "/no/such/folder", "does not exist"]),
    (["--log", "/no/such/folder/log.jsonl"], ["--log", "/no/such/folder", "does not exist"]),
    (["--checkpoint", "/no/such/folder/run.ckpt"], ["--checkpoint", "/no/such/folder"]),
    (["--save", "results"], ["--save", "results", "folder"]),
    (["--log", "data/mnist"], ["--log", "data/mnist", "folder"]),
    (["--save", "x.npz", "--log", "x.npz"], ["--save", "--log", "x.npz"]),
    (["--ntrain", 70000], ["ntrain=70000", "train-images-idx3-ubyte", "60000"]),
    (["--device", "tpu"], ["--device", "tpu", "cpu", "gpu"]),
    (["--device", "gpu", "--mode", "C"], ["--device gpu", "--mode C", "--mode JAX"]),
    (["--params", "/no/such/params.npz"], ["/no/such/params.npz", "no such file"]),
    (["--params", "README.md"], ["README.md", "--save"]),
    (["--resume", "a.ckpt", "--params", "b.npz"], ["--resume", "--params"]),
]


@pytest.mark.parametrize("args, words", BAD_ARGUMENTS)
def test_bad_arguments_fail_fast_with_one_line(args, words, monkeypatch, capsys):
    """What the script's first two lines do (parse_args, then backends.prepare), here."""
    from toolkit import backends, training
    monkeypatch.setattr(sys, "argv", ["2_logistic_regression.py"])
    with pytest.raises(SystemExit) as stopped:
        backends.prepare(training.parse_args(argv=list(map(str, args))))
    assert stopped.value.code == 2
    out, err = capsys.readouterr()
    assert len(err_lines(err)) == 1 and out == "", (out, err)
    names(err, "2_logistic_regression.py: error:", *words)


@pytest.mark.parametrize("args, words", [BAD_ARGUMENTS[i] for i in (0, 9)])  # parse, prepare
def test_the_script_itself_stops_in_one_line(args, words):
    line = one_line(run("2_logistic_regression.py", *args, check=False))
    names(line, "2_logistic_regression.py: error:", *words)


def test_missing_data_dir_is_one_line(tmp_path):
    line = one_line(run("3_net.py", "--data-dir", tmp_path, check=False))
    names(line, tmp_path, "missing", "train-images-idx3-ubyte")




@pytest.mark.slow
def test_ctrl_c_leaves_the_last_complete_log_and_checkpoint_and_nothing_else(tmp_path):
    log, ckpt, save = tmp_path / "log.jsonl", tmp_path / "run.ckpt", tmp_path / "params.npz"
    command = [sys.executable, str(ROOT / "4_modern_net.py"), "--ntrain", "10000",
               "--ntest", "200", "--epochs", "50",
               "--log", str(log), "--checkpoint", str(ckpt), "--save", str(save)]
    with open(tmp_path.parent / f"{tmp_path.name}.stderr", "w") as stderr:
        proc = helpers.start(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                             preexec_fn=default_sigint)
        wait_for_line(proc, r"epoch +1 ")  # the first epoch ended ...
        wait_for_file(ckpt, proc)  # ... and wrote its log, then its checkpoint
        proc.send_signal(signal.SIGINT)  # inside the second epoch
        proc.communicate(timeout=60)
    assert proc.returncode != 0
    # --save is written at the end of a run only; no temporary file is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl", "run.ckpt"]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and [r["epoch"] for r in records] == list(range(1, len(records) + 1))
    meta, arrays = checkpoint.load(ckpt)  # complete: every array read and checked
    # the checkpoint is written just after the log, so Ctrl-C may fall between the two
    assert meta["epoch"] in (len(records), len(records) - 1)
    assert meta["records"] == records[:meta["epoch"]]
