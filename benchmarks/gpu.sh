#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md in one command, for a session lent a GPU machine (the device tool).
#   here, once:  bash benchmarks/gpu.sh fetch     # the wheels the GPU machine lacks -> .whl/ (git-ignored)
#   there:       device run: command "bash benchmarks/gpu.sh", carry [".whl"], timeout_s 540
# Suites, most valuable first (each writes its JSON as it ends, so a run cut short keeps what it finished):
# models (every network, bf16 + channels_last, batch 128 at 299 px, fraction of the measured bf16 matmul peak),
# harness (lab vs bare loop on the GPU), lab (inception-lab v3: fp32 -> bf16 -> channels_last -> compile),
# pipeline (JPEG decode cores per GPU), matrix (v3 / v4 / Inception-ResNet-v2 x batch 256, 32 x eager, compile:
# images/s, MFU against the measured bf16 matmul peak, lab / bare, with and without EMA; the first one also under
# torch.cuda.set_sync_debug_mode("warn"), which must count no synchronising call).
# Output: $OUT (the device tool's folder) or benchmarks/results/.
# Dry run without a GPU (toy sizes): DEVICE=cpu QUICK=1 bash benchmarks/gpu.sh matrix
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = fetch ]; then
  mkdir -p .whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 -d .whl hydra-core==1.3.8 omegaconf==2.3.1 torchdata==0.11.0
  python3 -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3  # an sdist only on PyPI; pure Python
  ls .whl
  exit 0
fi
out=${OUT:-benchmarks/results}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 WANDB_MODE=offline
device=${DEVICE:-cuda}  # DEVICE=cpu QUICK=1 bash benchmarks/gpu.sh models: a dry run of this script without a GPU
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(models matrix lab pipeline)
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$out/gpu.txt"
fi
python3 -c "import torch, lightning, hydra; print('torch', torch.__version__, 'lightning', lightning.__version__,
  'hydra', hydra.__version__)" | tee -a "$out/gpu.txt"
matrix() {  # the harness over models x batch x compile; one JSON and one markdown block each, as they end
  local toy=() steps=${STEPS:-30} repeats=${REPEATS:-2} debug=--sync-debug
  [ -z "${QUICK:-}" ] || { toy=(--width-mult 0.25 --image-size 75); steps=5; repeats=1; }
  for model in ${MODELS:-v3 v4 inception_resnet_v2}; do
    for batch in 256 32; do
      [ -z "${QUICK:-}" ] || batch=$((batch / 64))  # 4 and 0 -> 4, 1 at toy sizes
      [ "$batch" -ge 1 ] || batch=1
      for compile in "" --compile; do
        echo "## $model, batch $batch${compile:+, compile}" | tee -a "$out/matrix.md"
        python3 benchmarks/harness_overhead.py --device "$device" --model "$model" --batch "$batch" $compile \
          "${toy[@]}" --steps "$steps" --skip 3 --repeats "$repeats" $debug \
          --json "$out/harness-$model-b$batch${compile:+-compile}.json" 2>&1 | tee -a "$out/matrix.md"
        debug=""
      done
    done
  done
}
rest=()
for suite in "${suites[@]}"; do
  if [ "$suite" = matrix ]; then
    [ ${#rest[@]} -eq 0 ] || python3 -m benchmarks --device "$device" ${QUICK:+--quick} --suite "${rest[@]}" \
      --out "$out" 2>&1 | tee -a "$out/log.txt"
    rest=()
    matrix
  else
    rest+=("$suite")
  fi
done
[ ${#rest[@]} -eq 0 ] || python3 -m benchmarks --device "$device" ${QUICK:+--quick} --suite "${rest[@]}" \
  --out "$out" 2>&1 | tee -a "$out/log.txt"
