"""toy-disks: a synthetic dataset built in milliseconds, for tests and smoke runs.

Each case is a bright ellipse on a noisy background; four "readers" draw the ellipse with
a slightly different radius, and a "given" noisy label draws it 20 % larger and off-centre
(the user's own noisy labels of a folder's noisy_masks/), so every noise model (reader and
given included) has what it needs. Nothing here is medical data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rmdbench.data.base import SegmentationData
from rmdbench.progress import Track
from rmdbench.registry import DATASETS
from rmdbench.seeding import generator

TOY_CASES = 96
TOY_PATIENTS = 48
#: the simulated given label: the ellipse moved (px) and scaled, drawing no random numbers,
#: so the images, masks and readers are what they were before it existed
GIVEN_OFFSET = 1.5
GIVEN_SCALE = 1.2


def _ellipse(size: int, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    rows, cols = np.mgrid[:size, :size]
    return (((rows - centre[0]) / radii[0]) ** 2 + ((cols - centre[1]) / radii[1]) ** 2) <= 1.0


@DATASETS.register("toy-disks")
def load_toy_disks(
    *, crop_size: int = 32, cache_dir: Path | None = None, progress: Track | bool | None = None
) -> SegmentationData:
    """Synthetic ellipses with four simulated readers and a given noisy label (tests and
    smoke runs; not cached)."""
    rng = generator("toy-disks", crop_size)
    size = crop_size
    images = np.empty((TOY_CASES, 1, size, size), np.float32)
    masks = np.empty((TOY_CASES, size, size), np.uint8)
    readers = np.zeros((TOY_CASES, 4, size, size), np.uint8)
    given = np.zeros((TOY_CASES, size, size), np.uint8)
    for case in range(TOY_CASES):
        centre = rng.uniform(0.35 * size, 0.65 * size, 2)
        radii = rng.uniform(0.12 * size, 0.3 * size, 2)
        masks[case] = _ellipse(size, centre, radii)
        for reader in range(4):
            readers[case, reader] = _ellipse(size, centre, radii * rng.uniform(0.85, 1.15))
        given[case] = _ellipse(size, centre + GIVEN_OFFSET, radii * GIVEN_SCALE)  # no draws
        blurred = 0.2 + 0.5 * masks[case] + rng.normal(0, 0.08, (size, size))
        images[case, 0] = np.clip(blurred, 0, 1)
    patients = np.array([f"toy-{case % TOY_PATIENTS:03d}" for case in range(TOY_CASES)])
    patient_split = np.where(
        np.arange(TOY_PATIENTS) < 0.7 * TOY_PATIENTS,
        "train",
        np.where(np.arange(TOY_PATIENTS) < 0.85 * TOY_PATIENTS, "val", "test"),
    )
    split = patient_split[np.arange(TOY_CASES) % TOY_PATIENTS]
    return SegmentationData(
        name="toy-disks",
        images=images,
        masks=masks,
        spacing=np.full((TOY_CASES, 2), 0.7, np.float32),
        patient_ids=patients,
        split=split,
        case_ids=np.array([f"toy-{case:03d}" for case in range(TOY_CASES)]),
        readers=readers,
        reader_count=np.full(TOY_CASES, 4),
        given_masks=given,
        given_present=np.ones(TOY_CASES, bool),
    )
