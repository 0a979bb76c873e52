"""The project's runs, in one table: each MNIST model's script and the talk's figure
for it, the full runs kept in results/, and the short runs that bench/ and
figures.py make.

Everything that lists the models reads them here: tools/reproduce.py and
tools/report.py, bench/speed.py, bench/backends.py, figures.py and the tests. A
script's own recipe (epochs, batch size, learning rate, default backend) stays in
its `training.parse_args(...)` call, where the reader sees it; what a run used is
in what the run writes (each --log record's "recipe", a --save file's meta).
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Model:
    script: str          # the numbered script that trains it
    title: str           # its name in tables
    talk: float          # the talk's test accuracy, in %
    bench_epochs: int    # epochs of the short runs that bench/ times (the last one counts)
    preview: tuple = ()  # what figures.py adds to a short run (its own --epochs, --lr)


MODELS = {
    "logistic": Model("2_logistic_regression.py", "logistic regression", 92.5, 3,
                      preview=("--epochs", "3")),
    "net": Model("3_net.py", "sigmoid net", 98.4, 3, preview=("--epochs", "3", "--lr", "0.5")),
    "modern": Model("4_modern_net.py", "modern net", 99.0, 2, preview=("--epochs", "3")),
    "cnn": Model("5_convolutional_net.py", "convolutional net", 99.5, 2,
                 preview=("--epochs", "2", "--batch-size", "64", "--lr", "0.002")),
}


@dataclass(frozen=True)
class Run:
    model: str                          # a key of MODELS
    extra: tuple = field(default=())    # arguments beside the slide's recipe
    recipe: str = "the slide's"         # how the README's results table names it


# The full runs kept in results/<name>.jsonl and .npz (python -m tools.reproduce).
RUNS = {
    "logistic": Run("logistic"),
    "net": Run("net"),
    "net_lr0.5": Run("net", ("--lr", "0.5"), "`--lr 0.5`"),
    "modern": Run("modern"),
    "cnn": Run("cnn"),
}
