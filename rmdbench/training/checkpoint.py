"""Mid-run checkpoints (``--checkpoint-every N``): a run killed mid-way resumes from its last
saved epoch instead of from scratch, and ends with the same weights as an uninterrupted run.

The state holds the networks, the optimiser, every random generator the loop draws from,
and the curve so far. It is written atomically (temporary file, then rename) by the
process that holds the run's lock, and removed once the run is recorded, done or failed.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

CHECKPOINT_DIR = ".checkpoints"


@dataclass(frozen=True)
class Checkpointing:
    """Save every ``every`` epochs to ``path``; resume from ``path`` when it exists."""

    path: Path
    every: int

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("checkpoint interval must be at least 1 epoch")

    def due(self, epoch: int, epochs: int) -> bool:
        """After this (0-based) epoch? Never after the last: the run is recorded then."""
        return (epoch + 1) % self.every == 0 and epoch + 1 < epochs

    def save(self, state: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "wb") as handle:
                torch.save(state, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self) -> dict | None:
        """The saved state, or None when there is none or it cannot be read (then the run
        starts over, which is always correct)."""
        if not self.path.is_file():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a damaged checkpoint only costs the time it saved
            self.discard()
            return None

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def checkpoint_path(store_root: Path, run_name: str) -> Path:
    return Path(store_root) / CHECKPOINT_DIR / f"{run_name}.pt"


def random_state(generator: torch.Generator) -> dict:
    """Every generator a training loop draws from: its own, torch's global CPU one (dropout,
    initialisation) and CUDA's."""
    state = {"loop": generator.get_state(), "cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(generator: torch.Generator, state: dict) -> None:
    generator.set_state(state["loop"])
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
