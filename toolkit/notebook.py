"""What the scripts do differently inside a Jupyter kernel (Jupyter, VS Code,
PyCharm): know that they are there, raise errors instead of exiting, and show
the learning curve as it grows."""
import io
import sys


def in_notebook():
    """True inside a Jupyter kernel, whose argv is the kernel's own. Importing
    ipykernel is not enough: the shell must be a kernel's."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def stop(error, prog=None):
    """A problem with the user's input or machine: in a terminal one line on stderr
    and exit 2, in a notebook the exception itself (the kernel lives on)."""
    if in_notebook():
        raise error
    import os
    prog = prog or os.path.basename(sys.argv[0])
    print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
    sys.exit(2)


def png(figure):
    """A figure as an image Jupyter shows whatever matplotlib's backend (MPLBACKEND=Agg
    on a headless server included): the PNG itself, not the figure object."""
    from IPython.display import Image
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return Image(data=buffer.getvalue(), format="png")


def show_digit(image, probabilities):
    """Below the cell: the 28 x 28 image as the net saw it, and its ten probabilities
    as bars, the answer in red."""
    import numpy as np
    from IPython.display import display
    from matplotlib.figure import Figure
    answer = int(np.argmax(probabilities))
    fig = Figure(figsize=(7, 2.8))
    left, right = fig.subplots(1, 2, width_ratios=[1, 2.2])
    left.imshow(np.reshape(image, (28, 28)), cmap="gray")
    left.set(title="as MNIST sees it")
    left.axis("off")
    right.bar(range(10), probabilities, color=["C3" if c == answer else "C0" for c in range(10)])
    right.set(title=f"predicted: {answer}", xticks=range(10), ylim=(0, 1), ylabel="probability")
    fig.tight_layout()
    display(png(fig))


class LearningCurve:
    """Test accuracy and training cost per epoch, in one small figure that is drawn
    again in place after each epoch (not one new figure per epoch)."""

    def __init__(self):
        self.figure = self.handle = None
        self.shown_in = None  # the cell run that shows it
        self.draws = 0

    def update(self, records):
        from IPython import get_ipython
        from IPython.display import display
        from matplotlib.figure import Figure
        if self.figure is None:  # not pyplot's: nothing for a backend to show at cell end
            self.figure = Figure(figsize=(8, 2.6))
            self.accuracy, self.cost = self.figure.subplots(1, 2)
        epochs = [r["epoch"] for r in records]
        self.accuracy.clear()
        self.accuracy.plot(epochs, [100 * r["test_accuracy"] for r in records], marker=".")
        self.accuracy.set(xlabel="epoch", ylabel="test accuracy (%)")
        self.cost.clear()
        self.cost.plot(epochs, [r["train_cost"] for r in records], marker=".", color="C1")
        self.cost.set(xlabel="epoch", ylabel="training cost", yscale="log")
        self.figure.tight_layout()
        self.draws += 1
        cell = get_ipython().execution_count
        if self.handle is None or self.shown_in != cell:  # a training cell run again
            self.handle, self.shown_in = display(png(self.figure), display_id=True), cell
        else:
            self.handle.update(png(self.figure))
