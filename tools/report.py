"""The generated tables of README.md and docs/, built from the measurements in results/.

    python -m tools.report     # rewrites every generated block where it lives (PAGES)

Every number in those tables comes from a file here, written by a run:
results/<run>.jsonl by a script's --log (through python -m tools.reproduce),
results/knn.json by knn_baseline.py --log, results/speed.json,
results/backends.json, results/profile_step.json and results/first_run.json by
bench/, and results/gpu/ from a GPU machine.
"""
import json
import re
from pathlib import Path

from toolkit import ROOT
from toolkit.files import read_jsonl, write_atomic
from tools.runs import MODELS, RUNS

RESULTS = ROOT / "results"


def measurements(source):
    """A bench/ file's measurements: `source` is its path (None where it is missing) or
    the measurements themselves, as a bench/ script holds them before --save."""
    if isinstance(source, dict):
        return source
    return json.loads(Path(source).read_text()) if Path(source).exists() else None


def save_column(path, column):
    """A bench's labelled column kept in `path` (results/<bench>.json), written whole:
    the other labels' columns stay, this label's is replaced. The data, as saved."""
    from toolkit.files import write_json
    columns = []
    if Path(path).exists():
        columns = [c for c in json.loads(Path(path).read_text())["columns"]
                   if c["label"] != column["label"]]
    data = {"columns": columns + [column], "machine": machine_description()}
    write_json(path, data)
    return data


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def run_row(script, recipe, log, talk):
    seconds = median(r["train_seconds"] for r in log)
    device = log[-1].get("device", "cpu")
    on_gpu = not device.startswith("cpu")
    where = log[-1].get("mode", "C") + (f", {device.split(' (')[0]}" if on_gpu else "")
    return (f"| `{script}` | {recipe} | {len(log)} | {100 * log[-1]['test_accuracy']:.2f} % "
            f"| {talk} % | {seconds:.2f} | {where} |")


def results_table(results=RESULTS):
    """Final accuracy of each full run in results/, beside the talk's figure."""
    results = Path(results)
    rows = ["| script | recipe | epochs run | test accuracy | the talk "
            "| seconds per epoch (train, median) | backend |", "|---|---|---|---|---|---|---|"]
    for name, model in MODELS.items():
        script, talk = model.script, model.talk
        for run_name, run in RUNS.items():
            if run.model != name:
                continue
            path = results / f"{run_name}.jsonl"
            if path.exists():
                rows.append(run_row(script, run.recipe, read_jsonl(path), talk))
            elif not run.extra:
                rows.append(f"| `{script}` | {run.recipe} | not run yet | | {talk} % | | |")
        if (results / "gpu" / f"{name}.jsonl").exists():
            rows.append(run_row(script, "the slide's, on a GPU", read_jsonl(
                results / "gpu" / f"{name}.jsonl"), talk))
    knn = results / "knn.json"
    if knn.exists():
        k = json.loads(knn.read_text())
        rows.append(f"| `knn_baseline.py` | k = {k.get('k', 1)} | - | {100 * k['test_accuracy']:.2f} % "
                    f"| ~95 % | {k['seconds']:.1f} (the search, loading aside) | numpy |")
    machine = results / "machine.json"
    if machine.exists():
        rows.append("")
        rows.append(f"CPU rows measured on: {json.loads(machine.read_text())['machine']}.")
    gpu = results / "gpu" / "machine.json"
    if gpu.exists():
        info = json.loads(gpu.read_text())
        rows.append(f"GPU rows: {info['machine']}; {info['measured']}.")
    return "\n".join(rows)


def speed_table(source=RESULTS / "speed.json"):
    """Seconds per epoch, ours against PyTorch, from bench/speed.py's output."""
    data = measurements(source)
    if data is None:
        return "Not measured yet: run `python bench/speed.py`."
    rows = ["| model | ours s/epoch (backend) | PyTorch eager | torch.compile "
            "| ratio (ours / the faster PyTorch) | test-set prediction ratio | measured |",
            "|---|---|---|---|---|---|---|"]
    for row in data["rows"]:
        eval_ratio = f"{row['eval_ratio']:.2f}" if "eval_ratio" in row else "-"
        mode = f" ({row['mode']})" if "mode" in row else ""
        runs = ""
        if len(row.get("ratios", [])) > 1:
            runs = " (runs: " + ", ".join(f"{r:.2f}" for r in row["ratios"]) + ")"
        eager, compiled = (f"{row[k]:.2f}" if k in row else "-" for k in ("eager", "compiled"))
        if "eager" not in row:  # a row from before torch.compile was timed: the peer was eager
            eager = f"{row['peer']:.2f}"
        rows.append(f"| {row['model']} | {row['ours']:.2f}{mode} | {eager} | {compiled} | "
                    f"**{row['ours'] / row['peer']:.2f}**{runs} | {eval_ratio} "
                    f"| {row.get('measured', '-')} |")
    rows.append("")
    rows.append(f"{data['machine']}; {data['peer']}; {data['note']}")
    return "\n".join(rows)


def backend_table(source=RESULTS / "backends.json"):
    """Seconds per epoch of each script on each backend, from bench/backends.py."""
    data = measurements(source)
    if data is None:
        return "Not measured yet: run `python bench/backends.py`."
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
        rows.append(f"| `{MODELS[model].script}` ({epochs} epochs) | " + " | ".join(times) +
                    f" | {fastest} | {first} | {accuracy} |")
    versions = ", ".join(f"{k} {v}" for k, v in data.get("versions", {}).items())
    rows.append("")
    rows.append(f"{data['machine']}; {versions}; {data['note']}. The last two columns list "
                f"the backends in the order {' / '.join(modes)}.")
    return "\n".join(rows)


def profile_table(source=RESULTS / "profile_step.json"):
    """The CNN's training step in parts, one column per labelled run of
    bench/profile_step.py --save."""
    data = measurements(source)
    if data is None:
        return "Not measured yet: run `python bench/profile_step.py --save now`."
    columns = data["columns"]
    rows = ["| part of the step (ms) | " + " | ".join(
                f"{c['label']} ({c['commit']}, {c['measured']})" for c in columns) + " |",
            "|---|" + "---|" * len(columns)]
    for part in columns[-1]["parts"]:
        rows.append(f"| {part} | " + " | ".join(
            f"{c['parts'][part]:.1f}" if part in c["parts"] else "-" for c in columns) + " |")
    rows.append(f"| whole step (median of {columns[-1]['steps']} steps) | " + " | ".join(
        f"**{c['step']:.1f}**" for c in columns) + " |")
    if any("floor" in c for c in columns):  # measured beside the step since 2026-12-05
        rows.append("| its matrix products at numpy's sgemm speed of the same minute (the "
                    "floor) | " + " | ".join(
                        f"{c['floor']:.1f} ({c['gflop']:.2f} GFLOP at {c['sgemm']:.0f} GFLOP/s)"
                        if "floor" in c else "-" for c in columns) + " |")
        rows.append("| step / floor | " + " | ".join(
            f"**{c['step'] / c['floor']:.2f}**" if "floor" in c else "-" for c in columns) + " |")
    rows.append("")
    rows.append(f"{data['machine']}; `python bench/profile_step.py --save LABEL` "
                f"(`--repo` for another checkout); the parts are PyTensor's profile of the "
                f"same steps, which adds a little time of its own.")
    return "\n".join(rows)


def first_run_table(source=RESULTS / "first_run.json"):
    """Seconds to the first line and to the end of the quick start, cold and warm,
    one row per labelled run of bench/first_run.py."""
    data = measurements(source)
    if data is None:
        return "Not measured yet: run `python bench/first_run.py`."
    rows = ["| run | cold: first line (s) | cold: whole run (s) | warm: first line (s) "
            "| warm: whole run (s) | cold / warm | measured |", "|---|---|---|---|---|---|---|"]
    for c in data["columns"]:
        rows.append(f"| {c['label']} | {c['cold_first_line']:.1f} | {c['cold_total']:.1f} | "
                    f"{c['warm_first_line']:.1f} | {c['warm_total']:.1f} | "
                    f"**{c['cold_total'] / c['warm_total']:.2f}** | {c['measured']} |")
    rows.append("")
    rows.append(f"{data['machine']}; `{data['columns'][-1]['command']}`, cold with an empty "
                f"PyTensor cache, then warm; `python bench/first_run.py --save --label LABEL`.")
    return "\n".join(rows)


def span(texts):
    """'a to b', or 'a' where both read the same."""
    return texts[0] if texts[0] == texts[-1] else " to ".join(texts)


def gpu_table(folder=RESULTS / "gpu"):
    """The GPU runs against PyTorch eager on the same GPU, from results/gpu/."""
    folder = Path(folder)
    if not (folder / "machine.json").exists():
        return "Not measured yet: no GPU logs in results/gpu/."
    peer = {}
    for line in (folder / "pytorch_peer.log").read_text().splitlines():
        match = re.fullmatch(r"torch_gpu (\w+) s/epoch ([\d.]+)", line.strip())
        if match:
            peer.setdefault(match[1], []).append(float(match[2]))
    rows = ["| model | ours, median s/epoch over the run (`--device gpu`) | peak GPU memory "
            "| PyTorch eager s/epoch | ratio (ours / PyTorch) | test accuracy after the run |",
            "|---|---|---|---|---|---|"]
    for name, model in MODELS.items():
        script, talk = model.script, model.talk
        path = folder / f"{name}.jsonl"
        if not path.exists():
            continue
        log = read_jsonl(path)
        ours = median(r["train_seconds"] for r in log)
        peak = max((r.get("peak_gpu_memory_mb", 0) for r in log), default=0)
        peak = f"{peak:.0f} MiB" if peak else "not recorded"
        torch = peer.get(name, [])
        torch_text = span([f"{t:.2f}" for t in (min(torch), max(torch))]) if torch else "-"
        ratio = span([f"{ours / t:.2f}" for t in (max(torch), min(torch))]) if torch else "-"
        rows.append(f"| `{script}`, {len(log)} epochs | {ours:.2f} | {peak} | {torch_text} "
                    f"| **{ratio}** | {100 * log[-1]['test_accuracy']:.2f} % (talk {talk} %) |")
    info = json.loads((folder / "machine.json").read_text())
    rows.append("")
    rows.append(f"{info['machine']}; {info['measured']}; source: {info['source']}.")
    return "\n".join(rows)


def install_table(source=RESULTS / "install.json"):
    """Per platform and Python: does every requirement have a wheel, and which
    versions pip picks, from bench/resolve.py."""
    data = measurements(source)
    if data is None:
        return "Not resolved yet: run `python bench/resolve.py`."
    shown = data["shown"]
    rows = ["| platform | Python | a wheel for every package | " + " | ".join(shown) + " |",
            "|---|---|---|" + "---|" * len(shown)]
    for row in data["rows"]:  # bench/resolve.py saves nothing when one resolve fails
        versions = " | ".join(row["versions"].get(name, "-") for name in shown)
        rows.append(f"| {row['platform']} | {row['python']} | yes | {versions} |")
    rows.append("")
    rows.append(f"Resolved, not installed, on {data['measured']}: `{data['command']}`, with "
                f"the markers of requirements.txt evaluated for that Python and platform.")
    return "\n".join(rows)


def machine_description():
    import os
    import platform
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


# Where each generated block lives: <!-- name --> ... <!-- /name --> in that page.
def copy_a_slide_table(source=RESULTS / "copy_a_slide.json"):
    """A learner's copy of each script against the script, from bench/copy_a_slide.py."""
    data = measurements(source)
    if data is None:
        return "Not measured yet: run `python bench/copy_a_slide.py`."
    rows = ["| script (its backend) | script s/epoch | against | s/epoch | ratio |",
            "|---|---|---|---|---|"]
    for row in data["rows"]:
        rows.append(f"| `{row['script']}` ({row['script_mode']}) | {row['script_s']:.2f} | "
                    f"{row['against']} | {row['other_s']:.2f} | **{row['ratio']:.2f}** |")
    rows.append("")
    rows.append(f"{data['machine']}; one epoch of {data['ntrain']} images each, the pairs "
                f"one after the other in one run ({data['measured']}); `copy` is a learner's "
                f"file made by tools/slide_copy.py, `copy default` on PyTensor's default mode.")
    return "\n".join(rows)


PAGES = {
    "README.md": {"results": results_table},
    "docs/speed.md": {"speed": speed_table, "profile": profile_table,
                      "first_run": first_run_table},
    "docs/backends.md": {"backends": backend_table, "gpu": gpu_table,
                         "copy_a_slide": copy_a_slide_table},
    "docs/where-it-runs.md": {"install": install_table},
}


def replace_block(text, name, content, page="README.md"):
    """Replace what stands between <!-- name --> and <!-- /name --> in text."""
    pattern = re.compile(rf"(<!-- {name} -->\n).*?(<!-- /{name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"{page} has no <!-- {name} --> block")
    return pattern.sub(lambda m: m.group(1) + content + "\n" + m.group(2), text)


def update_pages(root=ROOT, pages=None):
    """Rewrite every generated block of README.md and docs/ from results/; a page is
    written only where its text changed. Returns the pages written."""
    written = []
    for page, blocks in (pages or PAGES).items():
        path = Path(root) / page
        text = path.read_text()
        new = text
        for name, table in blocks.items():
            new = replace_block(new, name, table(), page)
        if new != text:
            write_atomic(path, new)
            written.append(page)
    return written


if __name__ == "__main__":
    for page in update_pages():
        print(f"rewrote {page}")
