"""Seconds per training epoch: each numbered script against the same model in
PyTorch, on the same CPU, in the same run; and knn_baseline.py against
scikit-learn's brute-force 1-nearest-neighbour.

    pip install -r bench/requirements.txt
    python bench/speed.py            # writes results/speed.json, then: python report.py
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import report  # noqa: E402
from trainer import write_atomic  # noqa: E402

EPOCHS = {"logistic": 3, "net": 3, "modern": 2, "cnn": 2}
NAMES = {"logistic": "logistic regression", "net": "sigmoid net", "modern": "modern net",
         "cnn": "convolutional net"}


def timed_epochs(command):
    """Run a training command; its per-epoch records from --log."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.jsonl"
        subprocess.run(command + ["--log", str(log)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        return report.read_log(log)


def save_measurements(name, rows, note, **extra):
    """results/<name>.json: the rows, this machine and a note, written whole or not at all."""
    data = {"rows": rows, "machine": report.machine_description(), **extra, "note": note}
    text = (json.dumps(data, indent=1) + "\n").encode()
    write_atomic(ROOT / "results" / f"{name}.json", lambda f: f.write(text))


def last(records, key):
    return records[-1][key]  # the last epoch: compilation and warm-up are behind it


def knn_row():
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    import knn_baseline
    from load import mnist
    trX, teX, trY, teY = mnist(onehot=False)
    start = time.perf_counter()
    ours = knn_baseline.predict(teX, trX, trY, k=1)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    peer = KNeighborsClassifier(n_neighbors=1, algorithm="brute").fit(trX, trY).predict(teX)
    peer_seconds = time.perf_counter() - start
    accuracy = float(np.mean(ours == teY))
    (ROOT / "results" / "knn.json").write_text(json.dumps(
        {"k": 1, "test_accuracy": accuracy, "seconds": ours_seconds}) + "\n")
    return {"model": f"kNN (k=1, whole run; scikit-learn brute force, "
                     f"accuracy {np.mean(peer == teY):.4f} vs ours {accuracy:.4f})",
            "ours": ours_seconds, "peer": peer_seconds}


def main():
    import torch
    rows = []
    for model, epochs in EPOCHS.items():
        script = report.MODELS[model][0]
        ours = timed_epochs([sys.executable, script, "--epochs", str(epochs)])
        peer = timed_epochs([sys.executable, "bench/torch_models.py", "--model", model,
                             "--epochs", str(epochs)])
        row = {"model": NAMES[model], "mode": last(ours, "mode"),
               "ours": last(ours, "train_seconds"),
               "peer": last(peer, "train_seconds"),
               "eval_ratio": last(ours, "eval_seconds") / last(peer, "eval_seconds"),
               "accuracy_ours": last(ours, "test_accuracy"),
               "accuracy_peer": last(peer, "test_accuracy"), "epochs": epochs}
        print(json.dumps(row), flush=True)
        rows.append(row)
    rows.append(knn_row())
    print(json.dumps(rows[-1]))
    save_measurements(
        "speed", rows, peer=f"PyTorch {torch.__version__} with {torch.get_num_threads()} threads",
        note="train seconds of the last epoch of a short run (batch 128, float32); "
             "test-set prediction ratio compares the time to predict 10000 test images")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
