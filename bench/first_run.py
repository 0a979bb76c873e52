"""A learner's first minute: the quick start run cold (PyTensor's cache empty, as on
a new machine) and then warm, timed to its first line and to its end.

    python bench/first_run.py                     # prints the times, writes nothing
    python bench/first_run.py --save --label "before" --repo ../old-checkout
    python -m tools.report                        # then rebuild docs/speed.md's table

Each run is `python 5_convolutional_net.py --epochs 1` (the README's quick start)
in a new process; cold runs get a new empty cache folder of their own
(PYTENSOR_FLAGS=base_compiledir=...), warm runs reuse the folder the cold run
filled. A line counts when it reaches stdout or stderr, whichever comes first.
`--repo` times another checkout (an older commit, say) with this Python, so that
before and after are measured in the same hour; `--label` names its column, which
`--save` keeps in results/first_run.json beside the other labels' columns.
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
    parser.add_argument("--save", action="store_true",
                        help="keep the column in results/first_run.json")
    args = parser.parse_args(argv)
    extra = ["--ntrain", str(args.ntrain)] if args.ntrain else []
    with tempfile.TemporaryDirectory() as cache:
        cold = timed_run(args.repo.resolve(), cache, extra)
        warm = timed_run(args.repo.resolve(), cache, extra)
    column = {"label": args.label, "command": " ".join(["python", *COMMAND, *extra]),
              "cold_first_line": cold[0], "cold_total": cold[1],
              "warm_first_line": warm[0], "warm_total": warm[1],
              "measured": time.strftime("%Y-%m-%d %H:%M")}
    data = {"columns": [column], "machine": report.machine_description()}
    if args.save:
        data = report.save_column(ROOT / "results" / "first_run.json", column)
    print(report.first_run_table(data))
    print("saved in results/first_run.json; python -m tools.report puts it in docs/"
          if args.save else "not saved: --save keeps it in results/first_run.json")


if __name__ == "__main__":
    main()
