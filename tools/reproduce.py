"""Run the talk's full recipes and print their results table.

    python -m tools.reproduce                      # every model, 100 epochs each
    python -m tools.reproduce --only cnn net_lr0.5 # some of them
    python -m tools.reproduce --save               # keep them in results/, rewrite the pages

Without --save, the runs write into a temporary folder, removed at the end, and
nothing in the repository changes: the table of what they reached is printed.
With --save, each run writes its --log (one line per epoch) and its --save (the
trained parameters, which figures.py draws) into out/reproduce/ (which git ignores),
checkpointing there after each epoch, and each finished run's results/<run>.jsonl
and results/<run>.npz are then replaced by them (knn_baseline.py's results/knn.json
likewise); then the generated tables of README.md and docs/ are rewritten (python
-m tools.report). The scripts themselves never replace a file in results/. A
reproduce --save stopped halfway continues each unfinished run from its checkpoint
in out/reproduce/ when started again; a finished run's checkpoint is removed, so
the next reproduce trains afresh.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from toolkit import ROOT
from toolkit.files import write_json
from tools import report
from tools.runs import MODELS, RUNS


WORK = ROOT / "out" / "reproduce"  # a --save run's files until the run ends; git ignores out/


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100, help="for every model (default 100)")
    parser.add_argument("--only", nargs="+", choices=list(RUNS) + ["knn"], help="run only these")
    parser.add_argument("--save", action="store_true",
                        help="keep the logs and weights in results/ and rewrite the "
                             "generated tables of README.md and docs/")
    args = parser.parse_args(argv)
    if args.save:
        WORK.mkdir(parents=True, exist_ok=True)
        reproduce(args, WORK, keep=report.RESULTS)
        for page in report.update_pages():
            print(f"rewrote {page}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        reproduce(args, Path(tmp))
        print(report.results_table(Path(tmp)))
        print("(not saved: python -m tools.reproduce --save keeps them in results/)")


def reproduce(args, folder, keep=None):
    """Every chosen run, its --log, --save and checkpoint in `folder`; with `keep`
    (results/), each finished run's files then replace those of the same name there."""
    write_json((keep or folder) / "machine.json", {"machine": report.machine_description()})
    for name, run in RUNS.items():
        if args.only and name not in args.only:
            continue
        script = MODELS[run.model].script
        checkpoint = folder / f"{name}.ckpt"
        resume = ["--resume" if checkpoint.exists() else "--checkpoint", str(checkpoint)]
        print(f"== {' '.join([script, *run.extra])}, {args.epochs} epochs", flush=True)
        subprocess.run([sys.executable, script, "--epochs", str(args.epochs), *run.extra,
                        "--log", str(folder / f"{name}.jsonl"),
                        "--save", str(folder / f"{name}.npz"), *resume], cwd=ROOT, check=True)
        checkpoint.unlink()
        move(folder, keep, f"{name}.jsonl", f"{name}.npz")
    if not args.only or "knn" in args.only:
        print("== knn_baseline.py", flush=True)
        subprocess.run([sys.executable, "knn_baseline.py", "--log", str(folder / "knn.json")],
                       cwd=ROOT, check=True)
        move(folder, keep, "knn.json")


def move(folder, keep, *names):
    """Each of `names` from `folder` into `keep`, replacing what is there (nothing
    without `keep`): a rename, so a reader sees the old file or the new one."""
    if keep is None:
        return
    for name in names:
        os.replace(folder / name, keep / name)


if __name__ == "__main__":
    main()
