"""A cold start that says what it is doing and uses every core: the C modules of a
graph compiled side by side, before PyTensor asks for them one at a time.

PyTensor's C backend turns each Op of a compiled graph into a small C++ module,
compiles it with g++ the first time it is needed (one after another, about a
second each) and keeps it in its cache (pytensor.config.compiledir), where every
later run finds it. A learner's first `python 5_convolutional_net.py` would sit
silent through some forty of them. ParallelLinker, the linker of --mode C
(backends.c_mode), looks first for the modules its graph lacks; if any, it says
so in one line, compiles them on every core at once, shows their count as they
finish (on a terminal) and hands them to PyTensor's cache; PyTensor then finds
each one where it would have compiled it. A warm run finds nothing to do and
prints nothing.

The modules are PyTensor's own, from PyTensor's own code (a CLinker per node, as
COp.make_c_thunk makes it) and its own compiler call, with two differences that
change the time, not the code: no debugging information (-g0), and the headers
every module starts with (Python's and numpy's, half of g++'s time on a small
module) read from a precompiled header, made once per set of flags (Header).
Any module this cannot build is left to PyTensor, which compiles it as always
and reports any error itself.
"""
import contextlib
import io
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path


def linker():
    """PyTensor's C virtual machine that keeps intermediate arrays between calls
    (cvm_nogc), with the modules of each graph compiled side by side first."""
    from pytensor.link.vm import VMLinker

    class ParallelLinker(VMLinker):
        def make_all(self, *args, **kwargs):
            compile_missing(self.fgraph.toposort())
            return super().make_all(*args, **kwargs)

    return ParallelLinker(allow_gc=False, use_cloop=True)


# How the first run's notes begin: what it checks (toolchain.cached), what it
# compiles and when that is done (compile_missing).
NOTE_STARTS = ("checking ", "compiling ", "compiled ")


def say(line):
    """A note on what the first run is doing, on stderr beside any progress bar:
    stdout stays the run's results."""
    print(line, file=sys.stderr, flush=True)


def is_note(line):
    """Whether a line of stderr is one of the first run's notes, which a warm run
    does not print (what reads a run's stderr for its errors leaves them out)."""
    return line.startswith(NOTE_STARTS)


def compile_missing(nodes):
    """Compile the C modules of these nodes that PyTensor's cache lacks, on every
    core; the number compiled. Says so first, in one line, if there are any."""
    from pytensor.link.c.basic import get_module_cache
    cache = get_module_cache()
    missing, seen = {}, set()
    for node in nodes:
        if look_alike(node) in seen:
            continue  # the same module as a node already looked at
        seen.add(look_alike(node))
        module = Module.of(node, cache)
        if module is not None and module.key not in missing:
            missing[module.key] = module
    if not missing:
        return 0
    cores = core_count()
    say(f"compiling {len(missing)} C modules for this graph on {cores} "
        f"core{'s' * (cores > 1)}: once, then kept in {cache.dirname}")
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cores) as pool:  # g++ runs as its own process
        headers = {}  # the modules' common headers, parsed once per set of flags
        for module in missing.values():
            same = Header.key(module.flags, module.include_dirs())
            if same not in headers:
                header = Header(Path(cache.dirname), module.flags, module.include_dirs())
                headers[same] = header, pool.submit(header.build) if not header.ready() else None
            module.header = headers[same]
        built = [pool.submit(module.build) for module in missing.values()]
        # PyTensor prints where it left the C of a module that failed: PyTensor
        # compiles that one again below, and says so then
        with contextlib.redirect_stdout(io.StringIO()):
            for _ in progress(as_completed(built), len(built)):
                pass
    for module in missing.values():
        module.hand_to(cache)
    say(f"compiled in {time.perf_counter() - started:.1f} s")
    return len(missing)


def core_count():
    """The cores this process may run on (a container may allow fewer than the
    machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def look_alike(node):
    """What a node's C module depends on: its Op, the types it reads and writes, which
    inputs are one variable, and the constants it reads. Nodes alike in these have
    one module, so PyTensor's key (milliseconds to compute) is asked once for them."""
    from pytensor.graph.basic import Constant
    inputs = tuple((i.type, node.inputs.index(i),
                    i.signature() if isinstance(i, Constant) else None) for i in node.inputs)
    return node.op, inputs, tuple(o.type for o in node.outputs)


def progress(items, total):
    """A count of the modules compiled, where someone watches a terminal."""
    if not sys.stderr.isatty():
        return items
    from tqdm.auto import tqdm
    return tqdm(items, total=total, unit="module", leave=False)


class Module:
    """One node's C module: PyTensor's key for it, its source and where it is built."""

    def __init__(self, node, linker, key):
        self.node, self.linker, self.key = node, linker, key
        self.flags = self.compile_args()
        self.location = None  # the folder of the built module, once built
        self.header = None  # its Header, and the task that builds it (or None)

    @classmethod
    def of(cls, node, cache):
        """The node's module if PyTensor would compile it and its cache lacks it."""
        from pytensor.graph.fg import FunctionGraph
        from pytensor.link.c.basic import CLinker
        from pytensor.link.c.op import COp
        if not isinstance(node.op, COp):
            return None
        try:
            node.op.prepare_node(node, None, None, "c")
            # the same linker, on the same one-node graph, as COp.make_c_thunk makes
            linker = CLinker().accept(FunctionGraph(node.inputs, node.outputs),
                                      no_recycling=[])
            key = linker.cmodule_key()
            if key is None or not key[0] or cache._get_from_key(key) is not None:
                return None  # no version to cache it under, or cached already
            source = linker.get_src_code()
            from pytensor.link.c.cmodule import get_module_hash
            if cache._get_from_hash(get_module_hash(source, key), key) is not None:
                return None
        except Exception:  # no C for this node (its dtype, say): PyTensor decides
            return None
        return cls(node, linker, key)

    def include_dirs(self):
        """Where g++ looks for headers: the Ops' folders, then Python's and numpy's."""
        from pytensor.link.c.cmodule import std_include_dirs
        return [d for d in self.linker.header_dirs() if d] + std_include_dirs()

    def compile_args(self):
        return [*self.linker.compile_args(), "-g0"]  # -g0 after PyTensor's -g

    def build(self):
        """Compile into a new folder of the cache (a shared library, not imported);
        a module that does not build is left for PyTensor to compile and report."""
        from pytensor.link.c.basic import get_module_cache
        from pytensor.link.c.cmodule import dlimport_workdir
        module = self.linker.get_dynamic_module()
        header, building = self.header
        if building is not None:
            building.result()  # the header first: it is what saves the time
        location = dlimport_workdir(get_module_cache().dirname)
        try:
            self.linker.c_compiler().compile_str(
                module_name=module.code_hash, src_code=module.code(), location=location,
                include_dirs=self.linker.header_dirs(), lib_dirs=self.linker.lib_dirs(),
                libs=self.linker.libraries(), preargs=self.flags + header.use(),
                py_module=False)
        except Exception:
            shutil.rmtree(location, ignore_errors=True)
            return
        self.location = location

    def hand_to(self, cache):
        """Enter the built module in PyTensor's cache under its key, as if PyTensor had
        compiled it (cache.module_from_key asks this object for the module)."""
        if self.location is None:
            return
        try:
            cache.module_from_key(key=self.key, lnk=self)
        finally:
            if self.location is not None:  # the cache had it already, from elsewhere
                shutil.rmtree(self.location, ignore_errors=True)

    # what module_from_key asks of its `lnk`
    def get_src_code(self):
        return self.linker.get_src_code()

    def compile_cmodule(self, location):
        """The built module, moved to the folder the cache chose, and imported."""
        from pytensor.link.c.cmodule import dlimport, get_lib_extension
        name = f"{self.linker.get_dynamic_module().code_hash}.{get_lib_extension()}"
        os.rmdir(location)
        os.replace(self.location, location)
        self.location = None
        with open(os.path.join(location, "__init__.py"), "w"):
            pass
        return dlimport(os.path.join(location, name))


# The headers every module of PyTensor's begins with, in its order: Python's and
# numpy's C API, some 40,000 lines that g++ would read again for every module.
COMMON_HEADERS = ["<Python.h>", '"pytensor_mod_helper.h"', "<math.h>", "<numpy/arrayobject.h>",
                  "<numpy/arrayscalars.h>", "<numpy/npy_math.h>", "<vector>", "<algorithm>"]


class Header:
    """COMMON_HEADERS, parsed once by g++ into a precompiled header and kept in the
    cache, for the modules compiled with one set of flags (g++ takes a precompiled
    header only where the flags that define macros, -fopenmp say, are the ones it
    was made with; elsewhere it reads the headers as usual: slower, not different).
    A module that includes these headers again finds them included already."""

    def __init__(self, cache_dir, flags, include_dirs):
        folder = cache_dir / "toolkit_headers" / self.key(flags, include_dirs)
        self.path = folder / "common.h"
        self.flags, self.include_dirs = flags, include_dirs

    @staticmethod
    def key(flags, include_dirs):
        """The header's name: the compiler, every flag (g++ 12 accepts a header made at
        -O1 for a module at -O3, and then crashes), the folders and the headers."""
        import hashlib
        from pytensor import config
        text = "\n".join([config.cxx, *flags, *include_dirs, *COMMON_HEADERS])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def ready(self):
        return self.path.with_suffix(".h.gch").exists()

    def build(self):
        """g++ -x c++-header, written whole (os.replace) so that a run at the same
        time finds the header complete or not at all; a header that does not build
        is left out, and the modules compile without it."""
        import subprocess
        import tempfile
        from pytensor import config

        from toolkit.files import write_atomic
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, "".join(f"#include {h}\n" for h in COMMON_HEADERS))
        except OSError:  # a read-only cache, a full disk (files.WriteError): no header
            return
        with tempfile.TemporaryDirectory(dir=self.path.parent) as tmp:
            built = Path(tmp) / "common.h.gch"
            compiling = [f for f in self.flags if not f.startswith(("-l", "-L", "-Wl,"))]
            done = subprocess.run([config.cxx, *compiling, "-g0",
                                   *(f"-I{d}" for d in self.include_dirs),
                                   "-x", "c++-header", str(self.path), "-o", str(built)],
                                  capture_output=True, check=False)
            if done.returncode == 0:
                os.replace(built, self.path.with_suffix(".h.gch"))

    def use(self):
        """The flags that make g++ start a module with the header, where it built."""
        return ["-include", str(self.path)] if self.ready() else []
