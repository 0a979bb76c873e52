"""Seconds per training epoch: each numbered script against the same model in
PyTorch, on the same CPU, in the same run; and knn_baseline.py against
scikit-learn's brute-force 1-nearest-neighbour.

    pip install -r bench/requirements.txt
    python bench/speed.py                    # prints the table, writes nothing
    python bench/speed.py --models cnn --repeat 3
    python bench/speed.py --save             # and keeps it in results/speed.json
    python -m tools.report                   # then rebuild docs/speed.md's table

Each model is timed `--repeat` times, ours and PyTorch one after the other; the
table shows the median run (by ratio) and every run's ratio.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository
from toolkit import ROOT  # noqa: E402
from tools import report  # noqa: E402
from toolkit.files import read_jsonl, write_json  # noqa: E402
from tools.runs import MODELS  # noqa: E402


def timed_epochs(command):
    """Run a training command; its per-epoch records from --log."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.jsonl"
        subprocess.run(command + ["--log", str(log)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        return read_jsonl(log)


def measured(name, rows, note, save=False, **extra):
    """The measurements of this run: the rows, this machine and a note. With `save`,
    also results/<name>.json, written whole or not at all.

    A saved run of some models only keeps the other models' rows from the last full
    run; each row says when it was measured, and each ratio is of one run."""
    path = ROOT / "results" / f"{name}.json"
    when = time.strftime("%Y-%m-%d %H:%M")
    rows = [{**row, "measured": when} for row in rows]
    data = {"rows": rows, "machine": report.machine_description(), **extra, "note": note}
    if not save:
        return data
    new = {tuple(row["id"]) for row in rows}
    if path.exists():
        kept = [row for row in json.loads(path.read_text())["rows"]  # rows without an id
                if "id" in row and tuple(row["id"]) not in new]     # predate this format
        order = list(MODELS) + ["knn"]
        rows = sorted(kept + rows, key=lambda row: order.index(row["id"][0]))
    data = {**data, "rows": rows}
    write_json(path, data)
    return data


def saved_or_not(save, name):
    """The line after a bench's table: where it went, or how to keep it."""
    if save:
        return f"saved in results/{name}.json; python -m tools.report puts it in docs/"
    return f"not saved: --save keeps it in results/{name}.json"


def model_row(model, repeat):
    """Ours against PyTorch, `repeat` times; the run with the median ratio, and all ratios."""
    script, epochs = MODELS[model].script, MODELS[model].bench_epochs
    runs = []
    for _ in range(repeat):
        ours = timed_epochs([sys.executable, script, "--epochs", str(epochs)])[-1]
        recipe = ours["recipe"]  # what our script ran with, from its own --log
        torch = [sys.executable, "bench/torch_models.py", "--model", model, "--lr",
                 str(recipe["lr"]), "--batch-size", str(recipe["batch_size"]),
                 "--epochs", str(epochs)]
        eager = timed_epochs(torch)[-1]  # the last epoch: warm
        compiled = timed_epochs(torch + ["--compile"])[-1]  # warm: compiled in epoch 1
        peer = min(eager, compiled, key=lambda r: r["train_seconds"])  # the stronger one
        runs.append({"id": [model], "model": MODELS[model].title, "mode": ours["mode"],
                     "ours": ours["train_seconds"], "peer": peer["train_seconds"],
                     "eager": eager["train_seconds"], "compiled": compiled["train_seconds"],
                     "eval_ratio": ours["eval_seconds"] / peer["eval_seconds"],
                     "accuracy_ours": ours["test_accuracy"],
                     "accuracy_peer": peer["test_accuracy"], "epochs": epochs})
        print(json.dumps(runs[-1]), flush=True)
    ratios = [r["ours"] / r["peer"] for r in runs]
    row = sorted(runs, key=lambda r: r["ours"] / r["peer"])[len(runs) // 2]
    return {**row, "ratios": ratios,
            "eval_ratios": [r["eval_ratio"] for r in runs]}


def knn_row():
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    import knn_baseline
    from load import mnist
    # the whole run each, loading included: the same loader, read afresh for each
    start = time.perf_counter()
    trX, teX, trY, teY = mnist(onehot=False)
    ours = knn_baseline.predict(teX, trX, trY, k=1)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    trX, teX, trY, teY = mnist(onehot=False)
    peer = KNeighborsClassifier(n_neighbors=1, algorithm="brute").fit(trX, trY).predict(teX)
    peer_seconds = time.perf_counter() - start
    return {"id": ["knn"], "model": f"kNN (k=1, whole run; scikit-learn brute force, "
                     f"accuracy {np.mean(peer == teY):.4f} vs ours {np.mean(ours == teY):.4f})",
            "ours": ours_seconds, "peer": peer_seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS) + ["knn"],
                        default=list(MODELS) + ["knn"])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each model (default 1)")
    parser.add_argument("--save", action="store_true",
                        help="keep the measurements in results/speed.json (with the other "
                             "models' rows of the last saved run)")
    args = parser.parse_args(argv)
    import torch
    rows = [model_row(model, args.repeat) for model in args.models if model != "knn"]
    if "knn" in args.models:
        rows.append(knn_row())
        print(json.dumps(rows[-1]))
    data = measured(
        "speed", rows, save=args.save,
        peer=f"PyTorch {torch.__version__} with {torch.get_num_threads()} threads",
        note="train seconds of the last epoch of a short run (batch 128, float32), the run "
             "with the median ratio when repeated; test-set prediction ratio compares the "
             "time to predict 10000 test images")
    print(report.speed_table(data))
    print(saved_or_not(args.save, "speed"))


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
