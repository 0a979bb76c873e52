"""Run the talk's full recipe for every model and keep the logs in results/.

    python reproduce.py                  # 100 epochs each, the CNN 10
    python reproduce.py --cnn-epochs 100 # the whole CNN recipe (hours on 2 cores)
    python report.py                     # then rebuild the README's tables

Each run writes results/<model>.jsonl (one line per epoch) and results/<model>.npz
(the trained parameters, which figures.py draws).
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import report

ROOT = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100, help="for models 2-4 (default 100)")
    parser.add_argument("--cnn-epochs", type=int, default=10, help="for the CNN (default 10)")
    parser.add_argument("--only", nargs="*", choices=list(report.MODELS) + ["knn"],
                        help="run only these")
    args = parser.parse_args()
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    (results / "machine.json").write_text(
        json.dumps({"machine": report.machine_description()}) + "\n")
    for name, (script, _) in report.MODELS.items():
        if args.only and name not in args.only:
            continue
        epochs = args.cnn_epochs if name == "cnn" else args.epochs
        print(f"== {script}, {epochs} epochs", flush=True)
        subprocess.run([sys.executable, script, "--epochs", str(epochs),
                        "--log", str(results / f"{name}.jsonl"),
                        "--save", str(results / f"{name}.npz")], cwd=ROOT, check=True)
    if not args.only or "knn" in args.only:
        print("== knn_baseline.py", flush=True)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "knn_baseline.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        accuracy = float(out.strip().splitlines()[-1].split()[-1])
        (results / "knn.json").write_text(json.dumps(
            {"k": 1, "test_accuracy": accuracy,
             "seconds": time.perf_counter() - start}) + "\n")
    report.update_readme()


if __name__ == "__main__":
    main()
