"""What the scripts do differently inside a Jupyter kernel (Jupyter, VS Code,
PyCharm): know that they are there, and show the learning curve as it grows."""
import sys


def in_notebook():
    """True inside a Jupyter kernel, whose argv is the kernel's own. Importing
    ipykernel is not enough: the shell must be a kernel's."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


class LearningCurve:
    """Test accuracy and training cost per epoch, in one small figure that is drawn
    again in place after each epoch (not one new figure per epoch)."""

    def __init__(self):
        self.figure = self.handle = None
        self.shown_in = None  # the cell run that shows it
        self.draws = 0

    def update(self, records):
        import matplotlib.pyplot as plt
        from IPython import get_ipython
        from IPython.display import display
        if self.figure is None:
            self.figure, (self.accuracy, self.cost) = plt.subplots(1, 2, figsize=(8, 2.6))
            plt.close(self.figure)  # shown through the display below, not again at cell end
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
            self.handle, self.shown_in = display(self.figure, display_id=True), cell
        else:
            self.handle.update(self.figure)
