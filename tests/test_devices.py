"""--device cpu|gpu, Theano's switch: the refusals, the CPU path, polite GPU memory,
and (marked gpu, run only where an NVIDIA GPU is visible) a few steps on the GPU."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT, blank_mnist, err_lines, run



def test_device_gpu_without_one_refuses_in_one_line_before_loading_data(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}  # what JAX sees on a machine without GPU
    result = run("2_logistic_regression.py", "--device", "gpu",
                 "--data-dir", blank_mnist(tmp_path), check=False, env=env)
    assert result.returncode == 2
    lines = err_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    for word in ("2_logistic_regression.py", "--device gpu", "no CUDA GPU", "jax[cuda12]"):
        assert word in lines[0], (word, lines[0])
    assert result.stdout == ""


@pytest.mark.slow
def test_device_cpu_trains_and_logs_cpu(tmp_path):
    log = tmp_path / "log.jsonl"
    run("3_net.py", "--device", "cpu", "--mode", "JAX", "--epochs", 1, "--ntrain", 500,
        "--ntest", 100, "--log", log)
    record = json.loads(log.read_text())
    assert record["device"] == "cpu" and record["mode"] == "JAX"
    assert record["recipe"]["device"] == "cpu" and record["recipe"]["mode"] == "JAX"
    assert "peak_gpu_memory_mb" not in record


PREALLOCATION = """
import os, sys
from toolkit import backends
backends.setup_jax("cpu")
print(os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"], os.environ["JAX_PLATFORMS"])
"""


@pytest.mark.parametrize("user, expected", [(None, "false"), ("true", "true")])
def test_jax_does_not_preallocate_unless_the_user_says_so(user, expected):
    env = {k: v for k, v in os.environ.items()
           if k not in ("XLA_PYTHON_CLIENT_PREALLOCATE", "JAX_PLATFORMS")}
    if user is not None:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = user
    result = subprocess.run([sys.executable, "-c", PREALLOCATION], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [expected, "cpu"]  # --device cpu leaves any GPU alone


def visible_gpu():
    if shutil.which("nvidia-smi") is None:
        return False
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return listing.returncode == 0 and "GPU" in listing.stdout


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not visible_gpu(), reason="no NVIDIA GPU visible (nvidia-smi -L)")
def test_a_few_steps_on_the_gpu(tmp_path):
    """Runs outside the suite's CPU pin: the script alone decides where JAX runs."""
    log = tmp_path / "log.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
    run("4_modern_net.py", "--device", "gpu", "--epochs", 1, "--ntrain", 1280,
        "--ntest", 500, "--log", log, env=env)
    record = json.loads(log.read_text())
    assert record["mode"] == "JAX"
    assert record["device"].startswith(("gpu:", "cuda:")), record["device"]
    assert record["recipe"]["device"] == record["device"]
    assert record["peak_gpu_memory_mb"] > 0
