"""Writing a file whole or not at all: every file the project writes goes through here."""
import json
import os
import tempfile


def write_atomic(path, data):
    """Write bytes (or text) to path through a temporary file renamed into place.

    Whatever stops the run (an error, Ctrl-C) leaves either the previous
    complete file or none, never half of one.
    """
    if isinstance(data, str):
        data = data.encode()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~current_umask())  # as open() would make it, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        os.remove(tmp)
        raise


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_npz(path, arrays):
    """numpy arrays by name, as an .npz archive (np.load reads it)."""
    import io

    import numpy as np
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def write_json(path, value):
    write_atomic(path, json.dumps(value, indent=1) + "\n")


def write_jsonl(path, records):
    """One JSON object a line, the format of every --log."""
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in records))


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
