"""tools.reproduce --save, stopped halfway and started again, continues each unfinished
run from its checkpoint (as docs/long-runs.md promises), through the real scripts."""
import json
import os
import signal
import subprocess
import sys

import pytest

from helpers import default_sigint, start, wait_for_line

# reproduce, with its work folder and results/ in the test's own folder (the repository's
# results/ is never touched) and the pages left alone
REPRODUCE = """import sys
from pathlib import Path
from tools import report, reproduce
work, results = Path(sys.argv[1]), Path(sys.argv[2])
reproduce.WORK, report.RESULTS = work, results
report.update_pages = lambda: []
reproduce.main(["--only", "logistic", "--save", "--epochs", sys.argv[3]])
"""


def reproduce(work, results, epochs, **popen):
    return start([sys.executable, "-u", "-c", REPRODUCE, str(work), str(results), str(epochs)],
                 **popen)


def epochs_logged(path):
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_reproduce_stopped_halfway_continues_its_run(tmp_path):
    work, results = tmp_path / "work", tmp_path / "results"
    results.mkdir()
    first = reproduce(work, results, 100, stdout=subprocess.PIPE, text=True,
                      preexec_fn=default_sigint, start_new_session=True)
    wait_for_line(first, r"epoch +1 ")  # its first checkpoint is written before the line
    os.killpg(first.pid, signal.SIGINT)  # Ctrl-C in the terminal: reproduce and its script
    first.communicate(timeout=120)
    assert first.returncode != 0
    done = epochs_logged(work / "logistic.jsonl")
    assert done and done == list(range(1, len(done) + 1)) and len(done) < 100
    assert (work / "logistic.ckpt").exists() and not (results / "logistic.jsonl").exists()

    again = reproduce(work, results, len(done) + 1, stdout=subprocess.PIPE, text=True)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert f"resumed from {work / 'logistic.ckpt'} after epoch {len(done)}" in out
    assert epochs_logged(results / "logistic.jsonl") == list(range(1, len(done) + 2))
    assert not (work / "logistic.ckpt").exists()  # finished: the next reproduce starts afresh
