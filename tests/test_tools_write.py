"""The repository's tools write only where asked: bench/ and tools.reproduce print
their tables, and write into results/ (and the README and docs/) only with --save. A
failed resolve is an error, never a row. No benchmark is run here: each tool's
measuring step is replaced by one that returns made-up numbers at once."""
import importlib
import json
import os
import subprocess
import sys
import types

import pytest

from helpers import ROOT
from tools import report, reproduce


@pytest.fixture
def bench(monkeypatch):
    """bench/'s scripts, imported as their own `from speed import ...` expects."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return lambda name: importlib.import_module(name)


@pytest.fixture
def results_untouched():
    """Asserts, after the test, that nothing under results/, README.md or docs/ changed."""
    def snapshot():
        files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"),
                 *(p for p in (ROOT / "results").rglob("*") if p.is_file())]
        return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in files}
    before = snapshot()
    yield
    assert snapshot() == before


def fake_run(command, **kwargs):
    """What a script writes after a short run, where its flags ask: --log, --save and
    --checkpoint (knn_baseline.py: its --log only)."""
    log = command[command.index("--log") + 1]
    if log.endswith(".json"):  # knn_baseline.py
        record = {"k": 1, "test_accuracy": 0.9691, "seconds": 7.5}
        open(log, "w").write(json.dumps(record))
        return subprocess.CompletedProcess(command, 0)
    open(log, "w").write(json.dumps({"epoch": 1, "test_accuracy": 0.9, "train_cost": 0.3,
                                     "train_seconds": 1.0, "eval_seconds": 0.1,
                                     "mode": "C", "device": "cpu"}) + "\n")
    for flag in ("--save", "--checkpoint"):
        if flag in command:
            open(command[command.index(flag) + 1], "w").write("")
    return subprocess.CompletedProcess(command, 0)


def test_reproduce_without_save_writes_nothing_and_prints_the_table(monkeypatch, capsys,
                                                                    results_untouched):
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        return fake_run(command)
    monkeypatch.setattr(reproduce, "subprocess", types.SimpleNamespace(run=run))
    monkeypatch.setattr(report, "update_pages", lambda: pytest.fail("pages rewritten"))
    reproduce.main(["--only", "logistic", "--epochs", "2"])
    assert len(commands) == 1 and str(ROOT) not in " ".join(commands[0][2:])
    out = capsys.readouterr().out
    assert "| `2_logistic_regression.py` | the slide's | 1 | 90.00 % |" in out
    assert "not saved: python -m tools.reproduce --save" in out


def test_reproduce_with_save_moves_finished_runs_into_results(monkeypatch, tmp_path, capsys):
    """The scripts write into a folder of reproduce's own (they never replace a file in
    results/); each finished run's files then replace those in results/."""
    results, work = tmp_path / "results", tmp_path / "work"
    results.mkdir(), work.mkdir()
    (results / "logistic.jsonl").write_text("the old log\n")
    monkeypatch.setattr(report, "RESULTS", results)
    monkeypatch.setattr(reproduce, "WORK", work)
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        return fake_run(command)
    monkeypatch.setattr(reproduce, "subprocess", types.SimpleNamespace(run=run))
    monkeypatch.setattr(report, "update_pages", lambda: ["README.md"])
    reproduce.main(["--only", "logistic", "knn", "--save"])
    assert all(str(results) not in " ".join(command) for command in commands)
    assert json.loads((results / "logistic.jsonl").read_text())["test_accuracy"] == 0.9
    assert (results / "logistic.npz").exists() and (results / "machine.json").exists()
    assert json.loads((results / "knn.json").read_text())["test_accuracy"] == 0.9691
    assert list(work.iterdir()) == []  # moved, and the finished run's checkpoint removed
    assert "rewrote README.md" in capsys.readouterr().out


@pytest.fixture
def fake_torch(monkeypatch):
    torch = types.SimpleNamespace(__version__="0.0", get_num_threads=lambda: 2)
    monkeypatch.setitem(sys.modules, "torch", torch)


def speed_row(model, repeat):
    return {"id": [model], "model": model, "mode": "C", "ours": 1.0, "peer": 2.0,
            "eval_ratio": 1.0, "ratios": [0.5]}


def test_speed_saves_only_when_asked(bench, monkeypatch, tmp_path, capsys, fake_torch,
                                     results_untouched):
    speed = bench("speed")
    monkeypatch.setattr(speed, "model_row", speed_row)
    speed.main(["--models", "logistic"])
    out = capsys.readouterr().out
    assert "| logistic | 1.00 (C) | 2.00 | - | **0.50** |" in out and "not saved" in out
    monkeypatch.setattr(speed, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    speed.main(["--models", "logistic", "--save"])
    saved = json.loads((tmp_path / "results" / "speed.json").read_text())
    assert [row["model"] for row in saved["rows"]] == ["logistic"]


def test_backends_saves_only_when_asked(bench, monkeypatch, tmp_path, capsys,
                                        results_untouched):
    backends = bench("backends")
    log = [{"train_seconds": 2.0, "eval_seconds": 0.1, "test_accuracy": 0.9}]
    monkeypatch.setattr(backends, "timed_epochs", lambda command: log)
    backends.main(["--models", "logistic"])
    out = capsys.readouterr().out
    assert "| `2_logistic_regression.py` (3 epochs) |" in out and "not saved" in out
    speed = bench("speed")
    monkeypatch.setattr(speed, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    backends.main(["--models", "logistic", "--save"])
    assert (tmp_path / "results" / "backends.json").exists()


def test_first_run_saves_only_when_asked(bench, monkeypatch, tmp_path, capsys,
                                         results_untouched):
    first_run = bench("first_run")
    monkeypatch.setattr(first_run, "timed_run", lambda repo, cache, args: (1.0, 4.0))
    first_run.main(["--label", "try"])
    out = capsys.readouterr().out
    assert "| try | 1.0 | 4.0 | 1.0 | 4.0 | **1.00** |" in out and "not saved" in out
    path = tmp_path / "first_run.json"
    path.write_text(json.dumps({"columns": [{"label": "before"}, {"label": "try"}]}))
    data = report.save_column(path, {"label": "try", "cold_total": 2.0})
    assert [c["label"] for c in data["columns"]] == ["before", "try"]
    assert json.loads(path.read_text())["columns"][-1]["cold_total"] == 2.0


def test_a_saved_column_keeps_other_labels(tmp_path):
    path = tmp_path / "profile_step.json"
    path.write_text(json.dumps({"columns": [{"label": "before"}, {"label": "now"}]}))
    data = report.save_column(path, {"label": "now", "step": 1.0})
    assert [c["label"] for c in data["columns"]] == ["before", "now"]
    assert json.loads(path.read_text()) == data


def test_a_failed_resolve_is_one_line_and_nothing_saved(bench, monkeypatch, capsys,
                                                        results_untouched):
    resolve = bench("resolve")
    failed = subprocess.CompletedProcess([], 1, "", "Collecting jax\nERROR: No matching "
                                         "distribution found for jaxlib<0.12,>=0.11\n")
    monkeypatch.setattr(resolve, "subprocess", types.SimpleNamespace(
        run=lambda *args, **kwargs: failed))
    with pytest.raises(SystemExit) as stopped:
        resolve.main(["--pythons", "3.14", "--platforms", "Windows amd64", "--save"])
    assert stopped.value.code == ("resolve: Windows amd64, Python 3.14: no wheel of "
                                  "jaxlib<0.12,>=0.11")
    failed.stderr = "ERROR: no such option: --report\n"  # an older pip
    with pytest.raises(SystemExit) as stopped:
        resolve.main(["--pythons", "3.11", "--platforms", "Linux x86_64"])
    assert stopped.value.code == ("resolve: Linux x86_64, Python 3.11: "
                                  "ERROR: no such option: --report")


def test_resolve_prints_its_table_without_save(bench, monkeypatch, capsys, results_untouched):
    resolve = bench("resolve")
    monkeypatch.setattr(resolve, "resolve", lambda python, platform: {"pytensor": "3.0.7"})
    monkeypatch.setattr(resolve, "subprocess", types.SimpleNamespace(
        run=lambda *args, **kwargs: subprocess.CompletedProcess([], 0, "pip 26.3 from x", "")))
    resolve.main(["--pythons", "3.11", "--platforms", "Linux x86_64"])
    out = capsys.readouterr().out
    assert "| Linux x86_64 | 3.11 | yes | 3.0.7 |" in out and "not saved" in out


def test_gpu_check_without_a_gpu_prints_one_line(tmp_path):
    """An nvidia-smi that finds no GPU (or none at all): gpu_check's one line only."""
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed: no driver' >&2\nexit 9\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "gpu_check: no NVIDIA GPU here (nvidia-smi is missing or lists none)"]
