"""Everything the next epoch needs, in one file: --checkpoint writes it after each
epoch, --resume continues from it.

A checkpoint is an .npz archive holding
- the value of every shared variable the compiled `train` function updates: the
  parameters, the optimizer's accumulators, and the random generators of the
  graph (a numpy Generator's state, as JSON), in the order `train` lists them;
- numpy's global generator state;
- the epoch reached and the log records so far;
- the script, its recipe (learning rate, batch size, training examples, seed, the
  data set) and the backend, so that a checkpoint of another run is refused.
It is written whole or not at all (files.write_atomic): a run stopped at any
moment leaves the last complete checkpoint. A file is checked whole before
anything is restored from it: zip's checksums catch a damaged array, and every
field of its meta must have the type and shape this module writes; a truncated,
damaged or crafted file is refused in one line.
"""
import json
import numbers

import numpy as np

from toolkit.files import not_a_file, write_npz

FORMAT = 2  # 2: the data set is part of the recipe
RECIPE = ("lr", "batch_size", "ntrain", "seed", "data")  # what must match to continue a run
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")  # numpy's own


class CheckpointError(ValueError):
    """A checkpoint that cannot continue this run; the message names the file."""


def train_state(train):
    """The shared variables that the compiled function `train` reads and updates."""
    return [i.variable for i in train.maker.inputs if i.shared]


def shapes(train):
    """Each variable's shape and type, in the order train_state() lists them."""
    return [[list(np.shape(v.get_value(borrow=True))), str(v.type)] for v in train_state(train)]


def save(path, recipe, train, records):
    """Write the checkpoint of a run after epoch len(records); recipe: training.Run.recipe()."""
    arrays, generators = {}, {}
    for i, variable in enumerate(train_state(train)):
        value = variable.get_value(borrow=True)
        if isinstance(value, np.random.Generator):
            generators[str(i)] = value.bit_generator.state
        else:
            arrays[f"state_{i}"] = np.asarray(value)
    meta = {"format": FORMAT, "script": recipe["script"], "epoch": len(records),
            "records": records, "recipe": {k: recipe[k] for k in RECIPE}, "mode": recipe["mode"],
            "shapes": shapes(train), "generators": generators,
            "numpy_global": numpy_global_state()}
    write_npz(path, {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays})


def numpy_global_state():
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def load(path):
    """(meta, arrays) of a complete, well-formed checkpoint, or CheckpointError
    naming the file."""
    why = not_a_file(path)
    if why == "no such file":
        raise CheckpointError(f"{path}: no such checkpoint")
    if why:
        raise CheckpointError(f"{path}: {why}; it cannot be used")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}  # reads (and checks) all
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as e:  # noqa: BLE001 - whatever a damaged archive raises (zip, npy, OS)
        raise CheckpointError(f"{path}: not a complete checkpoint ({type(e).__name__}: "
                              f"{e}); it cannot be used") from None
    try:
        meta = json.loads(arrays.pop("meta").tobytes())
        check_meta(meta, arrays)
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not a checkpoint this project wrote ({e}); it cannot "
                              f"be used") from None
    return meta, arrays


def need(condition, what):
    if not condition:
        raise ValueError(what)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_meta(meta, arrays):
    """ValueError saying which field of a checkpoint's meta is not as save() writes it."""
    need(isinstance(meta, dict), "its meta is not a JSON object")
    need(meta.get("format") == FORMAT, f"format {meta.get('format')!r}, not {FORMAT}")
    need(meta.get("script") is None or isinstance(meta["script"], str), "script")
    need(isinstance(meta.get("mode"), str), "mode")
    recipe = meta.get("recipe")
    need(isinstance(recipe, dict) and set(RECIPE) <= set(recipe), "recipe")
    need(is_number(recipe["lr"]) and all(is_int(recipe[k]) for k in ("batch_size", "ntrain",
                                                                      "seed")), "recipe")
    need(isinstance(recipe["data"], str), "recipe's data")
    records = meta.get("records")
    need(isinstance(records, list) and meta.get("epoch") == len(records), "records, epoch")
    for number, record in enumerate(records, 1):
        need(isinstance(record, dict) and record.get("epoch") == number
             and all(is_number(record.get(k)) for k in ("test_accuracy", "train_cost")),
             f"record {number}")
    shapes = meta.get("shapes")
    need(isinstance(shapes, list), "shapes")
    generators = meta.get("generators")
    need(isinstance(generators, dict), "generators")
    for i, entry in enumerate(shapes):
        need(isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], str)
             and isinstance(entry[0], list) and all(is_int(d) and d >= 0 for d in entry[0]),
             f"shape {i}")
        if str(i) in generators:
            generator(generators[str(i)])  # raises if it is not a numpy generator's state
        else:
            value = arrays.get(f"state_{i}")
            need(value is not None and list(value.shape) == entry[0]
                 and np.issubdtype(value.dtype, np.number), f"variable {i}")
    need(set(generators) <= {str(i) for i in range(len(shapes))}, "generators")
    need(set(arrays) == {f"state_{i}" for i in range(len(shapes)) if str(i) not in generators},
         "arrays")
    numpy_global_generator(meta.get("numpy_global"))


def generator(state):
    """A numpy Generator in `state` (a bit generator's .state); ValueError if it is not one."""
    need(isinstance(state, dict) and state.get("bit_generator") in BIT_GENERATORS,
         "a generator's state")
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state  # numpy checks every field's type and size here
    return np.random.Generator(bit_generator)


def numpy_global_generator(state):
    """numpy's global generator state as set_state takes it; ValueError if it is not one."""
    need(isinstance(state, list) and len(state) == 5, "numpy_global")
    kind, keys, pos, has_gauss, cached = state
    need(kind == "MT19937" and isinstance(keys, list) and len(keys) == 624
         and all(is_int(k) and 0 <= k < 2 ** 32 for k in keys) and is_int(pos)
         and 0 <= pos <= 624 and has_gauss in (0, 1) and is_number(cached), "numpy_global")
    return kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached


def check_continues(meta, script, recipe, train, allow_new_lr=False):
    """Raise CheckpointError (without the file's name) saying what keeps the
    checkpoint from continuing this run. A notebook has no script name (None):
    there the variables' shapes tell."""
    if meta["script"] and script and meta["script"] != script:
        raise CheckpointError(f"it was written by {meta['script']}, not {script}")
    if meta["mode"] != recipe["mode"]:
        raise CheckpointError(f"it was written with --mode {meta['mode']}, this run has "
                              f"--mode {recipe['mode']}")
    for key in RECIPE:
        if key == "lr" and allow_new_lr:
            continue
        if key == "data" and meta["recipe"][key] != recipe[key]:
            raise CheckpointError(f"it was trained on {meta['recipe'][key]}, this run's "
                                  f"data is {recipe[key]} (--data-dir)")
        if meta["recipe"][key] != recipe[key]:
            hint = " (--new-lr continues with this run's)" if key == "lr" else ""
            raise CheckpointError(f"it was written with --{key.replace('_', '-')} "
                                  f"{meta['recipe'][key]}, this run has {recipe[key]}{hint}")
    ours, theirs = shapes(train), meta["shapes"]
    if theirs != ours:
        if len(theirs) != len(ours):
            raise CheckpointError(f"it holds {len(theirs)} variables, this model trains "
                                  f"{len(ours)}")
        i = next(i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b)
        raise CheckpointError(f"its variable {i} is {theirs[i][1]} {theirs[i][0]}, this "
                              f"model's is {ours[i][1]} {ours[i][0]}")


def restore(path, script, recipe, train, allow_new_lr=False):
    """Set every variable `train` updates, and numpy's generator, from the checkpoint;
    its records. CheckpointError (naming the file and the difference) if it cannot
    continue this run; nothing is changed then: every value is made first, then set."""
    meta, arrays = load(path)
    try:
        check_continues(meta, script, recipe, train, allow_new_lr)
    except CheckpointError as e:
        raise CheckpointError(f"{path} cannot continue this run: {e}") from None
    variables = train_state(train)
    values = [generator(meta["generators"][str(i)]) if str(i) in meta["generators"]
              else arrays[f"state_{i}"].astype(variable.dtype)
              for i, variable in enumerate(variables)]
    numpy_state = numpy_global_generator(meta["numpy_global"])
    for variable, value in zip(variables, values):
        variable.set_value(value, borrow=True)
    np.random.set_state(numpy_state)
    return meta["records"]
