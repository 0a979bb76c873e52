"""The talk's pictures, drawn by the project, and what the nets still get wrong.

    python figures.py                         # into results/figures/, from results/
    python figures.py --quick --out /tmp/fig  # small data, few epochs: minutes

Everything MNIST here is read from what the scripts wrote: the weights and the
test set's class probabilities of each --save file, the epochs of each --log.
Without them in results/ (python -m tools.reproduce), or with --quick, each
script is run first (on a subset when --quick) with --save and --log.
In a notebook, each draw_* function returns its figure, which Jupyter shows:

    import figures
    figures.draw_linear_regression()
"""
import argparse
import contextlib
import functools
import io
import itertools
import json
import os
import runpy
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

try:
    import matplotlib.pyplot as plt
except ValueError:  # matplotlib reads MPLBACKEND on import, and refuses a name it lacks
    raise SystemExit(f"figures.py: error: MPLBACKEND={os.environ.get('MPLBACKEND')!r} is "
                     f"not a matplotlib backend; unset it (figures.py draws into files)")
import numpy as np
from toolkit import backends
backends.check_settings()  # PyTensor reads PYTENSOR_FLAGS on import: a bad one, one line
import pytensor
from pytensor import tensor as T
from pytensor.graph.basic import Constant
from pytensor.scalar import Composite

from toolkit import ROOT
from toolkit.files import read_jsonl, write_atomic
from toolkit.mnist_files import MNISTError
from toolkit.notebook import stop
from toolkit import trained
from tools.runs import MODELS


# --- trained MNIST models ----------------------------------------------------------

def what_it_wrote(name, results, quick, workdir):
    """What a model's script wrote: its --save file (the weights by name, the test
    set's class probabilities, the recipe in meta) and its --log records; from
    results/, or from the script run now."""
    npz, log = Path(results) / f"{name}.npz", Path(results) / f"{name}.jsonl"
    if quick or not npz.exists():
        npz, log = Path(workdir) / f"{name}.npz", Path(workdir) / f"{name}.jsonl"
        args = list(MODELS[name].preview)
        if quick:
            args += ["--ntrain", "10000", "--ntest", "1000"]
        subprocess.run([sys.executable, MODELS[name].script, *args, "--save", str(npz),
                        "--log", str(log)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    meta, arrays = trained.read(npz, MODELS[name].script)  # results/net.npz must be 3_net.py's
    try:
        return (meta, arrays, npz), read_jsonl(log)
    except (OSError, ValueError) as e:
        raise trained.TrainedError(f"{log}: not a --log of {MODELS[name].script} ({e})") from None


def weight(model, name):
    """One weight of what what_it_wrote() read; one line naming the file and the
    weight if it has none."""
    meta, arrays, path = model
    return trained.weight(meta, arrays, name, path)


def tiles(weights, grid, title, shape=(28, 28), cmap="gray"):
    """Draw the columns of `weights` as images on a grid."""
    rows, cols = grid
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.1 + 0.6))
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i < weights.shape[1]:
            ax.imshow(weights[:, i].reshape(shape), cmap=cmap, interpolation="nearest")
    fig.suptitle(title)
    return fig


def draw_linear_regression():
    """w learning the slope of noisy y = 2x: 1_linear_regression.py's own data, graph
    and train function, its weight reset and trained again pass by pass.

    Script 1 is its slide: no command line, no file written. So it is run whole, as
    `python 1_linear_regression.py` would run it, and what it leaves is read."""
    script = slide("1_linear_regression.py", "trX", "trY", "w", "train")
    trX, trY, w, train = script["trX"], script["trY"], script["w"], script["train"]
    w.set_value(np.zeros_like(w.get_value()))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(trX, trY, s=12, color="black", label="data")
    colors = plt.cm.viridis(np.linspace(0, 1, 6))
    done = 0
    for i, passes in enumerate([0, 1, 2, 5, 20, 100]):
        for _ in range(passes - done):
            for x, y in zip(trX, trY):
                train(x, y)
        done = passes
        ax.plot(trX, trX * w.get_value(), color=colors[i],
                label=f"after {passes} passes: w = {float(w.get_value()):.2f}")
    ax.set(title="Theano doing its thing: linear regression", xlabel="x", ylabel="y")
    ax.legend(fontsize=8)
    return fig


def draw_learning_curves(logs, knn_accuracy):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, log in logs.items():
        errors = [100 * (1 - r["test_accuracy"]) for r in log]
        ax.plot(range(1, len(log) + 1), errors, marker="." if len(log) < 20 else None,
                label=MODELS[name].script)
    if knn_accuracy is not None:
        ax.axhline(100 * (1 - knn_accuracy), color="gray", linestyle="--",
                   label="knn_baseline.py (1-NN)")
    ax.set_yscale("log")
    ax.set(title="Quantifying the difference", xlabel="epoch", ylabel="test error (%, log scale)")
    ax.legend(fontsize=8)
    return fig


def draw_conv_filters(w):
    """The first layer's 32 filters, w (32, 1, 3, 3), as the convolution applies them."""
    fig, axes = plt.subplots(4, 8, figsize=(8, 4.6))
    for ax, kernel in zip(axes.ravel(), w[:, 0]):
        ax.imshow(kernel[::-1, ::-1], cmap="gray", interpolation="nearest")  # as convolved
        ax.axis("off")
    fig.suptitle("What a convolutional network learns: first-layer filters")
    return fig


def draw_feature_maps(w):
    """The first layer's rectified feature maps of one test digit: the slide's
    rectify(conv2d(X, w, border_mode='full')) for the trained w (32, 1, 3, 3)."""
    from load import mnist
    from toolkit.ops import conv2d
    image = mnist(ntrain=1, ntest=1)[1].reshape(1, 1, 28, 28)
    X = T.ftensor4()
    maps = pytensor.function([X], T.maximum(conv2d(X, w, border_mode="full"), 0),
                             mode="FAST_COMPILE")(image)  # one image: any backend will do
    fig, axes = plt.subplots(4, 9, figsize=(9, 4.4))
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i == 0:
            ax.imshow(image[0, 0], cmap="gray")
            ax.set_title("input", fontsize=8)
        elif i <= 32:
            ax.imshow(maps[0, i - 1], cmap="magma")
    fig.suptitle("What a convolutional network learns: first-layer feature maps of one digit")
    return fig


# --- what the nets still get wrong ----------------------------------------------------

def knn_votes(teX, trX, trY, k=10):
    """kNN's nearest neighbour, and the share of each class among its k nearest: the
    closest thing a nearest-neighbour classifier has to probabilities."""
    import knn_baseline
    labels = trY[knn_baseline.neighbours(teX, trX, k)]
    votes = np.stack([(labels == c).mean(axis=1) for c in range(10)], axis=1)
    return labels[:, 0], votes


def draw_mistakes(title, images, labels, predicted, probabilities, most=60, note=""):
    """The test digits a model gets wrong, the surest mistakes first (up to `most`),
    each with its label and the model's three likeliest classes."""
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:most]
    cols = 10
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.45, rows * 1.75 + 0.8),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(images[i].reshape(28, 28), cmap="gray", interpolation="nearest")
        top = np.argsort(-probabilities[i], kind="stable")[:3]
        ax.set_title(f"{labels[i]}, read {predicted[i]}", fontsize=9.5, pad=2)
        ax.text(0.5, -0.06, "  ".join(f"{c}:{probabilities[i, c]:.0%}" for c in top),
                transform=ax.transAxes, ha="center", va="top", fontsize=8)
    fig.suptitle(f"{title}: {len(np.flatnonzero(predicted != labels))} mistakes in "
                 f"{len(labels)} test digits" + (f", the {len(wrong)} surest shown"
                                                 if len(wrong) < np.sum(predicted != labels)
                                                 else "") + note)
    fig.tight_layout()
    return fig


def confusion(labels, predicted, classes=10):
    """counts[true, predicted]."""
    counts = np.zeros((classes, classes), dtype=int)
    np.add.at(counts, (labels, predicted), 1)
    return counts


def draw_confusion_matrices(results, cols=3):
    """One 10 x 10 confusion matrix per model: rows the true digit, columns the answer.

    `cols` matrices a row, each large enough for its counts to be read; a count is
    written in white on a dark cell and in black on a light one."""
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.4 * cols, 5.8 * rows), squeeze=False,
                             layout="constrained")
    cmap = plt.get_cmap("Reds")
    for ax in axes.ravel()[len(results):]:
        ax.axis("off")
    for ax, (title, (labels, predicted)) in zip(axes.ravel(), results.items()):
        counts = confusion(labels, predicted)
        errors = np.where(np.eye(10, dtype=bool), 0, counts)
        top = max(1, errors.max())
        ax.imshow(errors, cmap=cmap, vmin=0, vmax=top)
        for (t, p), n in np.ndenumerate(counts):
            if not n:
                continue
            if t == p:
                colour = "dimgray"
            else:
                r, g, b, _ = cmap(errors[t, p] / top)
                colour = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.55 else "black"
            ax.text(p, t, str(n), ha="center", va="center", fontsize=10,
                    color=colour)
        ax.set_title(f"{title}\n{100 * np.trace(counts) / counts.sum():.2f} % right",
                     fontsize=13)
        ax.set_xlabel("answer", fontsize=12)
        ax.set_ylabel("true digit", fontsize=12)
        ax.set(xticks=range(10), yticks=range(10))
        ax.tick_params(labelsize=11)
    fig.suptitle("Where the mistakes go (off the diagonal; the diagonal, in grey, is right)",
                 fontsize=15)
    return fig


# --- the two-moons pictures -------------------------------------------------------

def two_moons(n=400, noise=0.2, seed=0):
    """Two interleaved half circles, as scikit-learn's make_moons draws them."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label == 0, np.cos(angles), 1 - np.cos(angles))
    y = np.where(label == 0, np.sin(angles), 0.5 - np.sin(angles))
    points = np.stack([x, y], 1) + rng.standard_normal((n, 2)) * noise
    return points.astype(np.float32), np.eye(2, dtype=np.float32)[label]


def sgd(cost, params, lr):
    """3_net.py's update rule: a step down each gradient."""
    return [(p, p - g * lr) for p, g in zip(params, T.grad(cost=cost, wrt=params))]


def rmsprop(cost, params, lr, rho=0.9, epsilon=1e-6):
    """4_modern_net.py's RMSprop: each gradient scaled by a running average of its size."""
    updates = []
    for p, g in zip(params, T.grad(cost=cost, wrt=params)):
        acc = pytensor.shared(p.get_value() * 0.)
        acc_new = rho * acc + (1 - rho) * g ** 2
        updates += [(acc, acc_new), (p, p - lr * g / T.sqrt(acc_new + epsilon))]
    return updates


def moons_net(activation, optimizer, steps, hidden=16, seed=0):
    """A 2 -> hidden -> 2 net trained on the moons; snapshots of its predictions."""
    X_data, Y_data = two_moons()
    rng = np.random.default_rng(seed)
    w_h = pytensor.shared((rng.standard_normal((2, hidden)) * 0.5).astype("float32"))
    b_h = pytensor.shared(np.zeros(hidden, "float32"))
    w_o = pytensor.shared((rng.standard_normal((hidden, 2)) * 0.5).astype("float32"))
    X, Y = T.fmatrix(), T.fmatrix()
    act = {"sigmoid": T.sigmoid, "rectifier": lambda v: T.maximum(v, 0.)}[activation]
    py_x = T.special.softmax(T.dot(act(T.dot(X, w_h) + b_h), w_o), axis=1)
    cost = T.mean(-T.sum(Y * T.log(py_x), axis=1))
    params = [w_h, b_h, w_o]
    if optimizer == "SGD":
        updates = sgd(cost, params, lr=0.5)
    else:
        updates = rmsprop(cost, params, lr=0.01)
    train = pytensor.function([X, Y], cost, updates=updates)
    prob = pytensor.function([X], py_x[:, 1])
    xx, yy = np.meshgrid(np.linspace(-1.5, 2.5, 120), np.linspace(-1.2, 1.7, 90))
    grid = np.stack([xx.ravel(), yy.ravel()], 1).astype("float32")
    losses, snapshots = [], {}
    for step in range(1, steps + 1):
        losses.append(float(train(X_data, Y_data)))
        if step in (steps // 20, steps // 4, steps):
            snapshots[step] = prob(grid).reshape(xx.shape)
    return X_data, Y_data, (xx, yy), snapshots, losses


def draw_moons_comparison(variants, title, steps):
    fig, axes = plt.subplots(len(variants), 4, figsize=(13, 3.1 * len(variants)))
    for row, (label, kwargs) in zip(axes, variants):
        X_data, Y_data, (xx, yy), snapshots, losses = moons_net(steps=steps, **kwargs)
        for ax, (step, p) in zip(row[:3], snapshots.items()):
            ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.7)
            ax.scatter(*X_data.T, c=Y_data[:, 1], cmap="RdBu", s=6, edgecolors="k",
                       linewidths=0.2)
            ax.set(title=f"{label}: step {step}", xlabel="x1", ylabel="x2")
        row[3].plot(losses)
        row[3].set(title=f"{label}: training loss", xlabel="step", ylabel="cross-entropy",
                   yscale="log")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- what PyTensor made of a graph ------------------------------------------------

def slide(script, *needed):
    """The globals of a slide script (0 or 1: no command line, no file written), run
    whole as `python script` runs it, its printing kept off the screen; NameError
    if it no longer defines a name that figures.py draws."""
    namespace = run_slide(script)
    missing = [n for n in needed if n not in namespace]
    if missing:
        raise NameError(f"{script} no longer defines {', '.join(missing)}, "
                        f"which figures.py draws")
    return namespace


@functools.lru_cache(maxsize=None)  # once, whatever draws from it
def run_slide(script):
    floatX = pytensor.config.floatX  # the script sets its own
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return runpy.run_path(str(ROOT / script))
    finally:
        pytensor.config.floatX = floatX


@dataclass
class Box:
    """One thing in a graph's picture: an operation, an input, a constant, an output,
    or a bend, where a longer arrow passes a row."""
    label: str
    kind: str  # "op", "input", "constant", "output" or "bend" (not drawn)
    layer: int = 0  # rows from the top: a box sits below every box it reads
    x: float = 0.0


@dataclass
class GraphLayout:
    boxes: list = field(default_factory=list)
    edges: list = field(default_factory=list)  # (reads, read by): indices into boxes
    fused: list = field(default_factory=list)  # the boxes of each Composite: one loop

    def add(self, label, kind, reads=()):
        self.boxes.append(Box(label, kind))
        self.edges += [(r, len(self.boxes) - 1) for r in reads]
        return len(self.boxes) - 1

    def labels(self, kind):
        return [box.label for box in self.boxes if box.kind == kind]


def graph_layout(outputs):
    """Where to draw the graph that computes `outputs` ({label: variable}), walked
    from the variables' owners: a box per Apply node (a Composite opened into the
    scalar graph it fuses into one loop), per input or constant, and per output."""
    layout, drawn = GraphLayout(), {}  # drawn: variable -> the box it comes out of

    def box_of(variable):
        if variable not in drawn:
            if variable.owner is not None:
                draw_node(variable.owner)
            elif isinstance(variable, Constant):
                drawn[variable] = layout.add(str(variable), "constant")
            else:
                drawn[variable] = layout.add(variable.name or str(variable.type), "input")
        return drawn[variable]

    def draw_node(node):
        reads = [box_of(v) for v in node.inputs]
        fused = getattr(node.op, "scalar_op", None)
        if isinstance(fused, Composite):
            first = len(layout.boxes)
            drawn.update(zip(fused.fgraph.inputs, reads))
            for inner in fused.fgraph.toposort():
                draw_node(inner)
            drawn.update(zip(node.outputs, [drawn[o] for o in fused.fgraph.outputs]))
            layout.fused.append(list(range(first, len(layout.boxes))))
        else:
            box = layout.add(str(node.op).split("{")[0], "op", reads)
            drawn.update({out: box for out in node.outputs})

    for label, variable in outputs.items():
        layout.add(label, "output", [box_of(variable)])
    place(layout)
    return layout


def place(layout, sweeps=8):
    """Rows: the inputs on top, each operation below what it reads, a constant just
    above its first reader, the outputs at the bottom; an arrow longer than a row
    bends at each row it passes. Then an order within each row that keeps arrows
    short and uncrossed: each box moved to the mean place of its neighbours."""
    boxes = layout.boxes
    for i, box in enumerate(boxes):  # every box was added after the boxes it reads
        box.layer = 1 + max((boxes[a].layer for a, b in layout.edges if b == i), default=-1)
    last = max(box.layer for box in boxes if box.kind != "output") + 1
    for i, box in enumerate(boxes):
        if box.kind == "constant":
            box.layer = min(boxes[b].layer for a, b in layout.edges if a == i) - 1
        box.layer = {"input": 0, "output": last}.get(box.kind, box.layer)
    for a, b in list(layout.edges):
        if boxes[b].layer - boxes[a].layer > 1:
            layout.edges.remove((a, b))
            for layer in range(boxes[a].layer + 1, boxes[b].layer):
                boxes.append(Box("", "bend", layer))
                layout.edges.append((a, len(boxes) - 1))
                a = len(boxes) - 1
            layout.edges.append((a, b))
    reads = {i: [a for a, b in layout.edges if b == i] for i in range(len(boxes))}
    read_by = {i: [b for a, b in layout.edges if a == i] for i in range(len(boxes))}
    rows = [[i for i, box in enumerate(boxes) if box.layer == layer] for layer in range(last + 1)]
    for sweep in range(sweeps):  # the order in each row, then the places in that order
        neighbours = reads if sweep % 2 == 0 else read_by
        for row in rows if sweep % 2 == 0 else rows[::-1]:
            wanted = {i: np.mean([boxes[n].x for n in neighbours[i]] or [boxes[i].x])
                      for i in row}
            row.sort(key=wanted.get)
            spread([boxes[i] for i in row], [wanted[i] for i in row])
    middle = (min(box.x for box in boxes) + max(box.x for box in boxes)) / 2
    for box in boxes:
        box.x -= middle


def width(box):
    """How wide a box is drawn, in the units of x (a bend: the room an arrow needs)."""
    return 0.3 if box.kind == "bend" else 0.7 + 0.09 * len(box.label)


def spread(row, wanted):
    """Places for a row's boxes, in their order, as near as they can be to `wanted`
    without overlapping: the mean of the places pushed right and pushed left."""
    gaps = [(width(a) + width(b)) / 2 + 0.15 for a, b in itertools.pairwise(row)]
    right, left = list(wanted), list(wanted)
    for k, gap in enumerate(gaps):
        right[k + 1] = max(right[k + 1], right[k] + gap)
    for k, gap in reversed(list(enumerate(gaps))):
        left[k] = min(left[k], left[k + 1] - gap)
    for box, r, l in zip(row, right, left):
        box.x = (r + l) / 2


BOX_STYLES = {"op": ("#cfe2f3", "#3d85c6"), "input": ("#fff2cc", "#bf9000"),
              "constant": ("#eeeeee", "#999999"), "output": ("#d9ead3", "#6aa84f")}


def panel_width(layout):
    """The width of the panel a graph is drawn in, in the units of x: its widest row,
    or the room for a title."""
    return max(2 * max(abs(box.x) + width(box) / 2 for box in layout.boxes) + 0.4, 4.5)


def draw_graph(ax, layout, title, rows):
    """A graph's boxes in `rows` rows from the inputs down, an arrow from each box to
    the boxes that read it, and a dashed frame around each fused loop."""
    for group in layout.fused:
        xs = [layout.boxes[i].x for i in group]
        ys = [-layout.boxes[i].layer for i in group]
        ax.add_patch(plt.Rectangle((min(xs) - 0.6, min(ys) - 0.4), max(xs) - min(xs) + 1.2,
                                   max(ys) - min(ys) + 0.95, fill=False, linestyle="--",
                                   edgecolor="#e69138", linewidth=2, zorder=0))
    for a, b in layout.edges:
        start, end = layout.boxes[a], layout.boxes[b]
        arrow = "-" if end.kind == "bend" else "-|>"
        ax.annotate("", xy=(end.x, -end.layer + (0 if end.kind == "bend" else 0.22)),
                    xytext=(start.x, -start.layer - (0 if start.kind == "bend" else 0.22)),
                    arrowprops={"arrowstyle": arrow, "color": "#666666", "shrinkA": 0,
                                "shrinkB": 0}, zorder=1)
    for box in layout.boxes:
        if box.kind != "bend":
            face, edge = BOX_STYLES[box.kind]
            ax.text(box.x, -box.layer, box.label, ha="center", va="center", fontsize=14,
                    bbox={"boxstyle": "round,pad=0.35", "fc": face, "ec": edge}, zorder=3)
    half = panel_width(layout) / 2
    ax.set(xlim=(-half, half), ylim=(-rows + 0.4, 0.8))
    ax.set_title(title, fontsize=15)
    ax.axis("off")


def draw_graphs(title, written, compiled):
    """A graph as written ({label: variable}, the outputs and then the updates) beside
    the graph of the function compiled from it, whose outputs come in that order."""
    layouts = [graph_layout(written),
               graph_layout(dict(zip(written, compiled.maker.fgraph.outputs)))]
    rows = max(box.layer for layout in layouts for box in layout.boxes) + 1
    widths = [panel_width(layout) for layout in layouts]
    fig, axes = plt.subplots(1, 2, figsize=(1.3 * sum(widths) + 1, 0.75 * rows + 1.6),
                             gridspec_kw={"width_ratios": widths})
    draw_graph(axes[0], layouts[0], "as written", rows)
    fused = "\ndashed: one fused loop (a Composite)" if layouts[1].fused else ""
    draw_graph(axes[1], layouts[1], "as compiled, after PyTensor's rewrites" + fused, rows)
    fig.suptitle(title, fontsize=16)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def multiply_graphs():
    """0_multiply.py's y = a * b, and its compiled `multiply`."""
    script = slide("0_multiply.py", "y", "multiply")
    return {"y": script["y"]}, script["multiply"]


def linear_regression_graphs():
    """1_linear_regression.py's training step as written (the cost, and the new w from
    T.grad's derivative), and its compiled `train`."""
    script = slide("1_linear_regression.py", "cost", "updates", "train")
    [(_, new_w)] = script["updates"]  # the slide's one update, [[w, w - gradient * 0.01]]
    return {"cost": script["cost"], "new w": new_w}, script["train"]


def draw_look_inside(out):
    """What PyTensor made of the first two slides' graphs, as pictures."""
    save(draw_graphs("0_multiply.py: y = a * b", *multiply_graphs()),
         out / "0_multiply_graph.png", dpi=100)
    save(draw_graphs("1_linear_regression.py: the cost, T.grad and the update of w",
                     *linear_regression_graphs()),
         out / "1_linear_regression_graph.png", dpi=100)


def save(fig, path, dpi=80):
    """Write a figure as PNG, whole or not at all, and free it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


KNN_TITLE = "nearest neighbour (k = 1)"  # knn_baseline.py, beside MODELS' titles


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "results" / "figures"),
                        help="folder for the PNGs (default results/figures/)")
    parser.add_argument("--quick", action="store_true",
                        help="small data and few epochs, for tests and previews")
    parser.add_argument("--results", default=str(ROOT / "results"),
                        help="where tools/reproduce.py left its logs and parameters")
    args = parser.parse_args()
    plt.switch_backend("Agg")  # files only, no display needed
    pytensor.config.floatX = "float32"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        draw_all(args, out)
        draw_look_inside(out)
    except (trained.TrainedError, MNISTError, NameError) as e:
        stop(e, "figures.py")
    print("\n".join(sorted(str(p) for p in out.glob("*.png"))))


def draw_all(args, out):
    logs, models = {}, {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in MODELS:
            models[name], logs[name] = what_it_wrote(name, args.results, args.quick, workdir)
    # every weight drawn, found before anything is drawn: a bad file leaves out/ as it was
    templates, old_units = weight(models["logistic"], "w"), weight(models["net"], "w_h")
    modern_units, first_layer = weight(models["modern"], "w_h"), weight(models["cnn"], "w")
    from load import mnist  # and the data, checked
    ntest = {meta["ntest"] for meta, _, _ in models.values()}
    if len(ntest) != 1:
        raise trained.TrainedError(f"the models were evaluated on different test sets "
                                   f"({ntest} images)")
    trX, teX, trY, teY = mnist(ntrain=10000 if args.quick else 60000, ntest=ntest.pop(),
                               onehot=False)
    save(draw_linear_regression(), out / "1_linear_regression_fit.png")
    save(tiles(templates, (2, 5), "What it learns: logistic regression's ten templates",
               cmap="RdBu"), out / "2_logistic_regression_weights.png")
    save(tiles(old_units, (6, 10), 'What an "old" net learns: sigmoid hidden units'),
         out / "3_net_hidden_weights.png")
    save(tiles(modern_units, (6, 10), 'What a "modern" net learns: rectifier units with dropout'),
         out / "4_modern_net_hidden_weights.png")
    save(draw_conv_filters(first_layer), out / "5_convolutional_net_filters.png")
    save(draw_feature_maps(first_layer), out / "5_convolutional_net_feature_maps.png")

    answers = {}
    for name in MODELS:  # what each net said of every test digit, when its script saved it
        probabilities = models[name][1]["test_probabilities"]
        answers[name] = (np.argmax(probabilities, axis=1), probabilities)
    answers["knn"] = knn_votes(teX, trX, trY)
    titles = {**{name: model.title for name, model in MODELS.items()}, "knn": KNN_TITLE}
    knn = Path(args.results) / "knn.json"
    if knn.exists() and not args.quick:
        try:
            knn_accuracy = json.loads(knn.read_text())["test_accuracy"]
        except (ValueError, KeyError, TypeError) as e:
            raise trained.TrainedError(f"{knn}: not knn_baseline.py's --log ({e})") from None
    else:
        knn_accuracy = float(np.mean(answers["knn"][0] == teY))
    save(draw_learning_curves(logs, knn_accuracy), out / "6_quantifying_the_difference.png")

    steps = 300 if args.quick else 2000
    save(draw_moons_comparison([("SGD", dict(activation="rectifier", optimizer="SGD")),
                                ("RMSprop", dict(activation="rectifier", optimizer="RMSprop"))],
                               "Understanding SGD and RMSprop on the two moons", steps),
         out / "7_understanding_sgd_vs_rmsprop.png", dpi=70)
    save(draw_moons_comparison([("sigmoid units", dict(activation="sigmoid", optimizer="RMSprop")),
                                ("rectifier units",
                                 dict(activation="rectifier", optimizer="RMSprop"))],
                               "Understanding sigmoid and rectifier units on the two moons",
                               steps),
         out / "8_understanding_sigmoid_vs_rectifier.png", dpi=70)

    for name, (predicted, probabilities) in answers.items():
        note = "\n(under each: its 3 likeliest classes"
        note += ", as shares of the 10 nearest neighbours)" if name == "knn" else ")"
        save(draw_mistakes(f"What the {titles[name]} still gets wrong", teX, teY, predicted,
                           probabilities, note=note), out / f"9_mistakes_{name}.png")
    save(draw_confusion_matrices({titles[name]: (teY, predicted)
                                  for name, (predicted, _) in answers.items()}),
         out / "10_confusion_matrices.png")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
