"""The suite runs JAX on the CPU unless JAX_PLATFORMS says otherwise (a GPU machine
runs it as quickly as a CPU one), and compiles the graphs it builds itself with
PyTensor's C backend, linked to OpenBLAS as the scripts' --mode C is."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytensor  # noqa: E402
import pytest  # noqa: E402

from toolkit import blas  # noqa: E402

blas.link_pytensor()
pytensor.config.mode = "CVM"


@pytest.fixture(autouse=True)
def no_child_left():
    """Whatever a test did, the children it started (helpers.start) end with it."""
    import helpers
    yield
    helpers.reap_children()


def pytest_sessionfinish(session):
    """No test leaves a process behind: a child of the suite still running at its end
    is killed, named, and fails the run."""
    import signal

    import helpers
    left = helpers.living_children()
    for pid in left:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace")
        print(f"\nleft behind by the suite: {command}")
        os.kill(pid, signal.SIGKILL)
    if left:
        session.exitstatus = 1
