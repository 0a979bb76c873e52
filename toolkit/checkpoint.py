"""Everything the next epoch needs, in one file: --checkpoint writes it after each
epoch, --resume continues from it.

A checkpoint is an .npz archive holding
- the value of every shared variable the compiled `train` function updates: the
  parameters, the optimizer's accumulators, and the random generators of the
  graph (a numpy Generator's state, as JSON), in the order `train` lists them;
- numpy's global generator state;
- the epoch reached and the log records so far;
- the script, its recipe (learning rate, batch size, training examples, seed) and
  the backend, so that a checkpoint of another run is refused.
It is written whole or not at all (files.write_atomic): a run stopped at any
moment leaves the last complete checkpoint. A truncated or corrupt file is
refused as a whole; zip's checksums catch a damaged array.
"""
import json
import zipfile

import numpy as np

from toolkit.files import write_npz

FORMAT = 1
RECIPE = ("lr", "batch_size", "ntrain", "seed")  # what must match to continue a run


class CheckpointError(ValueError):
    """A checkpoint that cannot continue this run; the message names the file."""


def train_state(train):
    """The shared variables that the compiled function `train` reads and updates."""
    return [i.variable for i in train.maker.inputs if i.shared]


def shapes(train):
    """Each variable's shape and type, in the order train_state() lists them."""
    return [[list(np.shape(v.get_value(borrow=True))), str(v.type)] for v in train_state(train)]


def save(path, recipe, train, records):
    """Write the checkpoint of a run after epoch len(records); recipe: Report.recipe()."""
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
    """(meta, arrays) of a complete checkpoint, or CheckpointError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}  # reads (and checks) all
        meta = json.loads(arrays.pop("meta").tobytes())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')}, not {FORMAT}")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"{path}: not a complete checkpoint ({e}); it cannot be "
                              f"used") from None
    return meta, arrays


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
    continue this run; nothing is changed then."""
    meta, arrays = load(path)
    try:
        check_continues(meta, script, recipe, train, allow_new_lr)
    except CheckpointError as e:
        raise CheckpointError(f"{path} cannot continue this run: {e}") from None
    for i, variable in enumerate(train_state(train)):
        if str(i) in meta["generators"]:
            state = meta["generators"][str(i)]
            bit_generator = getattr(np.random, state["bit_generator"])()
            bit_generator.state = state
            variable.set_value(np.random.Generator(bit_generator), borrow=True)
        else:
            variable.set_value(arrays[f"state_{i}"])
    kind, keys, pos, has_gauss, cached = meta["numpy_global"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    return meta["records"]
