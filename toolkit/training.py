"""What the talk's training loop leaves implicit: the command line, and one Run
that loads --params, resumes, times and prints each epoch, logs, checkpoints and
saves.

The model, the cost, the updates, the compiled functions and the loop itself stay
in each script, as on the slides:

    args = training.parse_args(epochs=100, lr=0.05, mode="C")  # also seeds numpy
    mode = backends.prepare(args)
    ...
    run = training.Run(args, train, params)
    for i in run.epochs():
        for start, end in run.minibatches(len(trX)):
            batch_cost = train(trX[start:end], trY[start:end])
            run.add_cost(batch_cost, end - start)
        run.end_epoch(np.mean(np.argmax(teY, axis=1) == predict(teX)))
    run.save(probabilities, teX)

In a Jupyter kernel (or VS Code's, or PyCharm's cells) the command line is not
read: the defaults in the parse_args call hold, and errors raise as exceptions.
"""
import argparse
import contextlib
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import numpy as np

from toolkit import backends, checkpoint, mnist_files, outputs, trained
from toolkit.digits import read_digit
from toolkit.files import WriteError, not_a_file, writable, write_jsonl
from toolkit.notebook import LearningCurve, in_notebook, show_digit, stop


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
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def seed_int(text):
    """A seed numpy and PyTensor's generators both take: 0 to 2**32 - 1."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be from 0 to {2**32 - 1}, got {text}")
    return value


def check_output_paths(parser, inputs=(), kinds=None, resume=None, **paths):
    """Fail before any work where a file could not be written at the end (a folder
    given as the file, a missing or unwritable folder, two flags naming one file) or
    must not be (outputs.refusal: one of `inputs`, the files the run reads; the
    project's own; an existing file of another kind). `kinds`: flag -> (name, test)
    where a flag writes another kind of file than outputs.KINDS says. `resume`: the
    checkpoint the run continues, which --checkpoint may name (and so replace)."""
    seen = {}
    for name, path in paths.items():
        if not path:
            continue
        flag = "--" + name.replace("_", "-")
        # --checkpoint continuing the --resume file: resuming checks that file, whole
        continues = (name == "checkpoint" and resume is not None
                     and os.path.realpath(path) == os.path.realpath(resume))
        why = writable(path) or (None if continues else
                                 outputs.refusal(name, path, inputs, (kinds or {}).get(name)))
        if why:
            parser.error(f"{flag} {path}: {why}")
        same = seen.setdefault(os.path.realpath(path), flag)
        if same != flag:
            parser.error(f"{same} and {flag} both name {path}: give each its own file")


def parse_args(epochs=100, batch_size=128, lr=0.05, mode="C", seed=42, digit=None,
               draw_params=None, argv=None, **defaults):
    """The command line every MNIST script shares, parsed and checked. The defaults
    are the talk's recipe and the backend that trains that script fastest on a CPU
    (docs/backends.md; backends.prepare takes it where it can run); any other
    option's default can be given too (resume="cnn.ckpt", say). A script that
    passes `digit` (the image its last cell classifies) takes --digit and --draw
    too; a --draw run with neither --params nor --resume reads `draw_params`.

    Returns argparse's namespace; .mode is the --mode asked for (None: the
    script's default, .default_mode), .data what the run trains on (Run.recipe),
    .trained the --params file's contents, read once. numpy's generator is seeded
    with --seed, so init_weights draws the same weights every run. In a notebook
    the defaults are used as they are. A bad argument, an output folder that does
    not exist, a data folder
    without MNIST, a --params or --digit file that is not one ends a terminal run
    with one line (argparse's exit 2) and raises in a notebook. Run from a terminal,
    Ctrl-C then ends the run in one line too (stop_on_ctrl_c).
    """
    parser = OneLineParser(description=sys.modules["__main__"].__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=positive_int,
                        help=f"passes over the training set (default {epochs}; 0 with --params)")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                        help=f"examples per update (default {batch_size})")
    parser.add_argument("--lr", type=positive_float, default=lr,
                        help=f"learning rate (default {lr})")
    parser.add_argument("--seed", type=seed_int, default=seed,
                        help=f"random seed (default {seed})")
    parser.add_argument("--ntrain", type=positive_int, default=60000,
                        help="train on the first N images (default 60000)")
    parser.add_argument("--ntest", type=positive_int, default=10000,
                        help="evaluate on the first N test images (default 10000)")
    parser.add_argument("--data-dir", help="folder with the MNIST files (default: data/mnist)")
    parser.add_argument("--device", choices=backends.DEVICES, default="cpu", type=str.lower,
                        help="cpu (default), or gpu: JAX on the first CUDA device, "
                             "as Theano's THEANO_FLAGS=device=cuda")
    parser.add_argument("--mode", choices=backends.MODES, type=str.upper,
                        help=f"PyTensor backend: C, NUMBA or JAX (default {mode} on the cpu, "
                             f"JAX on the gpu)")
    parser.add_argument("--save", metavar="PATH", help="at the end, write the trained parameters "
                        "and the test set's class probabilities (.npz)")
    parser.add_argument("--params", metavar="PATH", help="start from the weights of a --save "
                        "file (and train only the --epochs given)")
    parser.add_argument("--log", metavar="PATH", help="write one JSON line per epoch")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="after each epoch, write all that the next one needs")
    parser.add_argument("--resume", metavar="PATH",
                        help="continue from a --checkpoint file, up to --epochs (and keep "
                             "checkpointing to it unless --checkpoint says otherwise)")
    parser.add_argument("--new-lr", action="store_true",
                        help="with --resume: continue with this run's --lr, not the checkpoint's")
    if digit is not None:
        parser.add_argument("--digit", metavar="IMAGE", default=str(digit),
                            help="a PNG or JPEG of a digit for the trained net to read "
                                 "(default: a 7 from data/digits/)")
        parser.add_argument("--draw", action="store_true",
                            help="serve a page to draw digits on, answered by the trained net"
                                 + (f" (--params, default {os.path.relpath(draw_params)})"
                                    if draw_params else ""))
    unknown = set(defaults) - {a.dest for a in parser._actions}
    if unknown:
        raise TypeError(f"parse_args() got unknown options {sorted(unknown)}")
    parser.set_defaults(**defaults)
    notebook = in_notebook()
    if not notebook and argv is None:  # a run from the command line itself
        stop_on_ctrl_c(os.path.basename(sys.argv[0]))  # one line from now on
    args = parser.parse_args([] if notebook and argv is None else argv)
    args.script = None if notebook else os.path.basename(sys.argv[0])
    args.default_mode = mode
    if getattr(args, "draw", False) and draw_params and not (args.params or args.resume):
        args.params = str(draw_params)
    if args.epochs is None:
        args.epochs = 0 if args.params else epochs
    if args.resume and args.params:
        parser.error("--resume and --params: a checkpoint already holds the weights; give one")
    if args.resume and (why := not_a_file(args.resume)):
        parser.error(f"--resume {args.resume}: {why}")
    if args.resume and not args.checkpoint:
        args.checkpoint = args.resume
    args.trained, flag = None, ""  # flag: the option whose file a message is about
    try:
        folder, _ = mnist_files.find_folder(args.data_dir)
        inputs = [mnist_files.find(folder, name) for name in mnist_files.FILES.values()]
        inputs += [args.params, args.resume, getattr(args, "digit", None),
                   sys.argv[0] if args.script else None]  # and the script itself
        check_output_paths(parser, inputs, resume=args.resume, save=args.save, log=args.log,
                           checkpoint=args.checkpoint)
        args.data = data_set(*mnist_files.check(args.ntrain, args.ntest, args.data_dir))
        if args.params:  # whole and this script's, or one line
            flag = "--params "
            args.trained = trained.read(args.params, args.script)
        if getattr(args, "digit", None):
            flag = "--digit "
            read_digit(args.digit)
    except (mnist_files.MNISTError, trained.TrainedError) as e:
        if notebook:
            raise
        parser.error(flag + str(e))
    np.random.seed(args.seed)
    return args


# What the line a Ctrl-C prints says: where the run is, and how to go on from there.
CTRL_C = {"where": "before training started", "then": None, "held": False, "pending": False}


def ctrl_c_says(where, then=None):
    """Set what a Ctrl-C's one line says: where the run is ("in epoch 3 of 100") and,
    if it can go on from there, the command that does."""
    CTRL_C.update(where=where, then=then)


def stop_on_ctrl_c(prog):
    """From now on, Ctrl-C ends the run with one line on stderr (where it stopped and,
    with a checkpoint, the command that continues it) and exit status 130, as a
    shell reports an interrupted command; every file written so far is whole
    (files.write_atomic). Left alone where SIGINT is ignored (a background job) or
    already someone else's."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def stop(signum=None, frame=None):
        if CTRL_C["held"]:  # a file and the line about it are being brought up to date
            CTRL_C["pending"] = True
            return
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: the exit is under way
        then = f"; continue with: {CTRL_C['then']}" if CTRL_C["then"] else ""
        clear = "\r\033[K" if sys.stderr.isatty() else ""  # over a progress bar, if any
        print(f"{clear}{prog}: stopped by Ctrl-C {CTRL_C['where']}{then}", file=sys.stderr,
              flush=True)
        raise SystemExit(130)
    signal.signal(signal.SIGINT, stop)
    CTRL_C["stop"] = stop


@contextlib.contextmanager
def ctrl_c_held():
    """A Ctrl-C inside this block stops the run when the block ends: what it writes
    (a checkpoint) and what the Ctrl-C line says of it change together, so the line
    never offers a checkpoint that is not there, or hides one that is."""
    CTRL_C.update(held=True, pending=False)
    try:
        yield
    finally:
        CTRL_C["held"] = False
    if CTRL_C["pending"]:  # not reached when the block failed: its own error is the line
        CTRL_C["pending"] = False
        CTRL_C["stop"]()


def resume_command(checkpoint_path):
    """This run's own command line, continuing from checkpoint_path."""
    kept, skip = [], False
    for arg in sys.argv[1:]:
        name = arg.split("=", 1)[0]
        if skip:
            skip = False
        elif len(name) > 3 and ("--checkpoint".startswith(name) or "--resume".startswith(name)):
            skip = "=" not in arg  # its value is the next argument
        else:
            kept.append(arg)
    return shlex.join(["python", sys.argv[0], *kept, "--resume", checkpoint_path])


def minibatches(n, batch_size, progress=False):
    """(start, end) pairs covering all n examples, the last batch possibly smaller.
    With progress, a progress bar shows them where someone is watching (a terminal
    or a notebook)."""
    batches = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if not progress or not (in_notebook() or sys.stderr.isatty()):
        return batches
    from tqdm.auto import tqdm
    return tqdm(batches, leave=False, unit="batch")


def predict_in_batches(predict, X, batch_size=1000):
    """predict() over X a batch at a time, so memory stays bounded for any X."""
    return np.concatenate([predict(X[start:end])
                           for start, end in minibatches(len(X), batch_size)])


class Run:
    """A training run of the compiled `train`, updating `params` (the weights by name,
    as --save writes them): it starts from --params or --resume, times and prints
    each epoch, writes --log and --checkpoint after each, and --save at the end.

    An epoch is one turn of epochs(), one add_cost() per minibatch, then end_epoch()
    with the test accuracy. The training time runs from the epoch's start to the
    last add_cost; the evaluation time from there to end_epoch. epochs_done counts
    the epochs ended, those of a resumed checkpoint included, and epochs() starts
    there: a notebook's training cell run again continues where the model is."""

    def __init__(self, args, train, params):
        self.args, self.train, self.params = args, train, params
        self.mode = backends.mode_name(train)  # what `train` was compiled for
        self.device = backends.device_name(self.mode)
        self.records = []
        self.started = None
        self.curve = LearningCurve() if in_notebook() else None  # a terminal prints only
        if args.params:  # trained weights instead of random ones
            trained.load(args.params, params, args.script, contents=args.trained)
        if args.resume:  # weights, optimizer, generators and epochs done
            self.resume(args.resume)

    def resume(self, path):
        """Set every variable `train` updates (weights, optimizer state, random
        generators), numpy's generator and the epochs done from a --checkpoint file;
        a file that cannot continue this run: one line, and nothing is changed.
        With --log, the log so far is written at once."""
        try:
            self.records = checkpoint.restore(path, self.args.script, self.recipe(),
                                              self.train, allow_new_lr=self.args.new_lr)
        except checkpoint.CheckpointError as e:
            stop(e, self.args.script)
        with ctrl_c_held():
            if self.args.log:  # the log so far, also when the run is done already
                self.write(write_jsonl, self.args.log, self.records)
            self.tell_ctrl_c("after epoch")
        print(f"resumed from {path} after epoch {self.epochs_done}"
              + ("" if self.epochs_done < self.args.epochs else
                 f": --epochs {self.args.epochs} are done already"), flush=True)

    @property
    def epochs_done(self):
        return len(self.records)

    def recipe(self):
        """What trained the model so far: the script, its settings, the backend, the
        epochs of this run, the --params file it started from (if any) and the data set
        ("MNIST", checked by its checksums, or the --data-dir folder)."""
        args = self.args
        return {"script": args.script, "lr": args.lr, "batch_size": args.batch_size,
                "seed": args.seed, "ntrain": args.ntrain, "ntest": args.ntest,
                "epochs": self.epochs_done, "params": args.params, "data": args.data,
                "mode": self.mode, "device": self.device}

    def tell_ctrl_c(self, where):
        """Make a Ctrl-C's line say where the run is ("in epoch", "after epoch" with the
        epoch's number) and, once its --checkpoint holds an epoch, how to continue."""
        number = self.epochs_done + (where == "in epoch")
        where = f"{where} {number} of {self.args.epochs}"
        path = self.args.checkpoint
        if path and self.epochs_done and os.path.exists(path):
            ctrl_c_says(where, resume_command(path))
        else:
            ctrl_c_says(where + (" (no checkpoint written yet)" if path else ""))

    def write(self, writer, path, *what):
        """writer(path, *what), or one line if the file cannot be written (a full disk)."""
        try:
            writer(path, *what)
        except WriteError as e:
            stop(e, self.args.script)

    def epochs(self):
        """The numbers of the epochs still to run, up to --epochs, each one started
        (timed, and a Ctrl-C inside it says so) as the loop reaches it."""
        for epoch in range(self.epochs_done, self.args.epochs):
            self.start_epoch()
            yield epoch + 1

    def minibatches(self, n):
        """(start, end) of each --batch-size minibatch of n examples, with a progress
        bar where someone is watching."""
        return minibatches(n, self.args.batch_size, progress=True)

    def start_epoch(self):
        self.tell_ctrl_c("in epoch")
        self.started = self.last_cost = time.perf_counter()
        self.total_cost, self.seen = 0.0, 0

    def add_cost(self, batch_cost, n):
        """Add a minibatch's mean cost over its n examples to the epoch's."""
        self.total_cost += float(batch_cost) * n  # float(): JAX's result is ready now
        self.seen += n
        self.last_cost = time.perf_counter()

    def end_epoch(self, test_accuracy):
        """Print the epoch's line, rewrite --log and --checkpoint; the epoch's record."""
        if self.started is None:
            raise RuntimeError("end_epoch() outside an epoch of epochs()")
        test_accuracy = float(test_accuracy)  # JAX computes it only when asked for it
        now = time.perf_counter()
        record = {"epoch": len(self.records) + 1, "test_accuracy": test_accuracy,
                  "train_cost": self.total_cost / max(self.seen, 1),
                  "train_seconds": self.last_cost - self.started,
                  "eval_seconds": now - self.last_cost,
                  "mode": self.mode, "device": self.device}
        self.started = None
        peak = backends.peak_gpu_memory_mb(self.mode)
        if peak is not None:
            record["peak_gpu_memory_mb"] = peak
        self.records.append(record)
        record["recipe"] = self.recipe()
        print(f"epoch {record['epoch']:3d}  test accuracy {record['test_accuracy']:.4f}  "
              f"train cost {record['train_cost']:.4f}  {record['train_seconds']:.2f} s",
              flush=True)
        if self.curve is not None:
            self.curve.update(self.records)
        with ctrl_c_held():
            if self.args.log:
                self.write(write_jsonl, self.args.log, self.records)
            if self.args.checkpoint:
                self.write(checkpoint.save, self.args.checkpoint, self.recipe(), self.train,
                           self.records)
            self.tell_ctrl_c("after epoch")
        return record

    def save(self, probabilities, X):
        """With --save: the weights, and probabilities(X), the net's answer for each
        test image (figures.py draws them), computed only then."""
        if self.args.save:
            trained.save(self.args.save, self.params, self.recipe(),
                         predict_in_batches(probabilities, X))


def data_set(folder, official):
    """What a run trained on: "MNIST" (the official files, checked by their sha256)
    or the absolute path of the folder it was given (--data-dir or MNIST_DIR)."""
    return "MNIST" if official else str(Path(folder).resolve())


def show_answer(name, image, probabilities):
    """Print the net's answer for the digit of the file `name`, `predicted: 7 for
    my_digit.png`, then every class's probability; in a notebook, also the image as
    the net saw it and the bars."""
    answer = int(np.argmax(probabilities))
    print(f"predicted: {answer} for {os.path.relpath(name) if os.path.isabs(name) else name}")
    print("  ".join(f"{c}: {p:.3f}" for c, p in enumerate(probabilities)), flush=True)
    if in_notebook():
        show_digit(image, probabilities)


def summary(inputs, outputs, example, params):
    """Print the model once, as Keras does: each conv2d, max_pool_2d and dot in the
    graph from inputs to outputs with its output shape for one example, then the
    parameters. Shapes come from PyTensor's shape inference, so nothing is trained."""
    import pytensor
    from pytensor.graph.traversal import io_toposort
    from pytensor.tensor.math import Dot

    from toolkit.ops import Corr2d, MaxPool
    names = {Corr2d: "conv2d", MaxPool: "max_pool_2d", Dot: "dot"}
    layers = [(names[type(node.op)], node.outputs[0])
              for node in io_toposort([inputs], [outputs]) if type(node.op) in names]
    shapes = pytensor.function([inputs], [inputs.shape] + [v.shape for _, v in layers],
                               on_unused_input="ignore", mode="FAST_COMPILE")(example[:1])
    lines = [f"  {'input':<12} {' x '.join(map(str, shapes[0][1:]))}"]
    lines += [f"  {name:<12} {' x '.join(map(str, shape[1:]))}"
              for (name, _), shape in zip(layers, shapes[1:])]
    total = sum(p.get_value().size for p in params.values())
    lines.append(f"  parameters   {total:,} numbers: " + ", ".join(
        f"{name} {'x'.join(map(str, p.get_value().shape))}" for name, p in params.items()))
    print("model, for one example:\n" + "\n".join(lines), flush=True)
