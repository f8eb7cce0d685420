#!/usr/bin/env bash
# The GPU check of docs/performance.md, one script that needs no editing: on a machine with
# one CUDA GPU and this project installed (pip install -e .), it
#   1. benches every method on the paper and quick profiles, fp32 and bf16, unpacked and
#      packed K in {1, 4, 16} (rmdbench bench --pack);
#   2. trains one quick sweep twice on the GPU, 8 seeds of single and coteaching at r = 0.8:
#      packed (--pack 8) and unpacked (--pack 1), each timed, GPU utilisation logged;
# and writes every number under $OUT (benchmarks/gpu-check-<time>/ when $OUT is unset).
# Sized to finish in under 8 minutes on one H100/H200; each step has its own time limit
# so one slow step cannot eat the others' time. DEVICE, PROFILES, PACK, SWEEP_PROFILE,
# SWEEP_DATASET and SWEEP_SEEDS exist only to smoke-test the script on a CPU (the test
# suite does: DEVICE=cpu PROFILES=tiny PACK=1,2 SWEEP_PROFILE=tiny SWEEP_DATASET=toy-disks
# SWEEP_SEEDS=0,1); left unset they are the check.
set -uo pipefail
DEVICE="${DEVICE:-cuda}"
PROFILES="${PROFILES-quick paper}"  # set but empty: no bench step
PACK="${PACK:-1,4,16}"
SWEEP_PROFILE="${SWEEP_PROFILE:-quick}"
SWEEP_DATASET="${SWEEP_DATASET:-lidc-phantom}"
SWEEP_SEEDS="${SWEEP_SEEDS:-0,1,2,3,4,5,6,7}"
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
    timeout 70 rmdbench bench --profile "$profile" --precision "$precision" --device "$DEVICE" \
      --iterations 10 --pack "$PACK" --out "$OUT" >> "$OUT/bench-$profile-$precision.txt" 2>&1 \
      || log "bench $profile $precision: exit $?"
  done
done

for pack in 8 1; do
  log "$SWEEP_PROFILE sweep on $DEVICE, --pack $pack"
  started=$(date +%s)
  timeout 90 rmdbench sweep --profile "$SWEEP_PROFILE" --device "$DEVICE" --noise 0.8 \
    --seeds "$SWEEP_SEEDS" --dataset "$SWEEP_DATASET" --executor inline --pack "$pack" \
    --methods single,coteaching --out "$OUT/runs-pack$pack" > "$OUT/sweep-pack$pack.txt" 2>&1 \
    || log "sweep --pack $pack: exit $?"
  log "sweep --pack $pack: $(( $(date +%s) - started )) s wall"
done
python - "$OUT" <<'PY' >> "$OUT/gpu_check.log" 2>&1
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for path in sorted(out.glob("runs-pack*/*/result.json")):
    record = json.loads(path.read_text())
    timings, provenance = record.get("timings", {}), record.get("provenance", {})
    print(path.parent.parent.name, path.parent.name, record["summary"].get("dsc"),
          timings.get("seconds_per_iteration"), "pack", provenance.get("pack"))
PY
log "done; numbers in $OUT"
