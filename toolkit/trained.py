"""A trained model's file: what --save writes, and what --params and figures.py read.

An .npz archive (np.load reads it) holding
- each weight, by the name the script's `params` gives it;
- test_probabilities: the net's class probabilities for each test image it was
  evaluated on, from the script's own noise-free `py_x` (figures.py draws the
  mistakes and the confusion matrices from them, retraining nothing);
- meta: JSON (stored as bytes) naming the script, its recipe (learning rate, batch
  size, epochs, seed, examples), the backend and each weight's shape.
It is written whole or not at all (files.write_npz). A file of another model, a
damaged one or one without a weight the model needs is refused in one line.
"""
import json
import zipfile

import numpy as np

from toolkit.files import WriteError, not_a_file, write_npz
from toolkit.notebook import stop

FORMAT = 1


class TrainedError(ValueError):
    """A file that is not the trained model asked for; the message names the file."""


def save(path, params, recipe, test_probabilities):
    """Write the weights of `params` (name -> shared variable), the recipe that
    trained them and the net's probabilities for the test set; a file that cannot
    be written: one line, exit 2 (an exception in a notebook)."""
    weights = {name: p.get_value() for name, p in params.items()}
    meta = {"format": FORMAT, **recipe,
            "weights": {name: list(w.shape) for name, w in weights.items()}}
    try:
        write_npz(path, {**weights,
                         "test_probabilities": np.asarray(test_probabilities, "float32"),
                         "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)})
    except WriteError as e:  # a full disk, say: one line, the previous file kept
        stop(e, recipe.get("script"))


def read(path, script=None):
    """(meta, arrays) of a --save file (of `script`, when named), every array read
    (and so checked) whole; TrainedError naming the file if it is not one."""
    why = not_a_file(path)
    if why:
        raise TrainedError(f"{path}: {why}")
    try:
        if not zipfile.is_zipfile(path):
            raise ValueError("not an .npz archive")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as e:  # noqa: BLE001 - whatever a damaged archive raises (zip, npy, OS)
        raise TrainedError(f"{path}: not a trained model written by --save "
                           f"({type(e).__name__}: {e})") from None
    try:
        meta = json.loads(arrays.pop("meta").tobytes())
        if not (isinstance(meta, dict) and meta.get("format") == FORMAT
                and isinstance(meta.get("weights"), dict)
                and isinstance(meta.get("script"), (str, type(None)))):
            raise ValueError("its meta is not this project's")
        for name, shape in meta["weights"].items():
            if (name not in arrays or list(arrays[name].shape) != shape
                    or not np.issubdtype(arrays[name].dtype, np.floating)):
                raise ValueError(f"its weight {name} is damaged or missing")
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise TrainedError(f"{path}: not a trained model written by --save ({e})") from None
    if script and meta.get("script") and meta["script"] != script:
        raise TrainedError(f"{path} was written by {meta['script']}, not {script}")
    return meta, arrays


def weight(meta, arrays, name, path):
    """One weight of a file read(); TrainedError naming the file and the weight if
    the file has none of that name."""
    if name not in meta["weights"]:
        raise TrainedError(f"{path} has no weight {name} (it holds "
                           f"{', '.join(meta['weights']) or 'none'})")
    return arrays[name]


def load(path, params, script=None, contents=None):
    """Set every shared variable of `params` from a --save file of `script`; nothing is
    set unless every weight is there, of the model's shape. A file that is not: one
    line, exit 2 (an exception in a notebook). `contents`: what read(path) gave,
    where the file was read already."""
    try:
        meta, arrays = contents or read(path, script)
        weights = {name: weight(meta, arrays, name, path) for name in params}
        for name, variable in params.items():
            theirs, ours = weights[name].shape, variable.get_value(borrow=True).shape
            if theirs != ours:
                raise TrainedError(f"{path}: its {name} is {'x'.join(map(str, theirs))}, "
                                   f"this model's is {'x'.join(map(str, ours))}")
    except TrainedError as e:
        stop(e, script)
    for name, variable in params.items():
        variable.set_value(weights[name].astype(variable.dtype))
