"""The in-memory form every dataset takes: arrays of cases plus a patient-level split,
in 2D (slices) or 3D (volumes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rmdbench.progress import Track

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SegmentationData:
    """All cases of one dataset, held as arrays (numpy, possibly memory-mapped).

    images:       float32 [N, C, *S], intensities scaled to [0, 1]; S = (H, W) or (D, H, W)
    masks:        uint8 [N, *S], the clean label (0 = background, 1.. = classes)
    spacing:      float32 [N, len(S)], voxel size in mm along each spatial axis
    patient_ids:  str [N]; a patient's cases all sit in one split
    split:        str [N], one of SPLITS
    case_ids:     str [N], stable names of the cases
    num_classes:  number of label values including background (2 = binary)
    readers:      uint8 [N, R, *S] or None, individual annotators' masks
    reader_count: int [N] or None, how many of the R reader slots are real
    given_masks:  uint8 [N, *S] or None, the user's own noisy training labels (a folder's
                  noisy_masks/, the ``given`` noise model); zeros where a case has none
    given_present: bool [N] or None, which cases have one
    """

    name: str
    images: np.ndarray
    masks: np.ndarray
    spacing: np.ndarray
    patient_ids: np.ndarray
    split: np.ndarray
    case_ids: np.ndarray
    num_classes: int = 2
    readers: np.ndarray | None = None
    reader_count: np.ndarray | None = None
    given_masks: np.ndarray | None = None
    given_present: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim not in (4, 5):
            raise ValueError(
                f"images must be [N, C, H, W] or [N, C, D, H, W], got shape {self.images.shape}"
            )
        if self.masks.shape != (n, *self.images.shape[2:]):
            raise ValueError(
                f"masks must be [N, *S] = {(n, *self.images.shape[2:])}, got {self.masks.shape}"
            )
        if np.shape(self.spacing) != (n, self.spatial_dims):
            raise ValueError(
                f"spacing must be [N, {self.spatial_dims}], got shape {np.shape(self.spacing)}"
            )
        for field_name in ("spacing", "patient_ids", "split", "case_ids"):
            if len(getattr(self, field_name)) != n:
                raise ValueError(f"{field_name} has {len(getattr(self, field_name))} rows, not {n}")
        if (self.given_masks is None) != (self.given_present is None):
            raise ValueError("given_masks and given_present come together, or neither")
        if self.given_masks is not None and (
            np.shape(self.given_masks) != np.shape(self.masks) or len(self.given_present) != n
        ):
            raise ValueError(
                f"given_masks must be [N, *S] = {np.shape(self.masks)} with given_present [N], "
                f"got {np.shape(self.given_masks)} and {np.shape(self.given_present)}"
            )

    @property
    def spatial_dims(self) -> int:
        """2 for slices, 3 for volumes."""
        return self.images.ndim - 2

    def __len__(self) -> int:
        return len(self.images)

    def indices(self, split: str) -> np.ndarray:
        """Case indices of one split, in dataset order."""
        return np.flatnonzero(self.split == split)

    def subset(self, index: np.ndarray) -> SegmentationData:
        """A copy restricted to the given case indices (used for tiny test datasets)."""
        return SegmentationData(
            name=self.name,
            images=self.images[index],
            masks=self.masks[index],
            spacing=self.spacing[index],
            patient_ids=self.patient_ids[index],
            split=self.split[index],
            case_ids=self.case_ids[index],
            num_classes=self.num_classes,
            readers=None if self.readers is None else self.readers[index],
            reader_count=None if self.reader_count is None else self.reader_count[index],
            given_masks=None if self.given_masks is None else self.given_masks[index],
            given_present=None if self.given_present is None else self.given_present[index],
        )


def as_track(progress: Track | bool | None) -> Track | None:
    """The ``Track`` a data function was given, or None for no display. A bool (the flag
    dataset factories took before ``rmdbench.progress``) counts as none: a caller that wants
    a progress bar passes a Track."""
    return None if progress is None or isinstance(progress, bool) else progress
