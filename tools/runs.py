"""The project's runs, in one table: each MNIST model's script and the talk's figure
for it, the full runs kept in results/, the short runs that bench/ and figures.py
make, and the script variables that code outside a script reads.

Everything that lists the models reads them here: toolkit.reproduce and
toolkit.report, bench/speed.py, bench/backends.py, bench/torch_models.py,
figures.py and the tests. A script's own recipe (epochs, batch size, learning
rate, default backend) stays in its `training.parse_args(...)` call, where the
reader sees it; `recipe()` reads it from there.
"""
import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Model:
    script: str          # the numbered script that trains it
    title: str           # its name in tables
    talk: float          # the talk's test accuracy, in %
    bench_epochs: int    # epochs of the short runs that bench/ times (the last one counts)
    preview: tuple = ()  # what figures.py adds to a short run (its own --epochs, --lr)
    dropout: bool = False  # whether the script has a noisy model for training (noise_py_x)


MODELS = {
    "logistic": Model("2_logistic_regression.py", "logistic regression", 92.5, 3,
                      preview=("--epochs", "3")),
    "net": Model("3_net.py", "sigmoid net", 98.4, 3, preview=("--epochs", "3", "--lr", "0.5")),
    "modern": Model("4_modern_net.py", "modern net", 99.0, 2, preview=("--epochs", "3"),
                    dropout=True),
    "cnn": Model("5_convolutional_net.py", "convolutional net", 99.5, 2,
                 preview=("--epochs", "2", "--batch-size", "64", "--lr", "0.002"), dropout=True),
}


@dataclass(frozen=True)
class Run:
    model: str                          # a key of MODELS
    extra: tuple = field(default=())    # arguments beside the slide's recipe
    recipe: str = "the slide's"         # how the README's results table names it


# The full runs kept in results/<name>.jsonl and .npz (python -m toolkit.reproduce).
RUNS = {
    "logistic": Run("logistic"),
    "net": Run("net"),
    "net_lr0.5": Run("net", ("--lr", "0.5"), "`--lr 0.5`"),
    "modern": Run("modern"),
    "cnn": Run("cnn"),
}

# The variables of the MNIST scripts that tests, figures.py and bench/ read after
# running a script (tests/test_house.py checks that each script defines them).
SCRIPT_VARIABLES = ("args", "trX", "teX", "trY", "teY", "X", "Y", "py_x", "cost", "params",
                    "train", "predict")
DROPOUT_VARIABLES = ("noise_py_x",)  # the model trained with dropout, in 4 and 5
LINEAR_REGRESSION_VARIABLES = ("trX", "trY", "X", "Y", "w", "cost", "train")


def variables_of(script):
    """The names that code outside `script` reads from its globals."""
    if script == "1_linear_regression.py":
        return LINEAR_REGRESSION_VARIABLES
    model = next(m for m in MODELS.values() if m.script == script)
    return SCRIPT_VARIABLES + (DROPOUT_VARIABLES if model.dropout else ())


def parse_args_call(script):
    """The `training.parse_args(...)` call in a script's source."""
    tree = ast.parse((ROOT / script).read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "parse_args"):
            return node
    raise ValueError(f"{script} has no parse_args(...) call")


def recipe(model):
    """The defaults a model's script passes to parse_args: epochs, batch_size, lr, mode."""
    call = parse_args_call(MODELS[model].script)
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def slide_functions(script, namespace):
    """The functions a numbered script defines, as its slides write them, without
    running the script: each top-level `def` compiled in a copy of `namespace` (the
    modules and names they use); the copy, with them in it."""
    tree = ast.parse((ROOT / script).read_text())
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    scope = dict(namespace)
    exec(compile(ast.Module(defs, type_ignores=[]), str(ROOT / script), "exec"), scope)
    return scope
