"""Plumbing shared by the numbered scripts: the command line, the epoch loop,
the per-epoch log and the saved parameters.

The model, the cost and the updates stay in each script, as on the slides;
everything here is what the talk's `for i in range(100):` loop left implicit.
"""
import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np

import backend

MODES = ("C", "NUMBA", "JAX")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument costs one line on stderr, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_mode_argument(parser, mode):
    parser.add_argument("--mode", default=mode, type=str.upper, choices=MODES,
                        help=f"PyTensor backend: C, NUMBA or JAX (default {mode})")


def set_mode(parser, args):
    """Turn the --mode name into a PyTensor mode, or a one-line error."""
    try:
        args.mode_name, args.mode = args.mode, backend.compile_mode(args.mode)
    except backend.BackendMissing as e:
        parser.error(str(e))


def parse_mode(description, argv=None):
    """The command line of the scripts that only compile and run: --mode alone."""
    parser = OneLineParser(description=description)
    add_mode_argument(parser, backend.DEFAULT_MODE)
    args = parser.parse_args(argv)
    set_mode(parser, args)
    return args


def parse_args(description, epochs=100, batch_size=128, lr=0.05, mode=backend.DEFAULT_MODE,
               argv=None):
    """The command line every MNIST script shares; the defaults are the talk's recipe,
    and the backend that trained that script fastest on a CPU (README, "Backends")."""
    parser = OneLineParser(description=description)
    parser.add_argument("--epochs", type=positive_int, default=epochs,
                        help=f"passes over the training set (default {epochs})")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                        help=f"examples per update (default {batch_size})")
    parser.add_argument("--lr", type=positive_float, default=lr,
                        help=f"learning rate (default {lr})")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--ntrain", type=positive_int, default=60000,
                        help="train on the first N images (default 60000)")
    parser.add_argument("--ntest", type=positive_int, default=10000,
                        help="evaluate on the first N test images (default 10000)")
    parser.add_argument("--data-dir", help="folder with the MNIST files (default: data/mnist)")
    add_mode_argument(parser, mode)
    parser.add_argument("--save", metavar="PATH", help="write the trained parameters (.npz)")
    parser.add_argument("--log", metavar="PATH", help="write one JSON line per epoch")
    args = parser.parse_args(argv)
    for path in (args.save, args.log):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            parser.error(f"folder {folder} does not exist (for {path})")
    set_mode(parser, args)
    np.random.seed(args.seed)  # after compile_mode: importing a backend may draw numbers
    return args


def load_data(args, **kwargs):
    """MNIST as the script asked for it, or a one-line error and exit 2."""
    from load import MNISTError, mnist
    try:
        return mnist(ntrain=args.ntrain, ntest=args.ntest, onehot=True,
                     data_dir=args.data_dir, **kwargs)
    except MNISTError as e:
        sys.exit(f"error: {e}")


def minibatches(n, batch_size):
    """(start, end) pairs covering all n examples, the last batch possibly smaller."""
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def predict_all(predict, X, batch_size=1000):
    """predict() over X in batches, so memory stays bounded for any X."""
    return np.concatenate([predict(X[start:end])
                           for start, end in minibatches(len(X), batch_size)])


def write_atomic(path, write):
    """Call write(file) on a temporary file, then rename it to path.

    Whatever stops the run (an error, Ctrl-C) leaves either the previous
    complete file or none, never half of one.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.remove(tmp)
        raise


def save_params(path, params):
    values = {name: p.get_value() for name, p in params.items()}
    write_atomic(path, lambda f: np.savez(f, **values))


def progress(iterable, desc):
    """A progress bar when a person is watching, nothing when output is piped."""
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, leave=False, disable=not sys.stderr.isatty(),
                unit="batch")


def fit(train, predict, trX, teX, trY, teY, args, params):
    """The talk's training loop: minibatch updates, then test accuracy, each epoch.

    Returns the list of per-epoch records (also written to --log).
    """
    records = []
    device = backend.device_name(args.mode_name)
    labels = np.argmax(teY, axis=1)
    batches = minibatches(len(trX), args.batch_size)
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        total_cost = 0.0
        for begin, end in progress(batches, f"epoch {epoch}"):
            total_cost += float(train(trX[begin:end], trY[begin:end])) * (end - begin)
        train_seconds = time.perf_counter() - start

        start = time.perf_counter()
        accuracy = float(np.mean(predict_all(predict, teX) == labels))
        eval_seconds = time.perf_counter() - start

        record = {"epoch": epoch, "test_accuracy": accuracy,
                  "train_cost": total_cost / len(trX), "train_seconds": train_seconds,
                  "eval_seconds": eval_seconds, "mode": args.mode_name, "device": device}
        records.append(record)
        print(f"epoch {epoch:3d}  test accuracy {accuracy:.4f}  train cost "
              f"{record['train_cost']:.4f}  {train_seconds:.2f} s", flush=True)
        if args.log:
            lines = "".join(json.dumps(r) + "\n" for r in records).encode()
            write_atomic(args.log, lambda f: f.write(lines))
        if args.save:
            save_params(args.save, params)
    return records


# RandomStream is Theano's `srng` under its PyTensor name; PyTensor 3 marks it
# deprecated in favour of explicit rng threading, which would hide the slides' dropout.
warnings.filterwarnings("ignore", message="RandomStream is deprecated", category=FutureWarning)
