"""A learner's first minute: the quick start run cold (PyTensor's cache empty, as on
a new machine) and then warm, timed to its first line and to its end.

    python bench/first_run.py                     # writes results/first_run.json
    python bench/first_run.py --label "before" --repo ../old-checkout
    python -m tools.report                        # then rebuild the README's table

Each run is `python 5_convolutional_net.py --epochs 1` (the README's quick start)
in a new process; cold runs get a new empty cache folder of their own
(PYTENSOR_FLAGS=base_compiledir=...), warm runs reuse the folder the cold run
filled. A line counts when it reaches stdout or stderr, whichever comes first.
`--repo` times another checkout (an older commit, say) with this Python, so that
before and after are measured in the same hour; `--label` names its column.
"""
import argparse
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository
from toolkit import ROOT  # noqa: E402
from toolkit.files import write_json  # noqa: E402
from tools import report  # noqa: E402

COMMAND = ["5_convolutional_net.py", "--epochs", "1"]


def timed_run(repo, cache, args):
    """(seconds to the first line on stdout or stderr, seconds to the end)."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}"}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *COMMAND, *args], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = None
    with selectors.DefaultSelector() as streams:
        for stream in (proc.stdout, proc.stderr):
            streams.register(stream, selectors.EVENT_READ)
        while streams.get_map():
            for key, _ in streams.select():
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    streams.unregister(key.fileobj)
                elif first is None:
                    first = time.perf_counter() - started
    if proc.wait() != 0:
        raise SystemExit(f"first_run: {' '.join(COMMAND)} failed in {repo}")
    return first, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout to time")
    parser.add_argument("--label", default="now", help="the column's name (default now)")
    parser.add_argument("--ntrain", type=int, help="fewer training images, for a try")
    args = parser.parse_args(argv)
    extra = ["--ntrain", str(args.ntrain)] if args.ntrain else []
    with tempfile.TemporaryDirectory() as cache:
        cold = timed_run(args.repo.resolve(), cache, extra)
        warm = timed_run(args.repo.resolve(), cache, extra)
    column = {"label": args.label, "command": " ".join(["python", *COMMAND, *extra]),
              "cold_first_line": cold[0], "cold_total": cold[1],
              "warm_first_line": warm[0], "warm_total": warm[1],
              "measured": time.strftime("%Y-%m-%d %H:%M")}
    print(column, flush=True)
    path = ROOT / "results" / "first_run.json"
    columns = []
    if path.exists():  # other labels' columns stay; this label's is replaced
        import json
        columns = [c for c in json.loads(path.read_text())["columns"] if c["label"] != args.label]
    write_json(path, {"columns": columns + [column], "machine": report.machine_description()})


if __name__ == "__main__":
    main()
