"""Writing a file whole or not at all: every file the project writes goes through here."""
import contextlib
import errno
import json
import os
import secrets
import stat


class WriteError(OSError):
    """A file that could not be written; the message names it and says that what
    was there before is unchanged."""


def write_atomic(path, data):
    """Write bytes (or text) to path whole or not at all, as git and rsync do:
    into a new file beside it, flushed to disk, then renamed over it.

    Whatever stops the run (an error, a full disk, Ctrl-C) leaves either the
    previous complete file or none, never half of one. A symbolic link is followed:
    its target gets the new contents and the link stays a link. An existing file
    keeps its permissions (and, written by root, its owner); a new one gets them as
    open() would make it. A device or a pipe (/dev/null, /dev/stdout, a FIFO) is
    written to directly, never replaced. A hard link is replaced, as git and rsync
    do: the file's other names keep the old contents.
    WriteError, naming the file, if it cannot be written.
    """
    if isinstance(data, str):
        data = data.encode()
    target = os.path.realpath(path)  # through any symbolic links, to the file itself
    try:
        try:
            existing = os.stat(target)
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise IsADirectoryError(errno.EISDIR, "it is a folder")
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            with open(target, "wb") as f:  # a device or a pipe: nothing there to replace
                f.write(data)
        else:
            replace_whole(target, data, existing)
    except OSError as e:
        kept = "" if existing is None or not stat.S_ISREG(existing.st_mode) else \
            "; the file there is unchanged"
        error = WriteError(f"cannot write {path}: {e.strerror or e}{kept}")
        error.errno = e.errno
        raise error from None


def replace_whole(target, data, existing):
    """Write data to a new file beside target, flush it to disk, rename it over target."""
    folder = os.path.dirname(target)
    tmp, fd = new_file_beside(target)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename: a crash leaves one or the other
        if existing is not None:
            os.chmod(tmp, stat.S_IMODE(existing.st_mode))
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                os.chown(tmp, existing.st_uid, existing.st_gid)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    sync_folder(folder)


def name_max(folder):
    """The longest file name the folder's file system takes, in bytes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def temporary_prefix(target):
    """The start of the names of target's temporary files: hidden, beside it, as much
    of its name as leaves room for the rest (a legal name's own temporary name must
    be legal too)."""
    folder, name = os.path.split(target)
    room = name_max(folder or ".") - len(".99999999.ffffffff.part")
    return "." + os.fsencode(name)[:room].decode(errors="ignore") + "."


def remove_leftovers(target):
    """Remove the temporary files of target that a killed run left (kill -9, a power
    cut): those whose writer, named by the process id in the name, is gone."""
    folder = os.path.dirname(target) or "."
    prefix = temporary_prefix(target)
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            pid = entry.name[len(prefix):].split(".")[0]
            if entry.name.startswith(prefix) and entry.name.endswith(".part") and pid.isdigit():
                try:
                    os.kill(int(pid), 0)
                except ProcessLookupError:  # its writer is gone: nobody will rename it
                    with contextlib.suppress(OSError):
                        os.remove(entry.path)
                except OSError:  # a live process of another user's: not ours to judge
                    pass


def new_file_beside(target):
    """(path, open descriptor) of a new hidden file in target's folder, with mode
    0o666 less the umask, as open() makes a new file: the kernel applies the umask,
    so it is never read (or changed) here. Its name holds this process's id, so that
    a later run can tell a leftover of a killed one (remove_leftovers)."""
    remove_leftovers(target)
    folder = os.path.dirname(target)
    while True:
        name = f"{temporary_prefix(target)}{os.getpid()}.{secrets.token_hex(4)}.part"
        tmp = os.path.join(folder, name)
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue


def sync_folder(folder):
    """Flush the folder's entry for the renamed file too (POSIX; a no-op elsewhere)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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


def not_a_file(path):
    """Why `path` cannot be read as a file, in a few words; None if it can. A pipe, a
    device or a socket is refused before it is opened: reading one could wait forever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as e:
        return f"cannot read it ({e.strerror})"
    if stat.S_ISDIR(mode):
        return "it is a folder"
    if not stat.S_ISREG(mode):
        return "not a regular file (a pipe, a device or a socket)"
    return None


def writable(path):
    """Why `path` could not be written, in a few words; None if it can be, as far
    as can be known before writing (a disk may still fill up). Tried for real: a
    file is made beside it and removed, so permissions, read-only disks and root
    all count as they will when the file is written."""
    target = os.path.realpath(path)
    if os.path.isdir(target):
        return "it is a folder"
    if os.path.exists(target) and not os.path.isfile(target):
        return None if os.access(target, os.W_OK) else "it cannot be written"
    folder, name = os.path.split(target)
    if not os.path.isdir(folder):
        return f"folder {folder} does not exist"
    if len(os.fsencode(name)) > name_max(folder):
        return (f"its name is {len(os.fsencode(name))} bytes long, more than the "
                f"{name_max(folder)} a file name may have here")
    try:
        probe, fd = new_file_beside(target)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        return f"folder {folder} is not writable ({e.strerror})"
    return None
