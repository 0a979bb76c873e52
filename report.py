"""Tables for the README, built from the measurements in results/.

    python report.py     # rewrites the generated tables in README.md
"""
import json
import platform
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"

# model name -> (script, the talk's test accuracy in %, the PyTorch peer's name)
MODELS = {
    "logistic": ("2_logistic_regression.py", 92.5),
    "net": ("3_net.py", 98.4),
    "modern": ("4_modern_net.py", 99.0),
    "cnn": ("5_convolutional_net.py", 99.5),
}


def read_log(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def results_table(results=RESULTS):
    """Final accuracy of each full run in results/, beside the talk's figure."""
    rows = ["| script | epochs run | test accuracy | the talk | seconds per epoch (train) "
            "| backend |", "|---|---|---|---|---|---|"]
    for name, (script, talk) in MODELS.items():
        path = Path(results) / f"{name}.jsonl"
        if not path.exists():
            rows.append(f"| `{script}` | not run yet | | {talk} % | | |")
            continue
        log = read_log(path)
        seconds = sorted(r["train_seconds"] for r in log)[len(log) // 2]
        rows.append(f"| `{script}` | {len(log)} | {100 * log[-1]['test_accuracy']:.2f} % "
                    f"| {talk} % | {seconds:.2f} | {log[-1].get('mode', 'C')} |")
    knn = Path(results) / "knn.json"
    if knn.exists():
        k = json.loads(knn.read_text())
        rows.append(f"| `knn_baseline.py` | - | {100 * k['test_accuracy']:.2f} % | ~95 % | "
                    f"{k['seconds']:.1f} (whole run) | numpy |")
    machine = Path(results) / "machine.json"
    if machine.exists():
        rows.append("")
        rows.append(f"Measured on: {json.loads(machine.read_text())['machine']}.")
    return "\n".join(rows)


def speed_table(path=RESULTS / "speed.json"):
    """Seconds per epoch, ours against PyTorch, from bench/speed.py's output."""
    if not Path(path).exists():
        return "Not measured yet: run `python bench/speed.py`."
    data = json.loads(Path(path).read_text())
    rows = ["| model | ours s/epoch (backend) | PyTorch s/epoch | ratio (ours / PyTorch) "
            "| test-set prediction ratio |", "|---|---|---|---|---|"]
    for row in data["rows"]:
        eval_ratio = f"{row['eval_ratio']:.2f}" if "eval_ratio" in row else "-"
        mode = f" ({row['mode']})" if "mode" in row else ""
        rows.append(f"| {row['model']} | {row['ours']:.2f}{mode} | {row['peer']:.2f} | "
                    f"**{row['ours'] / row['peer']:.2f}** | {eval_ratio} |")
    rows.append("")
    rows.append(f"{data['machine']}; {data['peer']}; {data['note']}")
    return "\n".join(rows)


def backend_table(path=RESULTS / "backends.json"):
    """Seconds per epoch of each script on each backend, from bench/backends.py."""
    if not Path(path).exists():
        return "Not measured yet: run `python bench/backends.py`."
    data = json.loads(Path(path).read_text())
    modes = list(dict.fromkeys(r["mode"] for r in data["rows"]))
    by_model = {}
    for row in data["rows"]:
        by_model.setdefault(row["model"], {})[row["mode"]] = row
    rows = ["| script | " + " | ".join(f"{m} s/epoch" for m in modes) + " | fastest "
            "| first epoch, with compilation (s) | test accuracy after the run |",
            "|---|" + "---|" * len(modes) + "---|---|---|"]
    for model, runs in by_model.items():
        fastest = min(runs, key=lambda m: runs[m]["train_seconds"])
        times = [f"**{runs[m]['train_seconds']:.2f}**" if m == fastest else
                 f"{runs[m]['train_seconds']:.2f}" if m in runs else "-" for m in modes]
        first = " / ".join(f"{runs[m]['first_epoch_seconds']:.1f}" for m in modes if m in runs)
        accuracy = " / ".join(f"{runs[m]['test_accuracy']:.4f}" for m in modes if m in runs)
        epochs = runs[fastest]["epochs"]
        rows.append(f"| `{MODELS[model][0]}` ({epochs} epochs) | " + " | ".join(times) +
                    f" | {fastest} | {first} | {accuracy} |")
    versions = ", ".join(f"{k} {v}" for k, v in data.get("versions", {}).items())
    rows.append("")
    rows.append(f"{data['machine']}; {versions}; {data['note']}. The last two columns list "
                f"the backends in the order {' / '.join(modes)}.")
    return "\n".join(rows)


def machine_description():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def replace_block(text, name, content):
    """Replace what stands between <!-- name --> and <!-- /name --> in text."""
    pattern = re.compile(rf"(<!-- {name} -->\n).*?(<!-- /{name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no <!-- {name} --> block")
    return pattern.sub(lambda m: m.group(1) + content + "\n" + m.group(2), text)


def update_readme(readme=ROOT / "README.md"):
    text = Path(readme).read_text()
    text = replace_block(text, "results", results_table())
    text = replace_block(text, "speed", speed_table())
    text = replace_block(text, "backends", backend_table())
    Path(readme).write_text(text)


if __name__ == "__main__":
    update_readme()
