#!/usr/bin/env bash
# The GPU check of docs/performance.md, one script that needs no editing: on a machine with
# one CUDA GPU and this project installed (pip install -e .), it
#   1. benches every method on the paper and quick profiles, fp32 and bf16, unpacked and
#      packed K in {1, 4, 16} (rmdbench bench --pack);
#   2. trains one short quick sweep on the GPU (5 methods, r = 0.8, seed 0);
# and writes every number under $OUT (benchmarks/gpu-check-<time>/ when $OUT is unset).
# Sized to finish in under 8 minutes on one H100/H200; each step has its own time limit
# so one slow step cannot eat the others' time. DEVICE, PROFILES, PACK and SWEEP_PROFILE
# exist only to smoke-test the script on a CPU (DEVICE=cpu PROFILES=tiny PACK=1,2
# SWEEP_PROFILE=tiny); left unset they are the check.
set -uo pipefail
DEVICE="${DEVICE:-cuda}"
PROFILES="${PROFILES:-quick paper}"
PACK="${PACK:-1,4,16}"
SWEEP_PROFILE="${SWEEP_PROFILE:-quick}"
SWEEP_DATASET="${SWEEP_DATASET:-lidc-phantom}"
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/gpu-check-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
export RMDBENCH_CACHE_DIR="${RMDBENCH_CACHE_DIR:-$OUT/cache}"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/gpu_check.log"; }

{ nvidia-smi || true; python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"; } \
  > "$OUT/device.txt" 2>&1
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 \
  > "$OUT/gpu-utilisation.csv" 2>/dev/null &
SMI=$!
trap 'kill $SMI 2>/dev/null' EXIT

for profile in $PROFILES; do
  for precision in fp32 bf16; do
    log "bench $profile $precision"
    timeout 80 rmdbench bench --profile "$profile" --precision "$precision" --device "$DEVICE" \
      --iterations 10 --pack "$PACK" --out "$OUT" >> "$OUT/bench-$profile-$precision.txt" 2>&1 \
      || log "bench $profile $precision: exit $?"
  done
done

log "$SWEEP_PROFILE sweep on $DEVICE"
timeout 90 rmdbench sweep --profile "$SWEEP_PROFILE" --device "$DEVICE" --noise 0.8 --seeds 0 \
  --dataset "$SWEEP_DATASET" --workers 5 \
  --methods single,coteaching,jocor,trinet,rmd --out "$OUT/runs" > "$OUT/sweep.txt" 2>&1 \
  || log "sweep: exit $?"
python - "$OUT" <<'PY' >> "$OUT/gpu_check.log" 2>&1
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for path in sorted(out.glob("runs/*/result.json")):
    record = json.loads(path.read_text())
    timings = record.get("timings", {})
    print(path.parent.name, record["summary"].get("dsc"), timings.get("seconds_per_iteration"))
PY
log "done; numbers in $OUT"
