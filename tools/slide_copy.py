"""What a learner copies out of a numbered script into a file of their own: the
script's slide code, read from the script itself (never re-typed here), with the
project's machinery left out, and a short training loop of their own after it.

Kept, by the kind of statement (not by line number, so that a script that moves
things around is still read right):
- the imports, less those of the project's machinery (`from toolkit import ...`);
  `from load import ...` keeps `mnist` only, and `from toolkit.ops import ...`
  stays (conv2d and max_pool_2d are the Ops PyTensor 3 lacks);
- every `def` (floatX, init_weights, model, sgd, RMSprop, dropout...);
- every assignment or `with` block that builds the graph: `pytensor.config.floatX`,
  the seed, srng, the data, the symbolic inputs, the weights, the model, the cost,
  the updates and the `pytensor.function(...)` calls.
- calls made for their effect, as `np.random.seed(...)`.
Dropped: any statement that names the machinery (args as a whole, training,
trained, report, backends, draw...), every `if` and `for` at the top (the
machinery's options and the script's own loop), docstrings and output (print,
dprint). Where a kept statement reads `args.NAME`, the value is the default of the
script's own parse_args call (or parse_args's own default); `mode=mode` becomes the
learner's mode, or is left out for PyTensor's default.
"""
import ast
import inspect

# names that belong to the project's machinery, not to the slides
MACHINERY = {"args", "training", "trained", "report", "backends", "draw", "ROOT",
             "SAMPLE_DIGIT", "read_digit", "image", "layers", "run"}


# calls that only show something
OUTPUT = {"print", "dprint", "pprint", "debugprint"}


def parse_args_defaults(tree):
    """The options of the script's parse_args call: its keywords over parse_args's
    own defaults (and the command line's: ntrain, ntest, data_dir)."""
    from toolkit import training
    defaults = {name: p.default for name, p in inspect.signature(training.parse_args).parameters.items()
                if p.default is not inspect.Parameter.empty}
    defaults.update(ntrain=60000, ntest=10000, data_dir=None)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "parse_args"):
            for keyword in node.keywords:
                try:
                    defaults[keyword.arg] = ast.literal_eval(keyword.value)
                except ValueError:
                    pass  # an expression of the machinery (draw_params=ROOT / ...)
    return defaults


def names_in(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class Learner(ast.NodeTransformer):
    """args.NAME as its value, mode=mode as the learner's mode (or none)."""

    def __init__(self, options, mode):
        self.options, self.mode = options, mode

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id == "args":
            return ast.copy_location(ast.Constant(self.options[node.attr]), node)
        return self.generic_visit(node)

    def visit_Call(self, node):
        self.generic_visit(node)
        for keyword in list(node.keywords):
            if keyword.arg == "mode":
                if self.mode is None:
                    node.keywords.remove(keyword)
                elif not self.mode.startswith("compile_mode"):  # the one line keeps mode=mode
                    keyword.value = ast.Constant(self.mode)
        return node


def kept(statement):
    """Whether a top-level statement of a script is slide code a learner copies."""
    if isinstance(statement, ast.Import):
        return True
    if isinstance(statement, ast.ImportFrom):
        return statement.module != "toolkit"
    if isinstance(statement, ast.FunctionDef):
        return True
    if isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.With)):
        used = names_in(statement) - {"args"}
        reads_args = "args" in names_in(statement)
        assigns_args = any(isinstance(t, ast.Name) and t.id == "args"
                           for t in getattr(statement, "targets", []))
        if used & MACHINERY or assigns_args:
            return False
        # args.NAME is replaced by its value; args itself (prepare(args)) is machinery
        return not reads_args or all(
            isinstance(p, ast.Attribute) for p in parents_of_args(statement))
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        # a call for its effect: the seed stays, output (print, dprint) does not
        function = statement.value.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        return name not in OUTPUT and not (names_in(statement) - {"args"}) & MACHINERY and all(
            isinstance(p, ast.Attribute) for p in parents_of_args(statement))
    return False  # if, for, docstrings


def parents_of_args(statement):
    """The nodes whose child is the name args: each must be args.NAME to keep it."""
    for parent in ast.walk(statement):
        for child in ast.iter_child_nodes(parent):
            if isinstance(child, ast.Name) and child.id == "args":
                yield parent


def slide_code(script_path, mode=None, ntrain=None, ntest=None, data_dir=None):
    """The slide code of a numbered script, as a learner's file would hold it."""
    tree = ast.parse(script_path.read_text())
    options = parse_args_defaults(tree)
    options.update({k: v for k, v in dict(ntrain=ntrain, ntest=ntest,
                                          data_dir=data_dir).items() if v is not None})
    body = []
    for statement in tree.body:
        if not kept(statement):
            continue
        if isinstance(statement, ast.ImportFrom) and statement.module == "load":
            statement.names = [a for a in statement.names if a.name == "mnist"]
        body.append(Learner(options, mode).visit(statement))
    module = ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))
    return ast.unparse(module), options


LOOP = """
# the learner's own loop: minibatches of {batch_size}, {epochs} epoch(s), timed
import time as _time
for _epoch in range({epochs}):
    _started = _time.perf_counter()
    for _start in range(0, len(trX), {batch_size}):
        _cost = train(trX[_start:_start + {batch_size}], trY[_start:_start + {batch_size}])
    _seconds = _time.perf_counter() - _started
    print(f"epoch {{_epoch}} {{_seconds:.3f}} s cost {{float(_cost):.4f}}")
_accuracy = np.mean(np.argmax(teY, axis=1) == predict(teX))
print(f"test accuracy {{_accuracy:.4f}}")
"""


def learner_file(script_path, mode=None, ntrain=None, ntest=None, data_dir=None, epochs=1):
    """A learner's whole file: the script's slide code, then a loop of their own
    that prints each epoch's seconds and the test accuracy. `mode`: a PyTensor mode's
    name, None for PyTensor's default, or 'compile_mode("C")' (or "NUMBA", "JAX"): the
    README's one line that gives a copy what the scripts' own setup adds."""
    code, options = slide_code(script_path, mode, ntrain, ntest, data_dir)
    header = (f"# copied from {script_path.name}"
              f" for mode={mode!r}\n" if mode else f"# copied from {script_path.name}\n")
    if mode and mode.startswith("compile_mode"):
        header += f"from toolkit.backends import compile_mode\nmode = {mode}\n"
    return header + code + "\n" + LOOP.format(batch_size=options["batch_size"], epochs=epochs)
