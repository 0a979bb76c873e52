"""Long runs survive interruption: --checkpoint after each epoch, --resume from it,
bit-identical to a run that never stopped on --mode C; a checkpoint of another run,
or a damaged one, is refused in one line; terminal and notebook share them."""
import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytensor
import pytest

import helpers
from helpers import (ROOT, accuracies, default_sigint, names, one_line, run, wait_for_file,
                     wait_for_line)
from toolkit import checkpoint

CNN = ["5_convolutional_net.py", "--ntrain", 2560, "--ntest", 200, "--mode", "C"]
LOGISTIC = ["2_logistic_regression.py", "--ntrain", 1000, "--ntest", 200, "--mode", "C"]


def records(log):
    """What a run computed each epoch, and the recipe it names (its times aside)."""
    return [(r["epoch"], r["test_accuracy"], r["train_cost"], r["recipe"])
            for r in map(json.loads, log.read_text().splitlines())]



def start(args, stderr):
    """A script (or python -c) as a child whose stdout the test reads line by line."""
    return helpers.start([sys.executable, *map(str, args)], text=True,
                         stdout=subprocess.PIPE, stderr=stderr, preexec_fn=default_sigint)




# What the README promises of a resumed run: the same bits as a run that never
# stopped, on C and NUMBA for every script (their random generators are in the
# checkpoint), and on JAX for scripts 2 and 3, which draw no random numbers.
RESUMED_EXACTLY = {
    "cnn-C": CNN,
    "modern-NUMBA": ["4_modern_net.py", "--ntrain", 2560, "--ntest", 200, "--mode", "NUMBA"],
    "logistic-JAX": ["2_logistic_regression.py", "--ntrain", 2560, "--ntest", 200,
                     "--mode", "JAX"],
    "net-JAX": ["3_net.py", "--ntrain", 2560, "--ntest", 200, "--mode", "JAX"],
}


@pytest.mark.slow
@pytest.mark.parametrize("command", RESUMED_EXACTLY.values(), ids=RESUMED_EXACTLY.keys())
def test_a_killed_run_resumes_bit_identical(tmp_path, command):
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    whole.mkdir(), stopped.mkdir()
    run(*command, "--epochs", 3, "--save", whole / "p.npz", "--log", whole / "log.jsonl")

    paths = ["--save", stopped / "p.npz", "--log", stopped / "log.jsonl",
             "--checkpoint", stopped / "run.ckpt"]
    with open(tmp_path / "stderr", "w") as stderr:
        proc = start([ROOT / command[0], *command[1:], "--epochs", 3, *paths], stderr)
        wait_for_line(proc, r"epoch +1 ")
        wait_for_file(stopped / "run.ckpt", proc)  # written just after the epoch's line
        proc.kill()  # SIGKILL, inside the second epoch: no handler runs, no file is closed
        proc.communicate(timeout=60)
    done = checkpoint.load(stopped / "run.ckpt")[0]["epoch"]
    assert 1 <= done < 3
    assert not (stopped / "p.npz").exists()  # --save is written at the end only

    result = run(*command, "--epochs", 3, "--resume", stopped / "run.ckpt", *paths[:4])
    assert f"resumed from {stopped / 'run.ckpt'} after epoch {done}" in result.stdout
    assert len(accuracies(result.stdout)) == 3 - done
    assert records(stopped / "log.jsonl") == records(whole / "log.jsonl")
    ours, theirs = np.load(stopped / "p.npz"), np.load(whole / "p.npz")
    assert ours.files == theirs.files
    assert {"test_probabilities", "meta"} < set(ours.files)  # and the weights
    for name in ours.files:  # the weights, the test set's probabilities and the meta
        assert ours[name].tobytes() == theirs[name].tobytes(), name


@pytest.fixture(scope="module")
def logistic_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "logistic.ckpt"
    run(*LOGISTIC, "--epochs", 1, "--checkpoint", path)
    return path


def test_sigint_while_a_checkpoint_is_written_keeps_the_last_one(logistic_checkpoint,
                                                                   tmp_path):
    path = tmp_path / "run.ckpt"
    before = logistic_checkpoint.read_bytes()
    path.write_bytes(before)
    writer = start(["-c", f"""
import os, signal
from toolkit import files
real = os.replace
def held_replace(src, dst):  # the new file is written; stopped before it takes the name
    # SIGINT is held back until sigwait: one arriving just after the print would be
    # lost to a pause() and leave the child waiting for ever
    signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGINT}})
    print("written", flush=True)
    signal.sigwait({{signal.SIGINT}})  # the test's SIGINT
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {{signal.SIGINT}})
    signal.raise_signal(signal.SIGINT)  # now to Python's own handler: KeyboardInterrupt
    real(src, dst)
os.replace = held_replace
files.write_atomic({str(path)!r}, b"a newer checkpoint")
"""], subprocess.PIPE)
    assert writer.stdout.readline().strip() == "written"
    writer.send_signal(signal.SIGINT)
    _, err = writer.communicate(timeout=60)
    assert writer.returncode != 0 and "KeyboardInterrupt" in err
    assert path.read_bytes() == before
    assert checkpoint.load(path)[0]["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no half file left


def refused(*args):
    """The one line a run that must not start ends with (exit 2, nothing trained)."""
    return one_line(run(*args, check=False, timeout=120))



def test_a_checkpoint_of_another_script_is_refused(logistic_checkpoint):
    line = refused("3_net.py", "--ntrain", 1000, "--ntest", 200, "--mode", "C",
                   "--epochs", 2, "--resume", logistic_checkpoint)
    names(line, logistic_checkpoint, "2_logistic_regression.py", "3_net.py")


@pytest.mark.slow  # check_continues is tested on its own below; these are the scripts' lines
@pytest.mark.parametrize("change, words", [
    (["--lr", 0.1], ["--lr", "0.05", "0.1", "--new-lr"]),
    (["--batch-size", 64], ["--batch-size", "128", "64"]),
    (["--mode", "NUMBA"], ["--mode", "C", "NUMBA"]),
], ids=["lr", "batch-size", "mode"])
def test_another_recipe_is_refused(logistic_checkpoint, tmp_path, change, words):
    line = refused(*LOGISTIC, "--epochs", 2, "--resume", logistic_checkpoint,
                   "--checkpoint", tmp_path / "next.ckpt", *change)
    names(line, logistic_checkpoint, *words)
    assert not (tmp_path / "next.ckpt").exists()


@pytest.mark.slow
def test_a_new_rate_continues_when_asked_for(logistic_checkpoint, tmp_path):
    result = run(*LOGISTIC, "--epochs", 2, "--resume", logistic_checkpoint,
                 "--checkpoint", tmp_path / "next.ckpt", "--lr", 0.1, "--new-lr")
    assert len(accuracies(result.stdout)) == 1
    meta = checkpoint.load(tmp_path / "next.ckpt")[0]
    assert meta["epoch"] == 2 and meta["recipe"]["lr"] == 0.1


# --- check_continues and restore, on a small model of their own ---------------------

RECIPE = {"script": "2_logistic_regression.py", "lr": 0.05, "batch_size": 128, "seed": 42,
          "ntrain": 1000, "ntest": 200, "epochs": 1, "params": None, "data": "MNIST",
          "mode": "C", "device": "cpu"}
RECORD = {"epoch": 1, "test_accuracy": 0.9, "train_cost": 0.5}


def small_train(shape=(784, 10)):
    """A compiled function that updates a weight and a random generator, as `train` does."""
    import warnings

    from pytensor.tensor.random.utils import RandomStream
    with warnings.catch_warnings(action="ignore", category=FutureWarning):
        srng = RandomStream(seed=3)
    w = pytensor.shared(np.zeros(shape, dtype="float32"))
    return pytensor.function([], srng.uniform(size=(3,)), updates=[(w, w + 1)]), w


def meta_of(tmp_path, recipe=RECIPE, shape=(784, 10)):
    train, _ = small_train(shape)
    checkpoint.save(tmp_path / "saved.ckpt", recipe, train, [RECORD])
    return checkpoint.load(tmp_path / "saved.ckpt")[0]


def refusal(meta, script, recipe, train, **kwargs):
    with pytest.raises(checkpoint.CheckpointError) as error:
        checkpoint.check_continues(meta, script, recipe, train, **kwargs)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_the_same_run_continues_and_what_need_not_match_does_not_count(tmp_path):
    meta, (train, _) = meta_of(tmp_path), small_train()
    assert checkpoint.check_continues(meta, RECIPE["script"], RECIPE, train) is None
    later = {**RECIPE, "ntest": 10000, "epochs": 5}  # evaluation size and epochs done
    assert checkpoint.check_continues(meta, RECIPE["script"], later, train) is None
    assert checkpoint.check_continues(meta, None, RECIPE, train) is None  # a notebook


@pytest.mark.parametrize("key, value, words", [
    ("lr", 0.1, ["--lr", "0.05", "0.1", "--new-lr"]),
    ("batch_size", 64, ["--batch-size", "128", "64"]),
    ("ntrain", 2000, ["--ntrain", "1000", "2000"]),
    ("seed", 7, ["--seed", "42", "7"]),
    ("mode", "NUMBA", ["--mode", "C", "NUMBA"]),
    ("data", "/tmp/fashion", ["MNIST", "/tmp/fashion", "--data-dir"]),
])
def test_another_recipe_cannot_continue(tmp_path, key, value, words):
    meta, (train, _) = meta_of(tmp_path), small_train()
    names(refusal(meta, RECIPE["script"], {**RECIPE, key: value}, train), *words)
    if key == "lr":
        assert checkpoint.check_continues(meta, RECIPE["script"], {**RECIPE, key: value},
                                          train, allow_new_lr=True) is None
    else:  # --new-lr allows a new rate only
        names(refusal(meta, RECIPE["script"], {**RECIPE, key: value}, train,
                      allow_new_lr=True), *words)


def test_another_script_cannot_continue(tmp_path):
    meta, (train, _) = meta_of(tmp_path), small_train()
    names(refusal(meta, "3_net.py", RECIPE, train), "2_logistic_regression.py", "3_net.py")


def test_other_shapes_are_refused(tmp_path):
    """In a notebook no script name is known: the variables' shapes tell."""
    meta = meta_of(tmp_path, {**RECIPE, "script": None}, shape=(784, 625))
    train, w = small_train((784, 10))
    i = checkpoint.train_state(train).index(w)
    names(refusal(meta, None, RECIPE, train), f"variable {i}", "[784, 625]", "[784, 10]")
    meta["shapes"] = meta["shapes"] + meta["shapes"][:1]
    names(refusal(meta, None, RECIPE, train), "holds 3 variables", "trains 2")


def test_restore_sets_back_every_variable_and_numpy_generator(tmp_path):
    outside = np.random.get_state()
    train, w = small_train()
    train()
    np.random.seed(1)
    path = tmp_path / "run.ckpt"
    checkpoint.save(path, RECIPE, train, [RECORD])
    next_draw, next_numpy = train(), np.random.rand(2)  # what follows the checkpoint
    train(), w.set_value(np.full((784, 10), 9, "float32")), np.random.seed(99)
    try:
        with pytest.raises(checkpoint.CheckpointError) as error:  # refused: nothing changes
            checkpoint.restore(path, "3_net.py", RECIPE, train)
        names(str(error.value), path, "cannot continue this run", "3_net.py")
        assert w.get_value()[0, 0] == 9

        assert checkpoint.restore(path, RECIPE["script"], RECIPE, train) == [RECORD]
        assert (w.get_value() == 1).all()
        np.testing.assert_array_equal(train(), next_draw)
        np.testing.assert_array_equal(np.random.rand(2), next_numpy)
    finally:
        np.random.set_state(outside)


# --- damaged files --------------------------------------------------------------------

def damaged(data, damage, path):
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
    return path


DAMAGES = ["truncated", "corrupted", "empty", "not one"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_checkpoint_cannot_be_loaded(logistic_checkpoint, tmp_path, damage):
    path = damaged(logistic_checkpoint.read_bytes(), damage, tmp_path / "damaged.ckpt")
    with pytest.raises(checkpoint.CheckpointError) as error:
        checkpoint.load(path)
    names(str(error.value), path, "not a complete checkpoint")
    with pytest.raises(checkpoint.CheckpointError) as error:
        checkpoint.load(tmp_path / "nothing.ckpt")
    names(str(error.value), tmp_path / "nothing.ckpt", "no such checkpoint")


@pytest.mark.slow  # checkpoint.load is tested on its own above; these are the scripts' lines
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_checkpoint_is_refused_whole(logistic_checkpoint, tmp_path, damage):
    path = damaged(logistic_checkpoint.read_bytes(), damage, tmp_path / "damaged.ckpt")
    data = path.read_bytes()
    names(refused(*LOGISTIC, "--epochs", 2, "--resume", path), path,
          "not a complete checkpoint", "cannot be used")
    assert path.read_bytes() == data  # left as it was, not overwritten


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
                                 cell.source, flags=re.DOTALL)
            break
    else:
        raise AssertionError("no parse_args call")
    return notebook


def execute(notebook):
    nbclient = pytest.importorskip("nbclient")
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    return "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))


@pytest.mark.slow
def test_terminal_and_notebook_resume_each_other(tmp_path):
    first, second = tmp_path / "terminal.ckpt", tmp_path / "notebook.ckpt"
    run(*LOGISTIC, "--epochs", 1, "--checkpoint", first)
    notebook = notebook_of("2_logistic_regression.py", epochs=2, ntrain=1000, ntest=200,
                           mode="C", resume=str(first), checkpoint=str(second))
    nbformat = pytest.importorskip("nbformat")
    again = [c for c in notebook.cells if "run.epochs()" in c.source][0].source
    notebook.cells.append(nbformat.v4.new_code_cell("args.epochs = 3"))
    notebook.cells.append(nbformat.v4.new_code_cell(again))  # the training cell, run again
    output = execute(notebook)
    assert f"resumed from {first} after epoch 1" in output
    assert [int(e) for e in re.findall(r"epoch +(\d+) ", output)] == [2, 3]
    result = run(*LOGISTIC, "--epochs", 4, "--resume", second)
    assert f"resumed from {second} after epoch 3" in result.stdout
    assert len(accuracies(result.stdout)) == 1


# --- crafted and flipped files: refused whole, nothing changed -------------------------

def crafted(tmp_path, change):
    """A checkpoint of small_train whose meta `change` edited; the path."""
    train, _ = small_train()
    path = tmp_path / "saved.ckpt"
    checkpoint.save(path, RECIPE, train, [RECORD])
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    change(meta, arrays)
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    path.with_suffix(".ckpt.npz").rename(path)
    return path


def generator_named(name):
    def change(meta, arrays):
        for state in meta["generators"].values():
            state["bit_generator"] = name
    return change


CRAFTED = {
    "a function of np.random for a generator": generator_named("seed"),
    "no such generator": generator_named("NoSuchGenerator"),
    "a generator's state cut": lambda m, a: [s.pop("state") for s in m["generators"].values()],
    "records not a list": lambda m, a: m.update(records=3),
    "a record without its accuracy": lambda m, a: m["records"][0].pop("test_accuracy"),
    "epoch not the records'": lambda m, a: m.update(epoch=7),
    "no recipe": lambda m, a: m.pop("recipe"),
    "the recipe without its data": lambda m, a: m["recipe"].pop("data"),
    "a text learning rate": lambda m, a: m["recipe"].update(lr="fast"),
    "numpy's state cut short": lambda m, a: m.update(numpy_global=[1]),
    "numpy's keys out of range": lambda m, a: m["numpy_global"].__setitem__(1, [-1] * 624),
    "shapes not lists": lambda m, a: m.update(shapes={"0": 1}),
    "a variable missing": lambda m, a: a.clear(),
    "a variable of another shape": lambda m, a: a.update(
        {k: np.zeros(3, "float32") for k in a}),
    "a variable of text": lambda m, a: a.update({k: np.full(v.shape, "x") for k, v in a.items()}),
    "meta a list": lambda m, a: (m.clear(), m.update(format=checkpoint.FORMAT, x=[])),
    "an older format": lambda m, a: m.update(format=1),
}


@pytest.mark.parametrize("change", CRAFTED.values(), ids=CRAFTED.keys())
def test_a_crafted_checkpoint_is_refused_and_nothing_is_changed(tmp_path, change):
    path = crafted(tmp_path, change)
    train, w = small_train()
    w.set_value(np.full((784, 10), 9, "float32"))
    outside = np.random.get_state()
    with pytest.raises(checkpoint.CheckpointError) as error:
        checkpoint.restore(path, RECIPE["script"], RECIPE, train)
    assert "\n" not in str(error.value)
    names(str(error.value), path)
    assert (w.get_value() == 9).all()
    assert np.random.get_state()[1].tolist() == outside[1].tolist()


def test_every_byte_flip_of_a_checkpoint_is_refused_in_one_line(tmp_path):
    """Every 100th byte of a small checkpoint with a generator: a flip either leaves
    a checkpoint that loads whole (a byte no check covers: the zip's own padding, a
    digit of a number) or is refused as a CheckpointError; nothing else escapes."""
    train, _ = small_train()
    path = tmp_path / "saved.ckpt"
    checkpoint.save(path, RECIPE, train, [RECORD])
    data = path.read_bytes()
    refused = 0
    for i in range(0, len(data), 100):
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
        try:
            checkpoint.restore(path, RECIPE["script"], RECIPE, train)
        except checkpoint.CheckpointError as e:
            assert "\n" not in str(e)
            refused += 1
    assert refused > len(data) // 100 // 2  # most flips are damage that is caught
