"""Run the talk's full recipes and print their results table.

    python -m tools.reproduce                      # every model, 100 epochs each
    python -m tools.reproduce --only cnn net_lr0.5 # some of them
    python -m tools.reproduce --save               # keep them in results/, rewrite the pages

Without --save, the runs write into a temporary folder, removed at the end, and
nothing in the repository changes: the table of what they reached is printed.
With --save, each run writes results/<run>.jsonl through the script's own --log
(one line per epoch) and results/<run>.npz through --save (the trained parameters,
which figures.py draws); knn_baseline.py writes results/knn.json through its --log;
then the generated tables of README.md and docs/ are rewritten (python -m tools.report).
A saved run also checkpoints into results/<run>.ckpt: a reproduce --save stopped
halfway continues each unfinished run where it stopped when started again. A
finished run's checkpoint is removed, so the next reproduce trains afresh.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from toolkit import ROOT
from toolkit.files import write_json
from tools import report
from tools.runs import MODELS, RUNS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100, help="for every model (default 100)")
    parser.add_argument("--only", nargs="+", choices=list(RUNS) + ["knn"], help="run only these")
    parser.add_argument("--save", action="store_true",
                        help="write the logs and weights into results/ and rewrite the "
                             "generated tables of README.md and docs/")
    args = parser.parse_args(argv)
    if args.save:
        reproduce(args, report.RESULTS)
        for page in report.update_pages():
            print(f"rewrote {page}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        reproduce(args, Path(tmp))
        print(report.results_table(Path(tmp)))
        print("(not saved: python -m tools.reproduce --save keeps them in results/)")


def reproduce(args, results):
    """Every chosen run, its --log, --save and checkpoint in the folder `results`."""
    results.mkdir(exist_ok=True)
    write_json(results / "machine.json", {"machine": report.machine_description()})
    for name, run in RUNS.items():
        if args.only and name not in args.only:
            continue
        script = MODELS[run.model].script
        checkpoint = results / f"{name}.ckpt"
        resume = ["--resume" if checkpoint.exists() else "--checkpoint", str(checkpoint)]
        print(f"== {' '.join([script, *run.extra])}, {args.epochs} epochs", flush=True)
        subprocess.run([sys.executable, script, "--epochs", str(args.epochs), *run.extra,
                        "--log", str(results / f"{name}.jsonl"),
                        "--save", str(results / f"{name}.npz"), *resume], cwd=ROOT, check=True)
        checkpoint.unlink()
    if not args.only or "knn" in args.only:
        print("== knn_baseline.py", flush=True)
        subprocess.run([sys.executable, "knn_baseline.py", "--log", str(results / "knn.json")],
                       cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
