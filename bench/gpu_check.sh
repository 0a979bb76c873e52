#!/usr/bin/env bash
# Does `--device gpu` train on an NVIDIA GPU here? Checks the GPU, that JAX sees it and
# that the scripts' JAX functions ran on it, and times an epoch of the modern net and
# of the convolutional net there.
#
#   pip install -r requirements.txt "jax[cuda12]>=0.10,<0.12"   # or cuda13: a CUDA build of JAX
#   bash bench/gpu_check.sh                                          # PYTHON=... to pick one
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Without an NVIDIA GPU (no nvidia-smi, or one that lists none) the one line below is
# all it prints: nvidia-smi's own complaints are kept out of the way.
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null) &&
  [ -n "$gpu" ] ||
  { echo "gpu_check: no NVIDIA GPU here (nvidia-smi is missing or lists none)" >&2; exit 1; }
echo "== the GPU"
echo "$gpu"

echo "== what JAX sees"
"$PYTHON" - <<'PY'
import sys
import jax
print(f"jax {jax.__version__}: default backend {jax.default_backend()}, devices {jax.devices()}")
if jax.default_backend() != "gpu":
    sys.exit("gpu_check: JAX runs on the CPU here; install a CUDA build: "
             "pip install -r requirements.txt 'jax[cuda12]>=0.10,<0.12' (or cuda13)")
PY

for script in 4_modern_net.py 5_convolutional_net.py; do
  echo "== $script --device gpu, 2 epochs (the first one includes compilation)"
  "$PYTHON" "$script" --device gpu --epochs 2 --log "$tmp/log.jsonl" &
  pid=$!
  seen=""
  while kill -0 "$pid" 2>/dev/null; do  # the training process should hold GPU memory
    if [ -z "$seen" ]; then
      seen=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader | grep "^$pid," || true)
      [ -n "$seen" ] && echo "nvidia-smi: process $seen"
    fi
    sleep 1
  done
  wait "$pid"
  "$PYTHON" - "$tmp/log.jsonl" "$script" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
last = records[-1]
print(f"{sys.argv[2]}: device {last['device']}, epoch 1 {records[0]['train_seconds']:.2f} s "
      f"(with compilation), epoch {last['epoch']} {last['train_seconds']:.2f} s, "
      f"test accuracy {last['test_accuracy']:.4f}, "
      f"peak GPU memory {last.get('peak_gpu_memory_mb', 'not reported')} MiB")
if "cpu" in last["device"].lower():
    sys.exit("gpu_check: the JAX functions ran on the CPU")
PY
done
