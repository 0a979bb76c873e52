"""Where one training step of a numbered script spends its time, Op by Op.

    python bench/profile_step.py                       # the CNN, --mode C, 30 steps
    python bench/profile_step.py --script 4_modern_net.py --mode JAX
    python bench/profile_step.py --save now        # keep the CNN's parts (docs/speed.md)
    python bench/profile_step.py --params results/cnn.npz   # a trained net's step

Runs the script itself on a small subset with PyTensor's profiler on, then times
`--steps` steps of batch 128 of the script's own `train` function. For C and
NUMBA the profile lists each Op; JAX compiles the step as one function. With
--save LABEL, the step's parts (PARTS) go to results/profile_step.json as the
column LABEL (run from another checkout with --repo to compare two commits),
and `python -m tools.report` writes docs/speed.md's profile table from them.
Without --save nothing is written.

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
from tools import report  # noqa: E402  (this checkout's, kept when --repo names another)

# The parts of the CNN's step that docs/speed.md's profile table lists, by the Ops in them;
# every other Op is elementwise work (rectifier, masks, RMSprop, softmax).
PARTS = {
    # (since 2026-12-05, the first layer's pool gradient too: Corr2dGradWeightsOfPool)
    "convolutions and their gradients":
        {"Corr2d", "Corr2dGradWeights", "Corr2dGradInputs", "Corr2dGradWeightsOfPool"},
    "pooling and its gradient (with the rectifier, where fused)":
        {"MaxPool", "MaxPoolGrad", "RectifyPool", "RectifyPoolGrad"},
    "dropout's random numbers":
        {"UniformRV", "StandardUniformRV", "SeedFromGenerator", "UniformFromSeed"},
    "the two dense layers' matrix products": {"ParallelDot", "Dot22", "Dot22Scalar", "Gemm"},
}
OTHER = "rectifier, its gradient, dropout masks, RMSprop, softmax (elementwise)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", default="5_convolutional_net.py")
    parser.add_argument("--mode", default="C")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--save", metavar="LABEL", help="the parts to results/profile_step.json")
    parser.add_argument("--repo", type=Path, default=ROOT,
                        help="the checkout whose script and kernels are profiled")
    parser.add_argument("--params", type=Path,
                        help="start from these weights (a --save file): a trained net's "
                             "maps are more or less sparse than new ones, and the sparse "
                             "kernels' speed follows")
    args = parser.parse_args(argv)
    repo = use_checkout(args.repo.resolve())
    import pytensor
    pytensor.config.profile = True  # every function the script compiles keeps a profile
    sys.argv = [args.script, "--epochs", "1", "--ntrain", "256", "--ntest", "100",
                "--mode", args.mode] + (["--params", str(args.params.resolve())]
                                        if args.params else [])
    with contextlib.redirect_stdout(io.StringIO()):
        ns = runpy.run_path(str(repo / args.script), run_name="__main__")
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
    flops, speed = product_flops(ns, trX[:args.batch_size]), sgemm_speed()
    print(f"the step's matrix products: {flops / 1e9:.2f} GFLOP; numpy's sgemm here: "
          f"{speed / 1e9:.0f} GFLOP/s; so at least {1000 * flops / speed:.1f} ms")
    column = {"label": args.save or "now", "parts": parts(step.profile, args.steps),
              "step": 1000 * float(np.median(times)), "steps": args.steps, "commit": commit(),
              "floor": 1000 * flops / speed, "gflop": flops / 1e9, "sgemm": speed / 1e9,
              "measured": time.strftime("%Y-%m-%d %H:%M")}
    if args.save:
        data = report.save_column(ROOT / "results" / "profile_step.json", column)
    else:
        data = {"columns": [column], "machine": report.machine_description()}
    print(report.profile_table(data))
    print("saved in results/profile_step.json; python -m tools.report puts it in docs/"
          if args.save else "not saved: --save LABEL keeps it in results/profile_step.json")


def product_flops(ns, batch):
    """Multiply-adds (x2) of the step's matrix products, from the script's own graph:
    each conv2d and dot of its cost, forward, and again for each gradient the step
    needs (the weights', and the input's unless the input is the data itself)."""
    import pytensor
    from pytensor.graph.traversal import io_toposort
    from pytensor.tensor.math import Dot

    from toolkit.ops import Corr2d
    X = ns["X"]
    nodes = [n for n in io_toposort([X, ns["Y"]], [ns["cost"]])
             if isinstance(n.op, (Corr2d, Dot))]
    shapes = pytensor.function([X], [v.shape for n in nodes for v in (*n.inputs, n.outputs[0])],
                               on_unused_input="ignore", mode="FAST_COMPILE")(batch)
    total = 0.0
    for node, (first, second, out) in zip(nodes, zip(*[iter(shapes)] * 3)):
        # each output element is a dot product: over channels x kernel rows x columns
        # (a kernel of `second`), or over the rows of the weight matrix `second`
        length = np.prod(second[1:]) if isinstance(node.op, Corr2d) else second[0]
        total += 2.0 * np.prod(out) * length * (2 + (node.inputs[0] is not X))
    return total


def sgemm_speed(n=2048, repeat=5):
    """numpy's float32 matrix product here, in FLOP/s: the best of `repeat` n x n products."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    best = float("inf")
    for _ in range(repeat):
        begin = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - begin)
    return 2 * n ** 3 / best


def use_checkout(repo):
    """Import the project (toolkit, load) from repo from now on, and work there."""
    if repo != ROOT:
        for name in [n for n in sys.modules if n.split(".")[0] in ("toolkit", "load", "tools")]:
            del sys.modules[name]
        sys.path.insert(0, str(repo))
        os.chdir(repo)
    return repo


def parts(profile, steps):
    """Milliseconds per step in each of PARTS, and OTHER."""
    ms = dict.fromkeys([*PARTS, OTHER], 0.0)
    for (_, node), seconds in profile.apply_time.items():
        name = type(node.op).__name__
        part = next((p for p, ops in PARTS.items() if name in ops), OTHER)
        ms[part] += 1000 * seconds / steps
    return ms


def commit():
    """The checkout's commit, short, or "" outside git."""
    import subprocess
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=os.getcwd(),
                          capture_output=True, text=True, check=False)
    return done.stdout.strip()


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
