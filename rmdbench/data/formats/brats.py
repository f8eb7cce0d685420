"""BraTS 2019 training data: four co-registered MRI modalities per subject and a tumour label,
made into a binary task (whole tumour, tumour core or enhancing tumour) in 3D or 2D.

Source layout (the challenge's ``MICCAI_BraTS_2019_Data_Training`` folder)::

    SOURCE/HGG/BraTS19_2013_2_1/BraTS19_2013_2_1_{flair,t1,t1ce,t2,seg}.nii.gz
    SOURCE/LGG/...                 (subject folders directly under SOURCE work too)

Labels: 1 necrotic/non-enhancing core, 2 oedema, 4 enhancing tumour. Whole tumour is
{1, 2, 4}, tumour core {1, 4}, enhancing tumour {4}.

Each subject is cropped to the brain's bounding box (nonzero voxels), each modality scaled to
[0, 1] by percentiles of its brain voxels, and the box resampled isotropically so its longest
side spans ``size`` voxels (aspect kept, zero padded to ``size`` cubed): every brain fills the
same field of view, so spacing = box extent / size differs per subject. Axis order: the
NIfTI's (i, j, k) arrays are stored as (D, H, W) = (k, j, i), axial slices along D.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from rmdbench.data.base import SegmentationData
from rmdbench.data.formats._nifti import (
    Volume,
    check_same_grid,
    fitted_shape,
    load_labels,
    load_volume,
    nifti_file,
    normalise,
    resample,
    resampled_spacing,
)
from rmdbench.data.formats.base import DatasetFormat, progress_over, require_path
from rmdbench.data.prepared import PreparedDataset, centre_fit, split_by_patient
from rmdbench.errors import UserError
from rmdbench.progress import Track
from rmdbench.registry import DATASET_FORMATS

MODALITIES = ("flair", "t1", "t1ce", "t2")
LABELS = (0, 1, 2, 4)
GRADE_FOLDERS = ("HGG", "LGG")
ATTRIBUTION = (
    "BraTS 2019: Menze B.H. et al., IEEE TMI 34(10):1993-2024, 2015, "
    "doi:10.1109/TMI.2014.2377694; Bakas S. et al., Scientific Data 4:170117, 2017, "
    "doi:10.1038/sdata.2017.117; Bakas S. et al., arXiv:1811.02629, 2018"
)


@dataclass(frozen=True)
class BratsParams:
    """Which binary task, in 3D volumes or 2D axial slices, at what size."""

    task: Literal["whole_tumour", "tumour_core", "enhancing_tumour"] = "whole_tumour"
    dims: int = 3  # 3: one volume per subject; 2: axial slices of it
    size: int = 96  # voxels per side of the cube (3D) or square (2D)
    slices_per_volume: int = 10  # 2D only
    slice_choice: Literal["spread", "most_tumour"] = "spread"  # 2D: evenly through the tumour

    def __post_init__(self) -> None:
        if self.task not in ("whole_tumour", "tumour_core", "enhancing_tumour"):
            raise ValueError(
                f"task must be whole_tumour, tumour_core or enhancing_tumour, got '{self.task}'"
            )
        if self.dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {self.dims}")
        if self.size < 2:
            raise ValueError(f"size must be at least 2 voxels, got {self.size}")
        if self.slices_per_volume < 1:
            raise ValueError(f"slices_per_volume must be at least 1, got {self.slices_per_volume}")
        if self.slice_choice not in ("spread", "most_tumour"):
            raise ValueError(
                f"slice_choice must be spread or most_tumour, got '{self.slice_choice}'"
            )


@dataclass(frozen=True)
class Case:
    """One prepared case: image [4, *S] in [0, 1], binary mask [*S], spacing per axis (mm)."""

    case_id: str
    patient: str
    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, ...]


@DATASET_FORMATS.register("brats")
class Brats(DatasetFormat):
    """BraTS 2019 training subjects as a binary tumour task, 3D volumes or 2D slices."""

    Params: ClassVar[type] = BratsParams
    summary: ClassVar[str] = "BraTS 2019 folder (HGG/, LGG/), 4 MRI modalities, binary tumour task"

    def prepare(
        self, source: Path, params: BratsParams, *, progress: Track | None = None
    ) -> PreparedDataset:
        folders = subject_folders(source)
        steps = progress_over(folders, "reading BraTS", progress)
        cases = (case for folder in steps for case in subject_cases(folder, params))
        data = collect(cases, len(folders), params)
        return PreparedDataset(
            data=data,
            class_names=("background", params.task.replace("_", " ")),
            channel_names=MODALITIES,
            attribution=ATTRIBUTION,
            notes=notes(data, len(folders), params),
        )


def task_labels(task: str) -> tuple[int, ...]:
    """The BraTS label values that are foreground for a task."""
    return {"whole_tumour": (1, 2, 4), "tumour_core": (1, 4), "enhancing_tumour": (4,)}[task]


def subject_folders(source: Path) -> list[Path]:
    """``BraTS*`` subject folders under SOURCE/HGG, SOURCE/LGG and SOURCE itself, by name."""
    what = "BraTS 2019 training folder (the one holding HGG/ and LGG/)"
    source = require_path(source, what, directory=True)
    parents = [source, *(source / g for g in GRADE_FOLDERS if (source / g).is_dir())]
    folders = sorted(
        (p for parent in parents for p in parent.iterdir() if is_subject(p)),
        key=lambda p: p.name,
    )
    if not folders:
        raise UserError(f"{source} has no BraTS subject folders (BraTS19_*); pass the {what}")
    seen: dict[str, Path] = {}
    for folder in folders:
        if seen.setdefault(folder.name, folder) != folder:
            raise UserError(f"{folder} and {seen[folder.name]} are the same subject; keep one")
    return folders


def is_subject(path: Path) -> bool:
    return path.is_dir() and path.name.lower().startswith("brats")


def read_subject(folder: Path) -> tuple[list[Volume], Volume]:
    """The four modalities and the label volume, checked to share one grid."""
    channels = [
        load_volume(nifti_file(folder, f"{folder.name}_{m}"), f"every subject needs its {m} scan")
        for m in MODALITIES
    ]
    labels = load_labels(
        nifti_file(folder, f"{folder.name}_seg"), LABELS, "every training subject has a _seg label"
    )
    # The challenge co-registers everything to one template, so shape and voxel size suffice;
    # a stricter affine check would reject files whose qform and sform merely differ.
    for volume in [*channels[1:], labels]:
        check_same_grid(volume, channels[0], affine=False)
    return channels, labels


def bounding_box(region: np.ndarray) -> tuple[slice, ...]:
    """The smallest box holding every True voxel."""
    axes = range(region.ndim)
    spans = [np.flatnonzero(region.any(axis=tuple(a for a in axes if a != k))) for k in axes]
    return tuple(slice(int(span[0]), int(span[-1]) + 1) for span in spans)


def to_cube(
    channels: list[Volume], labels: Volume, size: int
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """Brain box, normalised, resampled isotropically to fit size³, as (D, H, W) = (k, j, i):
    image [4, S, S, S], labels [S, S, S] (BraTS values), spacing (D, H, W) mm."""
    stack = np.stack([v.array for v in channels])
    brain = (stack != 0).any(axis=0)
    region = brain | (labels.array > 0)
    if not region.any():
        raise UserError(f"{channels[0].path} and the other scans are all zero; no brain to crop")
    box = bounding_box(region)
    before = brain[box].shape
    zooms = channels[0].zooms
    target = max(n * z for n, z in zip(before, zooms, strict=True)) / size
    shape = fitted_shape(before, tuple(z / target for z in zooms))
    image = np.stack(
        [np.clip(resample(normalise(c[box], brain[box]), shape, order=1), 0, 1) for c in stack]
    )
    mask = resample(labels.array[box], shape, order=0)
    spacing = resampled_spacing(zooms, before, shape)[::-1]
    image = centre_fit(image.transpose(0, 3, 2, 1), size, leading=1)
    return image.astype(np.float32), centre_fit(mask.transpose(2, 1, 0), size, leading=0), spacing


def subject_cases(folder: Path, params: BratsParams) -> Iterator[Case]:
    """One 3D case, or the chosen axial slices, of one subject."""
    channels, labels = read_subject(folder)
    image, raw, spacing = to_cube(channels, labels, params.size)
    mask = np.isin(raw, task_labels(params.task)).astype(np.uint8)
    if params.dims == 3:
        yield Case(folder.name, folder.name, image, mask, spacing)
        return
    brain = image.any(axis=0)
    for z in pick_slices([mask, raw > 0, brain], params.slices_per_volume, params.slice_choice):
        yield Case(f"{folder.name}_z{z:03d}", folder.name, image[:, z], mask[z], spacing[1:])


def pick_slices(candidates: list[np.ndarray], count: int, how: str) -> list[int]:
    """Axial slices of the first non-empty candidate region (task tumour, whole tumour,
    brain): the ``count`` largest, or ``count`` spread evenly over the slices it touches."""
    area = np.zeros(len(candidates[0]), np.int64)
    for region in candidates:
        area = region.reshape(len(region), -1).sum(axis=1)
        if area.any():
            break
    present = np.flatnonzero(area)
    if how == "most_tumour":
        chosen = present[np.argsort(-area[present], kind="stable")[:count]]
    else:
        spread = np.linspace(0, len(present) - 1, min(count, len(present)))
        chosen = present[np.round(spread).astype(int)]
    return sorted(int(z) for z in np.unique(chosen))


def collect(cases: Iterator[Case], subjects: int, params: BratsParams) -> SegmentationData:
    """Stack the cases into arrays allocated once (3D BraTS is gigabytes; no second copy)."""
    most = subjects * (params.slices_per_volume if params.dims == 2 else 1)
    spatial = (params.size,) * params.dims
    images = np.empty((most, len(MODALITIES), *spatial), np.float32)
    masks = np.empty((most, *spatial), np.uint8)
    case_ids, patients, spacing = [], [], []
    for index, case in enumerate(cases):
        images[index], masks[index] = case.image, case.mask
        case_ids.append(case.case_id)
        patients.append(case.patient)
        spacing.append(case.spacing)
    count = len(case_ids)
    return SegmentationData(
        name="brats",
        images=images[:count],
        masks=masks[:count],
        spacing=np.array(spacing, np.float32),
        patient_ids=np.array(patients),
        split=split_by_patient(np.array(patients), seed="brats/patient-split/v1"),
        case_ids=np.array(case_ids),
        num_classes=2,
    )


def spacing_range(spacing: np.ndarray) -> str:
    """'0.5' or '1.62-1.87': the voxel sizes of all cases, in mm."""
    low, high = f"{spacing.min():.3g}", f"{spacing.max():.3g}"
    return low if low == high else f"{low}-{high}"


def notes(data: SegmentationData, subjects: int, params: BratsParams) -> tuple[str, ...]:
    """How the cases were made, and which have no foreground for the task."""
    labels = "{" + ", ".join(str(v) for v in task_labels(params.task)) + "}"
    made = (
        f"{params.task.replace('_', ' ')} = BraTS labels {labels}; {subjects} subjects cropped to "
        f"the brain, resampled isotropically to fit {params.size}^3 "
        f"(spacing {spacing_range(data.spacing)} mm)"
    )
    result = [made]
    if params.dims == 2:
        result.append(
            f"{len(data)} axial slices, up to {params.slices_per_volume} per subject "
            f"({params.slice_choice.replace('_', ' ')})"
        )
    empty = int((data.masks.reshape(len(data), -1).max(axis=1) == 0).sum())
    if empty:
        result.append(f"{empty} cases have no {params.task.replace('_', ' ')} voxels")
    return tuple(result)
