"""The README's tables are generated from logs; here, from small ones written by the test."""
import json

import pytest

import report


def write_log(path, accuracies):
    path.write_text("".join(json.dumps({"epoch": i + 1, "test_accuracy": a, "train_cost": 0.1,
                                        "train_seconds": 1.5 + i, "eval_seconds": 0.1}) + "\n"
                            for i, a in enumerate(accuracies)))


def test_results_table_from_small_logs(tmp_path):
    write_log(tmp_path / "logistic.jsonl", [0.88, 0.91, 0.9234])
    (tmp_path / "knn.json").write_text(json.dumps({"test_accuracy": 0.9691, "seconds": 7.5}))
    (tmp_path / "machine.json").write_text(json.dumps({"machine": "a test box"}))
    table = report.results_table(tmp_path)
    assert "| `2_logistic_regression.py` | 3 | 92.34 % | 92.5 % | 2.50 |" in table
    assert "| `3_net.py` | not run yet | | 98.4 % | |" in table
    assert "96.91 %" in table and "a test box" in table


def test_speed_table_and_readme_block(tmp_path):
    speed = tmp_path / "speed.json"
    speed.write_text(json.dumps({"rows": [{"model": "m", "ours": 2.0, "peer": 4.0,
                                           "eval_ratio": 1.1}],
                                 "machine": "box", "peer": "torch", "note": "n"}))
    table = report.speed_table(speed)
    assert "| m | 2.00 | 4.00 | **0.50** | 1.10 |" in table
    text = "a\n<!-- speed -->\nold\n<!-- /speed -->\nb"
    assert report.replace_block(text, "speed", table).count("**0.50**") == 1
    assert "old" not in report.replace_block(text, "speed", table)
    with pytest.raises(ValueError, match="no <!-- results -->"):
        report.replace_block(text, "results", table)
