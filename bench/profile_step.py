"""Where one training step of a numbered script spends its time, Op by Op.

    python bench/profile_step.py                       # the CNN, --mode C, 30 steps
    python bench/profile_step.py --script 4_modern_net.py --mode JAX

Runs the script itself on a small subset with PyTensor's profiler on, then times
`--steps` steps of batch 128 of the script's own `train` function. For C and
NUMBA the profile lists each Op; JAX compiles the step as one function.
"""
import argparse
import contextlib
import io
import os
import runpy
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository
from toolkit import ROOT  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", default="5_convolutional_net.py")
    parser.add_argument("--mode", default="C")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    import pytensor
    pytensor.config.profile = True  # every function the script compiles keeps a profile
    sys.argv = [args.script, "--epochs", "1", "--ntrain", "256", "--ntest", "100",
                "--mode", args.mode]
    with contextlib.redirect_stdout(io.StringIO()):
        ns = runpy.run_path(str(ROOT / args.script), run_name="__main__")
    pytensor.config.profile = False  # no summary of every function at exit; ours below
    from load import mnist
    trX, _, trY, _ = mnist(ntrain=args.batch_size * 10, ntest=1, onehot=True)
    trX = trX.reshape((-1,) + ns["trX"].shape[1:])  # the script's own layout
    step = ns["train"]
    batches = [(i * args.batch_size, (i + 1) * args.batch_size) for i in range(10)]
    for start, end in batches[:3]:  # warm up: compilation, first allocations
        step(trX[start:end], trY[start:end])
    step.profile.reset()
    times = []
    for i in range(args.steps):
        start, end = batches[i % len(batches)]
        begin = time.perf_counter()
        step(trX[start:end], trY[start:end])
        times.append(time.perf_counter() - begin)
    print(f"{args.script} --mode {args.mode}: median step {1000 * np.median(times):.1f} ms "
          f"over {args.steps} steps of batch {args.batch_size}")
    step.profile.summary(file=sys.stdout, n_ops_to_print=25, n_apply_to_print=60)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
