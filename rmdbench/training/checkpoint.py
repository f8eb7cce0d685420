"""Mid-run checkpoints (``--checkpoint-every N``): a run killed mid-way resumes from its last
saved epoch instead of from scratch, and ends with the same weights as an uninterrupted run.

The state holds the networks, the optimiser, every random generator the loop draws from,
and the curve so far, under an identity (the run's spec hash, the rmdbench version, the
device type and, on the CPU, torch's thread count, which results depend on there; built by
``rmdbench.run.checkpoint_identity``): a checkpoint of another spec, version, device or
CPU thread count is discarded, never loaded, so a resumed run is never a hybrid of two.
It is written atomically (temporary file, then rename) by the process that holds the run's
lock, and removed once the run is recorded, done or failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from rmdbench.atomic import atomic_write, partial_writes

CHECKPOINT_DIR = ".checkpoints"
#: what a checkpoint holds; part of its identity, so one of an older layout is discarded.
#: 2: the best epochs' states (``model_selection``) and the noisy validation DSC
CHECKPOINT_FORMAT = 2


@dataclass(frozen=True)
class Checkpointing:
    """Save every ``every`` epochs to ``path``; resume from ``path`` when it exists and was
    saved under the same ``identity``."""

    path: Path
    every: int
    identity: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("checkpoint interval must be at least 1 epoch")

    def due(self, epoch: int, epochs: int) -> bool:
        """After this (0-based) epoch? Never after the last: the run is recorded then."""
        return (epoch + 1) % self.every == 0 and epoch + 1 < epochs

    def save(self, state: dict) -> None:
        state = {**state, "identity": self.identity}
        atomic_write(self.path, lambda handle: torch.save(state, handle))

    def load(self) -> dict | None:
        """The saved state, or None when there is none, it cannot be read, or it belongs to
        another identity: spec, version, device or CPU thread count (then the run starts
        over, which is always correct)."""
        if not self.path.is_file():
            self.discard()  # temporary files of a save that a kill interrupted
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a damaged checkpoint only costs the time it saved
            state = None
        if not isinstance(state, dict) or state.get("identity") != self.identity:
            self.discard()
            return None
        return state

    def discard(self) -> None:
        remove_checkpoint(self.path)


def remove_checkpoint(path: Path) -> None:
    """The checkpoint and any temporary file of a save that a kill interrupted."""
    for partial in partial_writes(path):
        partial.unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def checkpoint_path(store_root: Path, run_name: str) -> Path:
    return Path(store_root) / CHECKPOINT_DIR / f"{run_name}.pt"
