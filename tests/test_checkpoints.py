"""Long runs survive interruption: --checkpoint after each epoch, --resume from it,
bit-identical to a run that never stopped on --mode C; a checkpoint of another run,
or a damaged one, is refused in one line; terminal and notebook share them."""
import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import ROOT, accuracies, run, run_script
from toolkit import checkpoint

CNN = ["5_convolutional_net.py", "--ntrain", 2560, "--ntest", 200, "--mode", "C"]
LOGISTIC = ["2_logistic_regression.py", "--ntrain", 1000, "--ntest", 200, "--mode", "C"]


def records(log):
    """What a run computed each epoch (its times aside)."""
    return [(r["epoch"], r["test_accuracy"], r["train_cost"])
            for r in map(json.loads, log.read_text().splitlines())]


def test_a_killed_run_resumes_bit_identical_on_c(tmp_path):
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    whole.mkdir(), stopped.mkdir()
    run(*CNN, "--epochs", 3, "--save", whole / "p.npz", "--log", whole / "log.jsonl")

    paths = ["--save", stopped / "p.npz", "--log", stopped / "log.jsonl",
             "--checkpoint", stopped / "run.ckpt"]
    proc = subprocess.Popen([sys.executable, str(ROOT / CNN[0]), *map(str, CNN[1:]),
                             "--epochs", "3", *map(str, paths)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (stopped / "run.ckpt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # inside the second epoch (about a second long)
    proc.kill()  # SIGKILL: no handler runs, no file is closed
    proc.communicate(timeout=60)
    done = checkpoint.load(stopped / "run.ckpt")[0]["epoch"]
    assert 1 <= done < 3

    result = run(*CNN, "--epochs", 3, "--resume", stopped / "run.ckpt", *paths[:4])
    assert f"resumed from {stopped / 'run.ckpt'} after epoch {done}" in result.stdout
    assert len(accuracies(result.stdout)) == 3 - done
    assert records(stopped / "log.jsonl") == records(whole / "log.jsonl")
    ours, theirs = np.load(stopped / "p.npz"), np.load(whole / "p.npz")
    assert ours.files == theirs.files
    for name in ours.files:
        assert ours[name].tobytes() == theirs[name].tobytes(), name


def test_sigint_while_a_checkpoint_is_written_keeps_the_last_one(tmp_path):
    path = tmp_path / "run.ckpt"
    run(*LOGISTIC, "--epochs", 1, "--checkpoint", path)
    before = path.read_bytes()
    writer = subprocess.Popen([sys.executable, "-c", f"""
import os, time
from toolkit import files
real = os.replace
def slow_replace(src, dst):  # the new file is written; stopped before it takes the name
    print("written", flush=True)
    time.sleep(60)
    real(src, dst)
os.replace = slow_replace
files.write_atomic({str(path)!r}, b"a newer checkpoint")
"""], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "written"
    writer.send_signal(signal.SIGINT)
    _, err = writer.communicate(timeout=60)
    assert writer.returncode != 0 and "KeyboardInterrupt" in err
    assert path.read_bytes() == before
    assert checkpoint.load(path)[0]["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no half file left


@pytest.fixture(scope="module")
def logistic_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "logistic.ckpt"
    run(*LOGISTIC, "--epochs", 1, "--checkpoint", path)
    return path


def refused(*args):
    result = run(*args, check=False, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "epoch" not in result.stdout
    return lines[0]


def test_a_checkpoint_of_another_script_is_refused(logistic_checkpoint):
    line = refused("3_net.py", "--ntrain", 1000, "--ntest", 200, "--mode", "C",
                   "--epochs", 2, "--resume", logistic_checkpoint)
    assert line.endswith(f"{logistic_checkpoint} cannot continue this run: it was written by "
                         "2_logistic_regression.py, not 3_net.py")


def test_another_recipe_is_refused_unless_the_new_rate_is_asked_for(logistic_checkpoint,
                                                                      tmp_path):
    args = [*LOGISTIC, "--epochs", 2, "--resume", logistic_checkpoint,
            "--checkpoint", tmp_path / "next.ckpt"]
    assert refused(*args, "--lr", 0.1).endswith(
        "cannot continue this run: it was written with --lr 0.05, this run has 0.1 "
        "(--new-lr continues with this run's)")
    assert refused(*args, "--batch-size", 64).endswith(
        "it was written with --batch-size 128, this run has 64")
    assert refused(*args, "--mode", "NUMBA").endswith(
        "it was written with --mode C, this run has --mode NUMBA")
    result = run(*args, "--lr", 0.1, "--new-lr")
    assert len(accuracies(result.stdout)) == 1


def test_other_shapes_are_refused():
    """In a notebook no script name is known: the variables' shapes tell."""
    ns = run_script("2_logistic_regression.py", "--epochs", 1, "--ntrain", 256, "--ntest", 100,
                    "--mode", "C")
    meta = {"script": None, "mode": "C", "shapes": [[[784, 625], "Matrix(float32, shape=(?, ?))"]],
            "recipe": {k: getattr(ns["args"], k) for k in checkpoint.RECIPE}}
    assert checkpoint.differences(meta, None, ns["args"], ns["train"]) == (
        "its variable 0 is Matrix(float32, shape=(?, ?)) [784, 625], this model's is "
        "Matrix(float32, shape=(?, ?)) [784, 10]")


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "empty", "not one"])
def test_a_damaged_checkpoint_is_refused_whole(logistic_checkpoint, tmp_path, damage):
    data = logistic_checkpoint.read_bytes()
    path = tmp_path / "damaged.ckpt"
    if damage == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif damage == "corrupted":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64])
                         + data[middle + 64:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_text("epoch 1\n")
    line = refused(*LOGISTIC, "--epochs", 2, "--resume", path)
    assert f"error: {path}: not a complete checkpoint (" in line
    assert line.endswith("it cannot be used")


def test_resuming_a_finished_run_trains_nothing(logistic_checkpoint, tmp_path):
    result = run(*LOGISTIC, "--epochs", 1, "--resume", logistic_checkpoint,
                 "--checkpoint", tmp_path / "again.ckpt")
    assert "--epochs 1 are done already" in result.stdout
    assert accuracies(result.stdout) == []


def notebook_of(script, **defaults):
    """The script as a notebook, its parse_args call given these defaults."""
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(ROOT / script)
    for cell in notebook.cells:
        if "training.parse_args(" in cell.source:
            extra = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
            cell.source = re.sub(r"training\.parse_args\(.*?\)", f"training.parse_args({extra})",
                                 cell.source)
            break
    else:
        raise AssertionError("no parse_args call")
    return notebook


def execute(notebook):
    nbclient = pytest.importorskip("nbclient")
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    return "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))


def test_terminal_and_notebook_resume_each_other(tmp_path):
    first, second = tmp_path / "terminal.ckpt", tmp_path / "notebook.ckpt"
    run(*LOGISTIC, "--epochs", 1, "--checkpoint", first)
    notebook = notebook_of("2_logistic_regression.py", epochs=2, ntrain=1000, ntest=200,
                           mode="C", resume=str(first), checkpoint=str(second))
    nbformat = pytest.importorskip("nbformat")
    again = [c for c in notebook.cells if "report.start_epoch()" in c.source][0].source
    notebook.cells.append(nbformat.v4.new_code_cell("args.epochs = 3"))
    notebook.cells.append(nbformat.v4.new_code_cell(again))  # the training cell, run again
    output = execute(notebook)
    assert f"resumed from {first} after epoch 1" in output
    assert [int(e) for e in re.findall(r"epoch +(\d+) ", output)] == [2, 3]
    result = run(*LOGISTIC, "--epochs", 4, "--resume", second)
    assert f"resumed from {second} after epoch 3" in result.stdout
    assert len(accuracies(result.stdout)) == 1
