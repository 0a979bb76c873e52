"""The tables of README.md and docs/ are generated from logs; here, from small ones written
by the test. Each lives in one page, where python -m tools.report rewrites it."""
import json

import pytest

from tools import report


def write_log(path, accuracies, **extra):
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(json.dumps({"epoch": i + 1, "test_accuracy": a, "train_cost": 0.1,
                                        "train_seconds": 1.5 + i, "eval_seconds": 0.1,
                                        **extra}) + "\n"
                            for i, a in enumerate(accuracies)))


def test_results_table_from_small_logs(tmp_path):
    write_log(tmp_path / "logistic.jsonl", [0.88, 0.91, 0.9234], mode="C", device="cpu")
    write_log(tmp_path / "net.jsonl", [0.90, 0.95], mode="JAX", device="cpu")
    write_log(tmp_path / "net_lr0.5.jsonl", [0.95, 0.98], mode="JAX", device="cpu")
    write_log(tmp_path / "gpu" / "cnn.jsonl", [0.99, 0.9946], mode="JAX",
              device="gpu:0 (NVIDIA H100 80GB HBM3)")
    (tmp_path / "knn.json").write_text(json.dumps({"k": 1, "test_accuracy": 0.9691,
                                                   "seconds": 7.5}))
    (tmp_path / "machine.json").write_text(json.dumps({"machine": "a test box"}))
    table = report.results_table(tmp_path)
    assert "| `2_logistic_regression.py` | the slide's | 3 | 92.34 % | 92.5 % | 2.50 | C |" in table
    assert "| `3_net.py` | `--lr 0.5` | 2 | 98.00 % | 98.4 % | 2.50 | JAX |" in table
    assert "| `4_modern_net.py` | the slide's | not run yet | | 99.0 % | | |" in table
    assert ("| `5_convolutional_net.py` | the slide's, on a GPU | 2 | 99.46 % | 99.5 % | 2.50 "
            "| JAX, gpu:0 |") in table
    assert "96.91 %" in table and "a test box" in table
    lines = table.splitlines()  # the variant follows the slide's recipe of its script
    assert lines.index(next(x for x in lines if "`--lr 0.5`" in x)) == 1 + lines.index(
        next(x for x in lines if "`3_net.py` | the slide's" in x))


def test_speed_table_and_readme_block(tmp_path):
    speed = tmp_path / "speed.json"
    speed.write_text(json.dumps({"rows": [{"model": "m", "ours": 2.0, "peer": 4.0,
                                           "eager": 4.0, "compiled": 5.0,
                                           "eval_ratio": 1.1, "ratios": [0.5, 0.6, 0.45],
                                           "measured": "today"},
                                          {"model": "earlier", "ours": 1.0, "peer": 4.0}],
                                 "machine": "box", "peer": "torch", "note": "n"}))
    table = report.speed_table(speed)
    assert ("| m | 2.00 | 4.00 | 5.00 | **0.50** (runs: 0.50, 0.60, 0.45) | 1.10 | today |"
            in table)
    assert "| earlier | 1.00 | 4.00 | - | **0.25** | - | - |" in table  # eager only, then
    text = "a\n<!-- speed -->\nold\n<!-- /speed -->\nb"
    assert report.replace_block(text, "speed", table).count("**0.50**") == 1
    assert "old" not in report.replace_block(text, "speed", table)
    with pytest.raises(ValueError, match="no <!-- results -->"):
        report.replace_block(text, "results", table)


def test_gpu_table_from_logs_and_the_peers_log(tmp_path):
    write_log(tmp_path / "cnn.jsonl", [0.9, 0.99, 0.995], mode="JAX", device="gpu:0 (H100)",
              peak_gpu_memory_mb=812.0)
    (tmp_path / "pytorch_peer.log").write_text("torch_gpu cnn s/epoch 5.0\n"
                                               "torch_gpu cnn s/epoch 4.0\n")
    (tmp_path / "machine.json").write_text(json.dumps(
        {"machine": "one GPU", "measured": "today", "source": "here"}))
    table = report.gpu_table(tmp_path)
    # median 2.5 s against 4.0 to 5.0 s
    assert ("| `5_convolutional_net.py`, 3 epochs | 2.50 | 812 MiB | 4.00 to 5.00 "
            "| **0.50 to 0.62** | 99.50 % (talk 99.5 %) |") in table
    assert "one GPU; today; source: here." in table
    assert "Not measured yet" in report.gpu_table(tmp_path / "nothing")


def test_install_table_from_a_resolution(tmp_path):
    path = tmp_path / "install.json"
    resolution = {
        "rows": [{"platform": "Linux x86_64", "python": "3.12",
                  "versions": {"pytensor": "3.3.8", "numpy": "2.5.5"}}],
        "shown": ["pytensor", "numpy", "jax"], "measured": "today", "command": "pip ..."}
    path.write_text(json.dumps(resolution))
    table = report.install_table(path)
    assert "| Linux x86_64 | 3.12 | yes | 3.3.8 | 2.5.5 | - |" in table
    assert "Resolved, not installed, on today: `pip ...`" in table
    assert report.install_table(resolution) == table  # as bench/resolve.py prints it unsaved
    assert "Not resolved yet" in report.install_table(tmp_path / "none.json")


def test_profile_table_puts_each_labelled_run_in_a_column(tmp_path):
    path = tmp_path / "profile_step.json"
    column = {"parts": {"convolutions": 24.0, "pooling": 3.8}, "step": 38.7, "steps": 30,
              "commit": "abc1234", "measured": "today"}
    path.write_text(json.dumps({"columns": [{**column, "label": "before"},
                                            {**column, "label": "after", "step": 30.1,
                                             "parts": {"convolutions": 20.5, "pooling": 2.0}}],
                                "machine": "box"}))
    table = report.profile_table(path)
    assert "| part of the step (ms) | before (abc1234, today) | after (abc1234, today) |" in table
    assert "| convolutions | 24.0 | 20.5 |" in table
    assert "| whole step (median of 30 steps) | **38.7** | **30.1** |" in table


def test_first_run_table_gives_cold_over_warm(tmp_path):
    path = tmp_path / "first_run.json"
    path.write_text(json.dumps({"columns": [
        {"label": "before", "command": "python 5_convolutional_net.py --epochs 1",
         "cold_first_line": 22.9, "cold_total": 46.0, "warm_first_line": 1.6,
         "warm_total": 23.0, "measured": "today"}], "machine": "box"}))
    table = report.first_run_table(path)
    assert "| before | 22.9 | 46.0 | 1.6 | 23.0 | **2.00** | today |" in table
    assert "`python 5_convolutional_net.py --epochs 1`" in table


def test_each_block_lives_in_one_page_and_is_up_to_date():
    """Every generated block stands in the page PAGES names, and in no other page;
    python -m tools.report would write what is there now (run it after a --save)."""
    from helpers import ROOT
    pages = sorted(["README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))])
    assert set(report.PAGES) <= set(pages)
    for page in pages:
        text = (ROOT / page).read_text()
        for name, table in report.PAGES.get(page, {}).items():
            assert text.count(f"<!-- {name} -->") == 1 and text.count(f"<!-- /{name} -->") == 1
            assert report.replace_block(text, name, table(), page) == text, (page, name)
        others = {n for p, blocks in report.PAGES.items() if p != page for n in blocks}
        assert not [n for n in others if f"<!-- {n} -->" in text], page


def test_update_pages_writes_only_what_changed(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("a\n<!-- results -->\nold\n<!-- /results -->\n")
    (tmp_path / "docs" / "speed.md").write_text("b\n<!-- speed -->\nnew\n<!-- /speed -->\n")
    pages = {"README.md": {"results": lambda: "new"}, "docs/speed.md": {"speed": lambda: "new"}}
    assert report.update_pages(tmp_path, pages) == ["README.md"]
    assert (tmp_path / "README.md").read_text() == "a\n<!-- results -->\nnew\n<!-- /results -->\n"
    with pytest.raises(ValueError, match="docs/speed.md has no <!-- gpu --> block"):
        report.update_pages(tmp_path, {"docs/speed.md": {"gpu": lambda: "x"}})


def test_profile_table_shows_the_floor_where_measured(tmp_path):
    path = tmp_path / "profile_step.json"
    old = {"label": "before", "commit": "a", "measured": "then", "steps": 30, "step": 80.0,
           "parts": {"convolutions": 50.0}}
    new = {**old, "label": "after", "step": 50.0, "floor": 25.0, "gflop": 4.5, "sgemm": 180.0}
    path.write_text(json.dumps({"columns": [old, new], "machine": "box"}))
    table = report.profile_table(path)
    assert "| step / floor | - | **2.00** |" in table
    assert "25.0 (4.50 GFLOP at 180 GFLOP/s)" in table


def test_copy_a_slide_table(tmp_path):
    data = {"ntrain": 6400, "machine": "box", "measured": "today",
            "rows": [{"script": "5_convolutional_net.py", "script_mode": "C",
                      "against": "copy default", "script_s": 10.0, "other_s": 12.5,
                      "ratio": 1.25}]}
    table = report.copy_a_slide_table(data)
    assert "| `5_convolutional_net.py` (C) | 10.00 | copy default | 12.50 | **1.25** |" in table
    assert "Not measured yet" in report.copy_a_slide_table(tmp_path / "none.json")
