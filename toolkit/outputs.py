"""Which files an output flag (--save, --log, --checkpoint) may replace.

As git will not overwrite a file it did not write, an output flag never replaces:
- a file the run reads (its data, --params, --digit), nor the script itself;
- the project's data and committed results (data/, results/): `python -m
  tools.reproduce` writes its runs elsewhere and moves them in itself;
- an existing file of another kind than the flag writes: a --log replaces only a
  log, a --save only a saved model, a --checkpoint only a checkpoint.
A --checkpoint naming the file that --resume continues is the normal way to go on.
A device or a pipe (/dev/null) is written to, never replaced: always allowed.
"""
import json
import os

from toolkit import ROOT

PROJECT_FOLDERS = ("data", "results")  # the project's data and its committed results


def is_log(path):
    """Every line a JSON object of an epoch, as --log writes them (an empty file too)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 16)
        return not first.strip() or "epoch" in json.loads(first)
    except (OSError, ValueError, TypeError):
        return False


def is_knn_log(path):
    """knn_baseline.py's --log: one JSON object with its k and accuracy."""
    try:
        with open(path, "rb") as f:
            value = json.loads(f.read(1 << 16))
        return isinstance(value, dict) and "k" in value and "test_accuracy" in value
    except (OSError, ValueError):
        return False


def is_saved_model(path):
    from toolkit import trained
    try:
        trained.read(path)
        return True
    except trained.TrainedError:
        return False


def is_checkpoint(path):
    from toolkit import checkpoint
    try:
        checkpoint.load(path)
        return True
    except checkpoint.CheckpointError:
        return False


KINDS = {"log": ("a log", is_log), "save": ("a saved model", is_saved_model),
         "checkpoint": ("a checkpoint", is_checkpoint)}


def refusal(flag, path, inputs=(), kind=None):
    """Why output `flag` ("save", "log", "checkpoint") may not replace `path`, in a few
    words; None if it may. `inputs`: the files the run reads. `kind`: (name, test)
    where the flag writes another kind than KINDS says (knn_baseline.py's log)."""
    real = os.path.realpath(path)
    if real in {os.path.realpath(p) for p in inputs if p}:
        return "it is a file this run reads"
    if not os.path.exists(real) or not os.path.isfile(real) or os.path.getsize(real) == 0:
        return None  # nothing there to lose, or a device or pipe, written to directly
    where = os.path.relpath(real, ROOT).split(os.sep)
    if where[0] in PROJECT_FOLDERS:
        return f"it is one of the project's own files ({where[0]}/); write your own elsewhere"
    name, test = kind or KINDS[flag]
    if not test(real):
        return f"it exists and is not {name}; give a new file name"
    return None
