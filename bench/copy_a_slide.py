"""A learner's copy of a script's slide code against the script itself, one epoch
each, on the same backend, in the same run: the seconds and their ratio.

    python bench/copy_a_slide.py                    # 6,400 images an epoch, all four models
    python bench/copy_a_slide.py --ntrain 60000 --save

The copy is what tests/test_copy_a_slide.py trains (tools/slide_copy.py reads it
from the script, compiled with plain pytensor.function), run from a folder outside
the repository. Each pair:
- each model on its script's backend: --mode C against PyTensor's CVM (Theano's
  FAST_RUN, what a learner writes for C), --mode JAX against mode="JAX";
- the conv net on PyTensor's default mode (Numba) against the script's default (C);
- 5_convolutional_net.py --mode NUMBA against --mode C.
Every configuration runs once on a few images first, so that compiled code is in
its caches (PyTensor's C modules, Numba's) before anything is timed; JAX compiles
in each process, the script and the copy alike. Timings on a shared machine are
noisy: compare the ratios of one run, not seconds across runs.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from toolkit import ROOT  # noqa: E402
from toolkit.files import write_json  # noqa: E402
from tools import report  # noqa: E402
from tools.slide_copy import learner_file  # noqa: E402  (a learner's copy of a script)

# (script, the script's --mode or None for its default, the copy's mode or None for
# PyTensor's default), in the order printed
PAIRS = [("2_logistic_regression.py", "C", 'compile_mode("C")'),
         ("2_logistic_regression.py", "C", "CVM"),
         ("3_net.py", "JAX", "JAX"), ("4_modern_net.py", "JAX", "JAX"),
         ("5_convolutional_net.py", "C", 'compile_mode("C")'),
         ("5_convolutional_net.py", "C", "CVM"), ("5_convolutional_net.py", "C", None)]
SCRIPT_PAIRS = [("5_convolutional_net.py", "C", "NUMBA")]  # script against script


def epoch_seconds(stdout, pattern):
    found = re.findall(pattern, stdout, re.M)
    if not found:
        raise RuntimeError(f"no epoch time in:\n{stdout[-2000:]}")
    return float(found[-1])


def run_script(script, mode, ntrain):
    command = [sys.executable, str(ROOT / script), "--epochs", "1", "--ntrain", str(ntrain),
               "--ntest", "1000", *(["--mode", mode] if mode else [])]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return epoch_seconds(done.stdout, r"^epoch .* ([\d.]+) s\s*$")


def run_copy(script, mode, ntrain, folder):
    name = re.sub(r"\W+", "_", mode or "default")
    learner = Path(folder) / f"my_{Path(script).stem}_{name}.py"
    learner.write_text(learner_file(ROOT / script, mode=mode, ntrain=ntrain, ntest=1000))
    done = subprocess.run([sys.executable, learner.name], cwd=folder, capture_output=True,
                          text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return epoch_seconds(done.stdout, r"^epoch 0 ([\d.]+) s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ntrain", type=int, default=6400, help="images an epoch (default 6400)")
    parser.add_argument("--save", action="store_true",
                        help="write results/copy_a_slide.json (nothing is written without it)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:  # outside the repository
        jobs = [(s, m, lambda s=s, m=m, n=None: run_script(s, m, n),
                 f"copy {copy_mode or 'default'}",
                 lambda s=s, c=copy_mode, n=None: run_copy(s, c, n, folder))
                for s, m, copy_mode in PAIRS]
        jobs += [(s, m, lambda s=s, m=m, n=None: run_script(s, m, n), f"--mode {other}",
                  lambda s=s, o=other, n=None: run_script(s, o, n))
                 for s, m, other in SCRIPT_PAIRS]
        for script, mode, time_script, other, time_other in jobs:
            time_script(n=256), time_other(n=256)  # the caches filled first
            script_s, other_s = time_script(n=args.ntrain), time_other(n=args.ntrain)
            row = {"script": script, "script_mode": mode, "against": other,
                   "script_s": script_s, "other_s": other_s, "ratio": other_s / script_s}
            rows.append(row)
            print(f"{script:24} --mode {mode:5} {script_s:7.2f} s   "
                  f"{row['against']:13} {other_s:7.2f} s   ratio {row['ratio']:.2f}", flush=True)
    data = {"ntrain": args.ntrain, "rows": rows, "machine": report.machine_description(),
            "measured": time.strftime("%Y-%m-%d %H:%M")}
    print(report.copy_a_slide_table(data))
    if args.save:
        write_json(ROOT / "results" / "copy_a_slide.json", data)
        print("saved in results/copy_a_slide.json; python -m tools.report puts it in docs/")
    else:
        print("not saved: --save keeps it in results/copy_a_slide.json")


if __name__ == "__main__":
    main()
