"""``rmdbench bench`` prints its table and where it wrote, not the torch profiler's trace
lines ('USDT:... profiler_start'), which kineto writes from C++ straight to the process's
descriptors: checked on a real bench in a fresh process, whose descriptors are the test's."""

from __future__ import annotations

import os
import subprocess
import sys

from rmdbench.bench import _without_profiler_trace_lines


def test_bench_prints_no_profiler_trace_lines(tmp_path):
    command = [sys.executable, "-m", "rmdbench.cli", "bench", "--profile", "tiny"]
    command += ["--methods", "single", "--iterations", "1", "--device", "cpu"]
    done = subprocess.run(
        [*command, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "single" in done.stdout and "wrote " in done.stdout
    assert "USDT" not in done.stdout and "USDT" not in done.stderr, done.stdout + done.stderr
    assert "profiler_start" not in done.stdout + done.stderr


def test_other_output_written_while_profiling_is_passed_on(capfd):
    """Only the trace lines are dropped: what else reaches either descriptor meanwhile comes
    out on the same one, in order, and the streams work as before after."""
    with _without_profiler_trace_lines():
        os.write(1, b"first\nUSDT:2026 1:1 SyncActivityProfilerHandler.cpp:52] profiler_start\n")
        os.write(2, b"a warning\n")
        os.write(1, b"second\n")
    print("after", flush=True)
    captured = capfd.readouterr()
    assert captured.out == "first\nsecond\nafter\n"
    assert captured.err == "a warning\n"
