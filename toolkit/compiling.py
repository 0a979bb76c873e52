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
change the time, not the code: no debugging information (-g0), and -O1 for the
Ops that only move a few numbers (a shape, a reshape), where g++'s -O3 takes
longest and runs nothing faster. Any module this cannot build is left to
PyTensor, which compiles it as always and reports any error itself.
"""
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

# Ops whose C only reads or writes a handful of numbers per call: no loop over an
# array's elements for -O3 to speed up.
SMALL_OPS = {"Shape", "Shape_i", "Reshape", "MakeVector", "ScalarFromTensor",
             "TensorFromScalar", "Assert", "CheckAndRaise", "SpecifyShape", "Subtensor",
             "DimShuffle"}


def linker():
    """PyTensor's C virtual machine that keeps intermediate arrays between calls
    (cvm_nogc), with the modules of each graph compiled side by side first."""
    from pytensor.link.vm import VMLinker

    class ParallelLinker(VMLinker):
        def make_all(self, *args, **kwargs):
            compile_missing(self.fgraph.toposort())
            return super().make_all(*args, **kwargs)

    return ParallelLinker(allow_gc=False, use_cloop=True)


def say(line):
    """A note on what the first run is doing, on stderr beside any progress bar:
    stdout stays the run's results."""
    print(line, file=sys.stderr, flush=True)


def compile_missing(nodes):
    """Compile the C modules of these nodes that PyTensor's cache lacks, on every
    core; the number compiled. Says so first, in one line, if there are any."""
    from pytensor.link.c.basic import get_module_cache
    cache = get_module_cache()
    missing = {}
    for node in nodes:
        module = Module.of(node, cache)
        if module is not None and module.key not in missing:
            missing[module.key] = module
    if not missing:
        return 0
    cores = os.cpu_count() or 1
    say(f"compiling {len(missing)} C modules for this graph on {cores} "
        f"core{'s' * (cores > 1)}: once, then kept in {cache.dirname}")
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cores) as pool:  # g++ runs as its own process
        built = [pool.submit(module.build) for module in missing.values()]
        for _ in progress(as_completed(built), len(built)):
            pass
    for module in missing.values():
        module.hand_to(cache)
    say(f"compiled in {time.perf_counter() - started:.1f} s")
    return len(missing)


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
        self.location = None  # the folder of the built module, once built

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

    def compile_args(self):
        flags = [*self.linker.compile_args(), "-g0"]  # after PyTensor's -g
        if type(self.node.op).__name__ in SMALL_OPS:
            flags = [f for f in flags if not f.startswith("-O")] + ["-O1"]
        return flags

    def build(self):
        """Compile into a new folder of the cache (a shared library, not imported);
        a module that does not build is left for PyTensor to compile and report."""
        from pytensor.link.c.basic import get_module_cache
        from pytensor.link.c.cmodule import dlimport_workdir
        module = self.linker.get_dynamic_module()
        location = dlimport_workdir(get_module_cache().dirname)
        try:
            self.linker.c_compiler().compile_str(
                module_name=module.code_hash, src_code=module.code(), location=location,
                include_dirs=self.linker.header_dirs(), lib_dirs=self.linker.lib_dirs(),
                libs=self.linker.libraries(), preargs=self.compile_args(), py_module=False)
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
