"""Any folder of image/mask pairs, so a user with their own data needs no code.

Source layout::

    SOURCE/images/<case>.<ext>    one image per case
    SOURCE/masks/<case>.<ext>     its label map, same <case> name (the extension may differ)
    SOURCE/cases.csv              optional: columns case, and any of patient_id, split,
                                  spacing (all axes) or spacing_0, spacing_1[, spacing_2]

Files: PNG, TIFF, NIfTI (.nii, .nii.gz) or NumPy .npy; names starting with '.' are ignored.
A case is 2D ([H, W] mask) or 3D ([D, H, W] mask, e.g. a NIfTI volume or a TIFF stack); all
cases share one dimensionality. An image has the mask's shape, or one more axis of channels:
last for PNG/TIFF (RGB), first for .npy and NIfTI (axis orders: see ``_images``).

- Intensities are scaled to [0, 1] per case and channel: ``percentile`` (the default) clips
  to the 0.5 and 99.5 percentiles first, so one hot pixel does not squash the rest;
  ``minmax`` uses the extremes.
- Masks hold integer labels, 0 = background. ``num_classes=0`` infers max label + 1 (at
  least 2); a label at or above a given ``num_classes`` is an error. Masks of only 0 and 255
  (8-bit binary masks) are read as 0 and 1, with a note.
- Shapes: ``size=0`` requires one shape for all cases; ``size=N`` centre crops or zero pads
  every spatial axis to N.
- Spacing (mm): cases.csv, else the NIfTI header, else the ``spacing`` option (with a note).
- Patients: cases.csv's patient_id, else each case is its own patient. Splits: cases.csv's
  split column (every case then needs a row; train, val or test), else 70/10/20 % of the
  patients, by a fixed seed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from rmdbench.data.base import SegmentationData
from rmdbench.data.formats._images import image_stem, image_suffix, read_image_file
from rmdbench.data.formats.base import DatasetFormat, natural_key, progress_over, require_path
from rmdbench.data.prepared import (
    PreparedDataset,
    centre_fit,
    check_patient_split,
    split_by_patient,
)
from rmdbench.errors import UserError
from rmdbench.progress import Track
from rmdbench.registry import DATASET_FORMATS

SPLIT_SEED = "folder/patient-split/v1"
CASES_CSV = "cases.csv"
CSV_COLUMNS = ("case", "patient_id", "split", "spacing", "spacing_0", "spacing_1", "spacing_2")
PERCENTILES = (0.5, 99.5)
MAX_LABEL = 255  # masks are stored as uint8


@dataclass(frozen=True)
class FolderParams:
    """size: centre crop/pad every spatial axis to this (0 = all cases share one shape);
    intensity: per-case scaling to [0, 1]; num_classes: 0 = max label + 1; spacing: mm per
    voxel where neither cases.csv nor a NIfTI header gives one."""

    size: int = 0
    intensity: Literal["minmax", "percentile"] = "percentile"
    num_classes: int = 0
    spacing: float = 1.0

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(
                f"size must be 0 (keep) or a positive number of pixels, not {self.size}"
            )
        if self.num_classes < 0 or self.num_classes == 1 or self.num_classes > MAX_LABEL + 1:
            raise ValueError(
                f"num_classes must be 0 (infer) or 2 to {MAX_LABEL + 1}, not {self.num_classes}"
            )
        if not self.spacing > 0:
            raise ValueError(f"spacing must be a positive number of mm, got {self.spacing}")


@DATASET_FORMATS.register("folder")
class Folder(DatasetFormat):
    """A folder of image/mask pairs (PNG, TIFF, NIfTI, .npy), matched by file name."""

    Params: ClassVar[type] = FolderParams
    summary: ClassVar[str] = "a folder of image/mask pairs: images/ and masks/ (PNG/TIFF/NIfTI/npy)"

    def prepare(
        self, source: Path, params: FolderParams, *, progress: Track | None = None
    ) -> PreparedDataset:
        what = "folder holding images/ and masks/"
        source = require_path(source, what, directory=True)
        images = list_files(require_path(source / "images", what, directory=True))
        masks = list_files(require_path(source / "masks", what, directory=True))
        pairs = pair_files(images, masks, source)
        csv_path = source / CASES_CSV
        rows = read_cases_csv(csv_path, pairs) if csv_path.is_file() else {}
        cases = [
            read_case(name, image, mask, params)
            for name, (image, mask) in progress_over(
                pairs.items(), "reading image/mask pairs", progress
            )
        ]
        return build_dataset(cases, rows, csv_path, params)


def list_files(folder: Path) -> dict[str, Path]:
    """Case name -> file; an unknown file type or two files of one case is an error."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if not path.is_file() or image_suffix(path) is None:
            raise UserError(f"{path}: not a PNG, TIFF, NIfTI or .npy file; remove it from {folder}")
        name = image_stem(path)
        if name in found:
            raise UserError(f"{path}: case '{name}' also has {found[name].name}; keep one file")
        found[name] = path
    return found


def pair_files(
    images: dict[str, Path], masks: dict[str, Path], source: Path
) -> dict[str, tuple[Path, Path]]:
    """Case name -> (image, mask), in natural order; every image needs a mask and back."""
    if not images:
        raise UserError(f"{source / 'images'}: no images; put PNG, TIFF, NIfTI or .npy files there")
    for name in sorted(images, key=natural_key):
        if name not in masks:
            raise UserError(f"{images[name]}: no mask '{name}.*' in {source / 'masks'}")
    for name in sorted(masks, key=natural_key):
        if name not in images:
            raise UserError(f"{masks[name]}: no image '{name}.*' in {source / 'images'}")
    return {name: (images[name], masks[name]) for name in sorted(images, key=natural_key)}


@dataclass(frozen=True)
class Case:
    """One read pair: image [C, *S] in [0, 1], mask [*S] of labels, header spacing."""

    name: str
    image_path: Path
    mask_path: Path
    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, ...] | None


def read_case(name: str, image_path: Path, mask_path: Path, params: FolderParams) -> Case:
    mask_file = read_image_file(mask_path, label=True)
    mask = read_labels(mask_file.array, mask_path)
    image_file = read_image_file(image_path)
    image = to_channels(image_file.array, mask.shape, image_file.channels_last, image_path)
    spacing = _header_spacing(image_file, mask.ndim) or _header_spacing(mask_file, mask.ndim)
    return Case(
        name=name,
        image_path=image_path,
        mask_path=mask_path,
        image=scale_intensity(image, params.intensity, image_path),
        mask=mask,
        spacing=spacing,
    )


def read_labels(array: np.ndarray, path: Path) -> np.ndarray:
    """uint8 [*S] labels; a mask that is not 2D/3D, not whole numbers, negative or above
    255 is an error naming the file."""
    if array.ndim not in (2, 3):
        raise UserError(f"{path}: a mask must be 2D [H, W] or 3D [D, H, W], got {array.shape}")
    if array.dtype.kind not in "biuf":
        raise UserError(f"{path}: not a numeric mask (dtype {array.dtype})")
    whole = np.isfinite(array).all() and (array == np.round(array)).all()
    if array.dtype.kind == "f" and not whole:
        raise UserError(f"{path}: the mask holds non-integer values; masks are integer labels")
    low, high = (array.min(), array.max()) if array.size else (0, 0)
    if low < 0 or high > MAX_LABEL:
        raise UserError(f"{path}: mask labels {low:g} to {high:g}; use 0 to {MAX_LABEL}")
    return array.astype(np.uint8)


def to_channels(
    array: np.ndarray, shape: tuple[int, ...], channels_last: bool, path: Path
) -> np.ndarray:
    """[C, *S]: the image as one channel, or its channel axis (last or first) moved first."""
    if array.shape == shape:
        return array[None]
    if array.ndim == len(shape) + 1:
        last, first = array.shape[:-1] == shape, array.shape[1:] == shape
        if last and (channels_last or not first):
            return np.moveaxis(array, -1, 0)
        if first:
            return array
    raise UserError(f"{path}: shape {array.shape} does not match its mask's {shape}")


def scale_intensity(image: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """float32 in [0, 1] per channel; a constant channel becomes 0."""
    if image.dtype.kind not in "biuf":
        raise UserError(f"{path}: not a numeric image (dtype {image.dtype})")
    values = image.reshape(len(image), -1).astype(np.float64)
    if not np.isfinite(values).all():
        raise UserError(f"{path}: the image holds NaN or infinite values")
    if mode == "percentile":
        low, high = np.percentile(values, PERCENTILES, axis=1)
    else:
        low, high = values.min(axis=1), values.max(axis=1)
    width = np.where(high > low, high - low, 1.0)
    scaled = np.clip((values - low[:, None]) / width[:, None], 0.0, 1.0)
    scaled[high <= low] = 0.0
    return scaled.reshape(image.shape).astype(np.float32)


def _header_spacing(image_file, dims: int) -> tuple[float, ...] | None:
    """The last ``dims`` zooms of a NIfTI header (after a leading channel axis), if valid."""
    if image_file.spacing is None or len(image_file.spacing) < dims:
        return None
    spacing = tuple(image_file.spacing[-dims:])
    return spacing if all(np.isfinite(s) and s > 0 for s in spacing) else None


def read_cases_csv(path: Path, pairs: dict[str, tuple[Path, Path]]) -> dict[str, dict[str, str]]:
    """Case -> its row (stripped values); a row for a case without files, a repeated case or
    an unknown column is an error naming the file and line."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # a spreadsheet's BOM
            reader = csv.DictReader(handle)
            columns = [column.strip() for column in reader.fieldnames or []]
            raw = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: cannot read it as CSV ({error})") from None
    if "case" not in columns:
        raise UserError(f"{path}: no 'case' column; its columns are {', '.join(CSV_COLUMNS)}")
    unknown = [column for column in columns if column not in CSV_COLUMNS]
    if unknown:
        raise UserError(
            f"{path}: unknown column '{unknown[0]}'; the columns are {', '.join(CSV_COLUMNS)}"
        )
    rows: dict[str, dict[str, str]] = {}
    for line, entry in enumerate(raw, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in entry.items() if k is not None}
        case = row["case"]
        if case not in pairs:
            raise UserError(f"{path} line {line}: case '{case}' has no image/mask pair")
        if case in rows:
            raise UserError(f"{path} line {line}: case '{case}' has a second row")
        rows[case] = row
    return rows


def csv_spacing(row: dict[str, str], dims: int, path: Path) -> tuple[float, ...] | None:
    """The row's spacing: one value for all axes or one per axis; None when absent."""
    per_axis = [f"spacing_{axis}" for axis in range(3)]
    given = {key: row[key] for key in ("spacing", *per_axis) if row.get(key)}
    if not given:
        return None
    where = f"{path}: case '{row['case']}'"
    extra = [key for key in per_axis[dims:] if key in given]
    if extra:
        raise UserError(f"{where}: {extra[0]} given, but the cases are {dims}D")
    keys = ["spacing"] * dims if "spacing" in given else per_axis[:dims]
    missing = [key for key in keys if key not in given]
    if missing:
        raise UserError(f"{where}: {missing[0]} is empty; give every axis or 'spacing'")
    try:
        spacing = tuple(float(given[key]) for key in keys)
    except ValueError:
        raise UserError(f"{where}: spacing {list(given.values())} is not a number") from None
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise UserError(f"{where}: spacing {list(given.values())} is not positive")
    return spacing


def check_consistent(cases: list[Case], size: int) -> None:
    """One dimensionality and channel count; one shape unless ``size`` crops to one."""
    first = cases[0]
    for case in cases[1:]:
        if case.mask.ndim != first.mask.ndim:
            raise UserError(
                f"{case.mask_path}: {case.mask.ndim}D, but {first.mask_path.name} is "
                f"{first.mask.ndim}D; all cases must be 2D or all 3D"
            )
        if len(case.image) != len(first.image):
            raise UserError(
                f"{case.image_path}: {len(case.image)} channels, but {first.image_path.name} "
                f"has {len(first.image)}; all images need the same channels"
            )
        if not size and case.mask.shape != first.mask.shape:
            raise UserError(
                f"{case.image_path}: shape {case.mask.shape} differs from "
                f"{first.mask.shape} of {first.image_path.name}; give all cases one shape or "
                "pass folder[size=N] to centre crop/pad"
            )


def stack_cases(cases: list[Case], size: int) -> tuple[np.ndarray, np.ndarray]:
    """images [N, C, *S] and masks [N, *S], each case cropped/padded to ``size`` if set."""
    if not size:
        return np.stack([c.image for c in cases]), np.stack([c.mask for c in cases])
    images = np.stack([centre_fit(c.image[None], size, leading=2)[0] for c in cases])
    masks = np.stack([centre_fit(c.mask[None], size, leading=1)[0] for c in cases])
    return images, masks


def build_dataset(
    cases: list[Case], rows: dict[str, dict[str, str]], csv_path: Path, params: FolderParams
) -> PreparedDataset:
    check_consistent(cases, params.size)
    dims = cases[0].mask.ndim
    images, masks = stack_cases(cases, params.size)
    masks, num_classes, notes = resolve_labels(cases, masks, params.num_classes)
    spacing, defaulted = resolve_spacing(cases, rows, csv_path, dims, params.spacing)
    names = [case.name for case in cases]
    patient_ids = np.array([rows.get(name, {}).get("patient_id") or name for name in names])
    split = resolve_split(names, rows, patient_ids, csv_path)
    if defaulted:
        notes.append(
            f"{defaulted} of {len(cases)} cases have no spacing in {CASES_CSV} or a NIfTI "
            f"header; they use {params.spacing:g} mm (the format option spacing changes it)"
        )
    if not any(rows.get(name, {}).get("patient_id") for name in names):
        notes.append("no patient_id in cases.csv: each case is its own patient")
    data = SegmentationData(
        name="folder",
        images=images,
        masks=masks,
        spacing=spacing,
        patient_ids=patient_ids,
        split=split,
        case_ids=np.array(names),
        num_classes=num_classes,
    )
    return PreparedDataset(
        data=data,
        class_names=("background", *(f"class {label}" for label in range(1, num_classes))),
        channel_names=tuple(f"channel {index}" for index in range(images.shape[1])),
        notes=tuple(notes),
    )


def resolve_labels(
    cases: list[Case], masks: np.ndarray, num_classes: int
) -> tuple[np.ndarray, int, list[str]]:
    """Masks of only 0 and 255 become 0/1; num_classes is the given one (a label at or above
    it is an error naming the first such mask, checked before any crop) or max label + 1,
    at least 2."""
    notes: list[str] = []
    values = set().union(*(np.unique(case.mask).tolist() for case in cases))
    highest = np.array([int(case.mask.max()) for case in cases])
    if MAX_LABEL in values and values <= {0, MAX_LABEL} and num_classes in (0, 2):
        masks = (masks == MAX_LABEL).astype(np.uint8)
        highest = np.minimum(highest, 1)
        notes.append(f"masks hold only 0 and {MAX_LABEL}; read as 0 (background) and 1")
    if num_classes and highest.max() >= num_classes:
        bad = int(np.argmax(highest >= num_classes))
        raise UserError(
            f"{cases[bad].mask_path}: mask label {highest[bad]} but num_classes={num_classes}; "
            f"labels must be 0 to {num_classes - 1}"
        )
    return masks, num_classes or max(int(highest.max()) + 1, 2), notes


def resolve_spacing(
    cases: list[Case], rows: dict[str, dict[str, str]], csv_path: Path, dims: int, default: float
) -> tuple[np.ndarray, int]:
    """[N, dims] mm per axis (cases.csv, else the header, else ``default``) and how many
    cases took the default."""
    spacing = np.full((len(cases), dims), default, dtype=np.float32)
    defaulted = 0
    for row, case in enumerate(cases):
        given = csv_spacing(rows[case.name], dims, csv_path) if case.name in rows else None
        given = given or case.spacing
        if given is None:
            defaulted += 1
        else:
            spacing[row] = given
    return spacing, defaulted


def resolve_split(
    names: list[str], rows: dict[str, dict[str, str]], patient_ids: np.ndarray, csv_path: Path
) -> np.ndarray:
    """cases.csv's split when any row gives one (then every case must), else by patient."""
    if not any(row.get("split") for row in rows.values()):
        return split_by_patient(patient_ids, SPLIT_SEED)
    missing = [name for name in names if not rows.get(name, {}).get("split")]
    if missing:
        raise UserError(
            f"{csv_path}: case '{missing[0]}' has no split, but others do; give every case "
            "a split (train, val or test) or none"
        )
    split = np.array([rows[name]["split"] for name in names])
    check_patient_split(patient_ids, split, str(csv_path))
    return split
