"""Run the talk's full recipes and keep their logs in results/.

    python -m tools.reproduce                      # every model, 100 epochs each
    python -m tools.reproduce --only cnn net_lr0.5 # some of them
    python -m tools.report                         # then rebuild the README's tables

Each run writes results/<run>.jsonl through the script's own --log (one line per
epoch) and results/<run>.npz through --save (the trained parameters, which
figures.py draws); knn_baseline.py writes results/knn.json through its --log.
Each run also checkpoints into results/<run>.ckpt: a reproduce stopped halfway
continues each unfinished run where it stopped when started again. A finished
run's checkpoint is removed, so the next reproduce trains afresh.
"""
import argparse
import subprocess
import sys

from toolkit import ROOT
from toolkit.files import write_json
from tools import report
from tools.runs import MODELS, RUNS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100, help="for every model (default 100)")
    parser.add_argument("--only", nargs="+", choices=list(RUNS) + ["knn"], help="run only these")
    args = parser.parse_args(argv)
    results = report.RESULTS
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
    report.update_readme()


if __name__ == "__main__":
    main()
