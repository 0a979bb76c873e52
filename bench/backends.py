"""Seconds per training epoch of each numbered script on each PyTensor backend
(C, NUMBA, JAX), on this CPU, in one run.

    python bench/backends.py                 # prints the table, writes nothing
    python bench/backends.py --save          # and keeps it in results/backends.json
    python -m tools.report                   # then rebuild docs/backends.md's table

Each run is short and on the full data (batch 128). The time reported is the last
epoch's: Numba and JAX compile during the first call, so the first epoch includes
compilation, reported separately.
"""
import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository
from toolkit import ROOT  # noqa: E402
from toolkit.backends import MODES  # noqa: E402
from tools.runs import MODELS  # noqa: E402
from tools import report  # noqa: E402
from speed import measured, saved_or_not, timed_epochs  # noqa: E402  (bench/ is here)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--save", action="store_true",
                        help="keep the measurements in results/backends.json (with the other "
                             "models' rows of the last saved run)")
    args = parser.parse_args(argv)
    modes = [m for m in MODES if m != "JAX" or importlib.util.find_spec("jax")]
    rows = []
    for model in args.models:
        script, epochs = MODELS[model].script, MODELS[model].bench_epochs
        for mode in modes:
            log = timed_epochs([sys.executable, script, "--mode", mode, "--epochs", str(epochs)])
            row = {"id": [model, mode], "model": model, "mode": mode, "epochs": epochs,
                   "train_seconds": log[-1]["train_seconds"],
                   "first_epoch_seconds": log[0]["train_seconds"],
                   "eval_seconds": log[-1]["eval_seconds"],
                   "test_accuracy": log[-1]["test_accuracy"]}
            print(json.dumps(row), flush=True)
            rows.append(row)
    versions = {}
    for package in ("pytensor", "numba", "jax"):
        if importlib.util.find_spec(package):
            versions[package] = __import__(package).__version__
    data = measured("backends", rows, save=args.save, versions=versions,
                    note="train seconds of the last epoch of a short run on the full "
                         "training set (batch 128, float32); the first epoch includes "
                         "compilation")
    print(report.backend_table(data))
    print(saved_or_not(args.save, "backends"))


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
