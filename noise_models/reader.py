"""Real-world imperfect annotations: the paper's third noise strategy.

The label of a corrupted case is one real radiologist's own mask instead of the readers'
consensus. Nothing is simulated, so this needs a dataset that keeps each reader's mask
(``lidc-phantom``: 3-4 LIDC-IDRI readers per nodule; a ``folder`` dataset's
``masks/<annotator>/`` subfolders: your own annotators). Which reader:

- ``random``: one of the case's real readers, uniformly (the default);
- ``farthest``: the reader with the lowest Dice against the consensus (ties: lowest slot),
  the worst realistic annotation of that case;
- ``slot``: always reader slot ``slot`` (a fixed annotator position; a case with fewer
  readers uses ``slot mod reader_count``, so every case gets a real reader).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from rmdbench.api import NOISE_MODELS, NoiseCase, NoiseModel, UserError, dice

from ._shared import SeverityError, check_dims, is_integer, one_of

CHOICES = ("random", "farthest", "slot")
NO_READERS = (
    "this dataset has no per-reader masks; the reader noise model needs a dataset that keeps "
    "each annotator's mask, e.g. --dataset lidc-phantom (or lidc-crops, or a folder prepared "
    "with masks/<annotator>/ subfolders)"
)


@dataclass(frozen=True)
class ReaderParams:
    """Which real reader's mask replaces the consensus."""

    choice: Literal["random", "farthest", "slot"] = "random"
    slot: int = 0  # reader slot for choice=slot (0-based)

    def __post_init__(self) -> None:
        one_of("choice", self.choice, CHOICES)
        if not is_integer(self.slot) or self.slot < 0:
            raise SeverityError(f"slot must be a whole number >= 0, got {self.slot!r}")


def real_readers(case: NoiseCase) -> np.ndarray:
    """The case's real reader masks [R, H, W], or a UserError naming the fix."""
    if case.readers is None or case.reader_count <= 0:
        raise UserError(NO_READERS)
    readers = np.asarray(case.readers)[: case.reader_count]
    if readers.shape[1:] != np.shape(case.mask):
        raise ValueError(
            f"reader masks have shape {readers.shape[1:]}, the mask {np.shape(case.mask)}"
        )
    return readers


def farthest_reader(readers: np.ndarray, consensus: np.ndarray, num_classes: int = 2) -> int:
    """The slot whose mask has the lowest Dice against the consensus (first on ties)."""
    scores = [dice(reader, consensus, num_classes) for reader in readers]
    return int(np.argmin(scores))


@NOISE_MODELS.register("reader")
class Reader(NoiseModel):
    """One real radiologist's mask instead of the consensus (the paper's real-world noise).

    Presets (realised Dice on lidc-phantom crop 64, ratio 1, seed 0, mean/median):
    ``default`` = a random reader (0.90/0.92), ``farthest`` (0.82/0.84), ``first`` = slot 0
    (0.90/0.92). Needs per-reader masks (lidc-phantom); other datasets get a clear error.
    """

    name: ClassVar[str] = "reader"
    Params: ClassVar[type] = ReaderParams
    spatial_dims = (2, 3)  # distance transforms and reader masks work on volumes too
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "farthest": {"choice": "farthest"},
        "first": {"choice": "slot", "slot": 0},
    }
    supports_multiclass: ClassVar[bool] = True
    requires_readers: ClassVar[bool] = True

    def corrupt(self, case: NoiseCase, rng: np.random.Generator) -> np.ndarray:
        """The chosen reader's mask, in the clean mask's dtype; an empty consensus stays
        empty (no reader outlined a lesion the consensus agrees on)."""
        mask = check_dims(case.mask, self.name, self.spatial_dims)
        readers = real_readers(case)
        params: ReaderParams = self.params
        drawn = int(rng.integers(len(readers)))
        if not mask.any():
            return mask.copy()
        if params.choice == "random":
            slot = drawn
        elif params.choice == "farthest":
            slot = farthest_reader(readers, mask, case.num_classes)
        else:
            slot = params.slot % len(readers)
        chosen = readers[slot]
        if case.num_classes <= 2:
            chosen = chosen > 0
        return chosen.astype(mask.dtype)
