"""A plug-in method for the sweep, executor and resume tests: trains in milliseconds,
leaves a marker file per training start (so tests count how often each run trained, across
processes), can sleep per step (to be caught mid-run) and can fail on purpose.

The sweep test modules import ``write_plugin``, ``fast_sweep`` and ``starts`` from here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

MARKER_VARIABLE = "RMDBENCH_TEST_MARKERS"

PLUGIN_SOURCE = '''
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rmdbench.api import METHODS, Method, StepOutput


@dataclass(frozen=True)
class FastParams:
    tag: int = 0
    sleep: float = 0.0  # seconds per training step
    fail: str = "none"  # none, nan, oom, memory, raise or kill


@METHODS.register("fast")
class Fast(Method):
    """One 3x3 convolution: a run in well under a second (sweep tests)."""

    Params = FastParams
    num_networks = 0

    def __init__(self, params, context):
        super().__init__(params, context)
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        markers = os.environ.get("RMDBENCH_TEST_MARKERS")
        if markers:  # one file per training start: tests count starts per tag
            Path(markers).mkdir(parents=True, exist_ok=True)
            name = f"start-{params.tag}-{os.getpid()}-{time.time_ns()}"
            (Path(markers) / name).touch()

    def training_step(self, images, labels, state):
        if self.params.sleep:
            time.sleep(self.params.sleep)
        logits = self.conv(images[:, :1])
        loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
        if self.params.fail == "nan":
            loss = loss * float("nan")
        elif self.params.fail == "oom":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        elif self.params.fail == "memory":
            raise MemoryError()
        elif self.params.fail == "raise":
            raise RuntimeError("boom")
        elif self.params.fail == "kill":
            os.kill(os.getpid(), 9)
        return StepOutput(loss, {"loss": loss.detach()})

    def predict_logits(self, images):
        return self.conv(images[:, :1])
'''

TOY = ["--dataset", "toy-disks", "--profile", "tiny", "--noise", "0", "--device", "cpu"]


def write_plugin(folder: Path) -> Path:
    """The plug-in file; once this process has loaded one, that same file (a method name
    registers once per process)."""
    loaded = sys.modules.get("rmdbench_plugin_fast_method")
    if loaded is not None and Path(loaded.__file__).is_file():
        return Path(loaded.__file__)
    path = folder / "fast_method.py"
    path.write_text(PLUGIN_SOURCE)
    return path


def fast_methods(*variants: str) -> str:
    """'tag=0', 'tag=1,fail=nan' -> 'fast[tag=0],fast[tag=1,fail=nan]'."""
    return ",".join(f"fast[{variant}]" for variant in variants)


def fast_sweep(plugin: Path, out: Path, methods: str, *extra: str) -> list[str]:
    """The arguments of a toy sweep of the fast method."""
    return ["sweep", *TOY, "--plugin", str(plugin), "--methods", methods, "--out", str(out), *extra]


def starts(markers: Path) -> Counter:
    """How many times each tag started training (across every process)."""
    if not markers.is_dir():
        return Counter()
    return Counter(int(path.name.split("-")[1]) for path in markers.glob("start-*"))


def subprocess_environment(markers: Path) -> dict[str, str]:
    """One torch thread per process: the test machine is shared and small."""
    environment = dict(os.environ)
    environment.update({MARKER_VARIABLE: str(markers), "OMP_NUM_THREADS": "1"})
    return environment


#: the command line in a fresh interpreter, as the ``rmdbench`` script runs it
CLI_COMMAND = [sys.executable, "-c", "from rmdbench.cli import main; main()"]


def sweep_process(arguments: list[str], markers: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI_COMMAND, *arguments],
        env=subprocess_environment(markers),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kwargs,
    )
