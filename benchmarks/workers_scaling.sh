#!/usr/bin/env bash
# Wall time of one 12-run grid with the local executor at --workers 1 and --workers 2
# (issue #6). Run on a quiet machine: anything else on the cores skews the comparison.
#   bash benchmarks/workers_scaling.sh [PROFILE] [OUT_JSON]
set -euo pipefail
profile="${1:-quick}"
out_json="${2:-benchmarks/workers-scaling-$(date +%Y%m%d).json}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
grid=(--dataset lidc-phantom --noise-model distortion --noise 0,0.2,0.4,0.6
      --methods single --seeds 0,1,2 --profile "$profile" --device cpu)
python -c "import sys; from rmdbench.profiles import get_profile; \
from rmdbench.data.resolve import load_dataset; \
load_dataset('lidc-phantom', get_profile(sys.argv[1]).crop_size, None)" "$profile"  # cache it
declare -A seconds
for workers in 1 2; do
  start=$(date +%s.%N)
  rmdbench sweep "${grid[@]}" --executor local --workers "$workers" --out "$work/w$workers" \
    > "$work/w$workers.log"
  seconds[$workers]=$(echo "$(date +%s.%N) - $start" | bc)
  runs=$(ls "$work/w$workers"/*/result.json | wc -l)
  echo "workers=$workers: $runs runs in ${seconds[$workers]} s"
done
python - "$out_json" "$profile" "${seconds[1]}" "${seconds[2]}" <<'PY'
import json, os, platform, sys
path, profile, one, two = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
record = {
    "grid": "lidc-phantom, distortion r=0,0.2,0.4,0.6, single, seeds 0-2 (12 runs)",
    "profile": profile, "cores": os.cpu_count(), "machine": platform.processor() or platform.machine(),
    "wall_seconds": {"workers_1": round(one, 1), "workers_2": round(two, 1)},
    "speedup": round(one / two, 3),
}
with open(path, "w") as handle:
    json.dump(record, handle, indent=2)
print(json.dumps(record))
PY
