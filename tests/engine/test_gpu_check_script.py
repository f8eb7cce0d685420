"""benchmarks/gpu_check.sh must run unedited the day a GPU is lent, with minutes of device
time at stake: its sweep steps are smoke-tested here on the CPU, on a tiny profile (the
bench steps are ``rmdbench bench``'s own tests' business)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_check_trains_its_sweep_packed_and_unpacked(tmp_path):
    out = tmp_path / "check"
    environment = {
        **os.environ,
        "DEVICE": "cpu",
        "PROFILES": "",  # no bench step: minutes on a CPU
        "SWEEP_PROFILE": "tiny[epochs=1,max_train_cases=8,max_eval_cases=4]",
        "SWEEP_DATASET": "toy-disks",
        "SWEEP_SEEDS": "0,1",
        "OUT": str(out),
        "RMDBENCH_CACHE_DIR": str(tmp_path / "cache"),
    }
    finished = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr
    log = (out / "gpu_check.log").read_text()
    assert "exit" not in log, log  # no step failed or timed out
    for pack, expected in (("8", 2), ("1", 1)):  # 2 seeds: a pack of 8 holds 2 runs
        records = [
            json.loads(path.read_text())
            for path in sorted((out / f"runs-pack{pack}").glob("*/result.json"))
        ]
        assert len(records) == 4, f"--pack {pack}: {len(records)} runs"
        assert {record["provenance"]["pack"] for record in records} == {expected}
        assert f"sweep --pack {pack}:" in log
