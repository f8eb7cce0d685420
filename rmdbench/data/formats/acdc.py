"""ACDC (Bernard et al. 2018): cine cardiac MRI, 2D short-axis slices of the ED and ES frames,
four classes (background, RV, myocardium, LV).

Source layout (the challenge's ``training`` folder)::

    SOURCE/patient001/Info.cfg                      'ED: 1', 'ES: 12', ...
    SOURCE/patient001/patient001_frame01.nii.gz     the ED image
    SOURCE/patient001/patient001_frame01_gt.nii.gz  its labels (0 bg, 1 RV, 2 myo, 3 LV)
    ...                                             (the 4D cine file is not read)

Axis order: a slice is the NIfTI's third axis k; it is stored as [H, W] = [j, i] (the
transposed NIfTI slice), the row/column order SimpleITK and the SSL4MIS arrays the released
RMD code used give, so spacing is (j, i) zooms.
"""

from __future__ import annotations

import re
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
    require_file,
    resample,
    resampled_spacing,
)
from rmdbench.data.formats.base import DatasetFormat, progress_over, require_path
from rmdbench.data.prepared import PreparedDataset, centre_fit, split_by_patient
from rmdbench.errors import UserError
from rmdbench.progress import Track
from rmdbench.registry import DATASET_FORMATS

CLASS_NAMES = ("background", "RV", "myocardium", "LV")
PHASES = ("ED", "ES")
ATTRIBUTION = (
    "ACDC: Bernard O. et al., Deep Learning Techniques for Automatic MRI Cardiac "
    "Multi-Structures Segmentation and Diagnosis: Is the Problem Solved? IEEE TMI "
    "37(11):2514-2525, 2018, doi:10.1109/TMI.2018.2837502"
)


@dataclass(frozen=True)
class AcdcParams:
    """How slices become fixed-size 2D cases."""

    mode: Literal["resample", "crop"] = "resample"  # crop = the released code (no resampling)
    spacing: float = 1.5  # mm, in-plane target of 'resample'
    size: int = 128  # px, centre crop/pad of every slice
    skip_empty: bool = False  # drop slices whose label is all background

    def __post_init__(self) -> None:
        if self.mode not in ("resample", "crop"):
            raise ValueError(f"mode must be resample or crop, got '{self.mode}'")
        if not self.spacing > 0:
            raise ValueError(f"spacing must be a positive number of mm, got {self.spacing}")
        if self.size < 1:
            raise ValueError(f"size must be a positive number of pixels, got {self.size}")


@dataclass(frozen=True)
class Frame:
    """One phase of one patient as slices: image [Z, H, W] in [0, 1], mask [Z, H, W]."""

    patient: str
    phase: str
    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, float]  # (H, W) mm
    cropped_labels: int  # slices that lost labelled pixels to the centre crop


@DATASET_FORMATS.register("acdc")
class Acdc(DatasetFormat):
    """The ACDC training set: ED and ES frames of every patient as 2D short-axis slices."""

    Params: ClassVar[type] = AcdcParams
    summary: ClassVar[str] = "ACDC cardiac MRI folder (patientXXX/), ED+ES 2D slices, 4 classes"

    def prepare(
        self, source: Path, params: AcdcParams, *, progress: Track | None = None
    ) -> PreparedDataset:
        folders = patient_folders(source)
        frames = [
            frame
            for folder in progress_over(folders, "reading ACDC", progress)
            for frame in read_patient(folder, params)
        ]
        data, dropped = assemble(frames, params)
        return PreparedDataset(
            data=data,
            class_names=CLASS_NAMES,
            channel_names=("cine-MRI",),
            attribution=ATTRIBUTION,
            notes=notes(frames, params, dropped),
        )


def patient_folders(source: Path) -> list[Path]:
    """The ``patientXXX`` folders of the source, in order."""
    what = "ACDC training folder (the one holding patient001/ ... patient100/)"
    source = require_path(source, what, directory=True)
    folders = sorted(
        p for p in source.iterdir() if p.is_dir() and re.fullmatch(r"patient\d+", p.name)
    )
    if not folders:
        raise UserError(f"{source} has no patientXXX folders; pass the {what}")
    return folders


def read_info(folder: Path) -> dict[str, int]:
    """The ED and ES frame numbers from ``Info.cfg``."""
    path = require_file(folder / "Info.cfg", "every ACDC patient folder has one (ED/ES frames)")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path} cannot be read ({error})") from None
    found = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() in PHASES:
            try:
                found[key.strip()] = int(value.strip())
            except ValueError:
                raise UserError(f"{path}: '{line.strip()}' is not '{key.strip()}: N'") from None
    missing = [phase for phase in PHASES if phase not in found]
    if missing:
        raise UserError(f"{path} has no '{missing[0]}: N' line; it names the ED and ES frames")
    return found


def read_patient(folder: Path, params: AcdcParams) -> Iterator[Frame]:
    """Both phases of one patient, checked and turned into fixed-size slices."""
    frames = read_info(folder)
    for phase in PHASES:  # ED then ES, whatever order Info.cfg lists them in
        image, labels = read_frame(folder, phase, frames[phase])
        yield to_slices(folder.name, phase, image, labels, params)


def read_frame(folder: Path, phase: str, number: int) -> tuple[Volume, Volume]:
    """The image and label volume of one frame, on the same grid."""
    stem = f"{folder.name}_frame{number:02d}"
    what = f"it is the {phase} frame named in Info.cfg"
    image = load_volume(nifti_file(folder, stem), what)
    labels = load_labels(nifti_file(folder, f"{stem}_gt"), (0, 1, 2, 3), f"{what} (labels)")
    check_same_grid(labels, image)
    return image, labels


def to_slices(patient: str, phase: str, image: Volume, labels: Volume, params: AcdcParams) -> Frame:
    """[i, j, k] volumes -> [k, j, i] slices, normalised, resampled in plane, centre fitted."""
    pixels = normalise(image.array).transpose(2, 1, 0)
    mask = labels.array.transpose(2, 1, 0)
    spacing = (image.zooms[1], image.zooms[0])
    if params.mode == "resample":
        factors = (1.0, spacing[0] / params.spacing, spacing[1] / params.spacing)
        shape = fitted_shape(mask.shape, factors)
        spacing = resampled_spacing(spacing, mask.shape[1:], shape[1:])
        pixels = np.clip(resample(pixels, shape, order=1), 0.0, 1.0)
        mask = resample(mask, shape, order=0)
    fitted = centre_fit(mask, params.size, leading=1)
    return Frame(
        patient=patient,
        phase=phase,
        image=centre_fit(pixels, params.size, leading=1).astype(np.float32),
        mask=fitted.astype(np.uint8),
        spacing=(float(spacing[0]), float(spacing[1])),
        cropped_labels=lost_labels(mask, fitted),
    )


def lost_labels(before: np.ndarray, after: np.ndarray) -> int:
    """Slices whose labelled pixel count fell when cropped: the heart was off centre."""
    return int((labelled_pixels(after) < labelled_pixels(before)).sum())


def labelled_pixels(stack: np.ndarray) -> np.ndarray:
    """Non-background pixels of every slice of a [Z, H, W] stack."""
    return (stack.reshape(len(stack), -1) > 0).sum(axis=1)


def assemble(frames: list[Frame], params: AcdcParams) -> tuple[SegmentationData, int]:
    """All slices as one dataset (empty ones dropped if asked); also how many were dropped."""
    images = np.concatenate([f.image for f in frames])[:, None]
    masks = np.concatenate([f.mask for f in frames])
    patients = np.array([f.patient for f in frames for _ in f.mask])
    case_ids = np.array(
        [f"{f.patient}_{f.phase}_s{z:02d}" for f in frames for z in range(len(f.mask))]
    )
    spacing = np.array([f.spacing for f in frames for _ in f.mask], np.float32)
    keep = (
        masks.reshape(len(masks), -1).any(axis=1)
        if params.skip_empty
        else np.ones(len(masks), bool)
    )
    if not keep.any():
        raise UserError("every ACDC slice has an empty label; nothing left with skip_empty=true")
    data = SegmentationData(
        name="acdc",
        images=images[keep],
        masks=masks[keep],
        spacing=spacing[keep],
        patient_ids=patients[keep],
        split=split_by_patient(patients[keep], seed="acdc/patient-split/v1"),
        case_ids=case_ids[keep],
        num_classes=len(CLASS_NAMES),
    )
    return data, int((~keep).sum())


def notes(frames: list[Frame], params: AcdcParams, dropped: int) -> tuple[str, ...]:
    """What the user should know about how the slices were made."""
    patients = len({f.patient for f in frames})
    slices = sum(len(f.mask) for f in frames)
    made = (
        f"{slices} slices of the ED and ES frames of {patients} patients, "
        + (
            f"resampled in plane to {params.spacing:g} mm"
            if params.mode == "resample"
            else "not resampled (the released code's plain crop; spacing varies by patient)"
        )
        + f", centre cropped/padded to {params.size}x{params.size}"
    )
    result = [made]
    cropped = sum(f.cropped_labels for f in frames)
    if cropped:
        result.append(f"{cropped} slices lost labelled pixels to the centre crop; raise size")
    if params.skip_empty:
        result.append(f"dropped {dropped} of {slices} slices with an empty label (skip_empty)")
    return tuple(result)
