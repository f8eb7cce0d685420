"""Any folder of image/mask pairs, so a user with their own data needs no code.

Source layout::

    SOURCE/images/<case>.<ext>    one image per case
    SOURCE/masks/<case>.<ext>     its label map, same <case> name (the extension may differ)
    SOURCE/masks/<annotator>/<case>.<ext>
                                  optional: each annotator's own mask, one subfolder per
                                  annotator (for the reader noise model); a case without
                                  masks/<case> gets its annotators' consensus as clean label
    SOURCE/noisy_masks/<case>.<ext>
                                  optional: your own noisy training label of the case (for
                                  the given noise model); its clean mask is still needed
    SOURCE/cases.csv              optional: columns case, and any of patient_id, split,
                                  spacing (all axes) or spacing_0, spacing_1[, spacing_2]

Files: PNG, TIFF, NIfTI (.nii, .nii.gz) or NumPy .npy; names starting with '.' are ignored.
A case is 2D ([H, W] mask) or 3D ([D, H, W] mask, e.g. a NIfTI volume or a TIFF stack); all
cases share one dimensionality. An image has the mask's shape, or one more axis of channels:
last for PNG/TIFF (RGB), first for .npy and NIfTI (axis orders: see ``_images``).

- Intensities are scaled to [0, 1] per case and channel: ``percentile`` (the default) clips
  to the 0.5 and 99.5 percentiles first, so one hot pixel does not squash the rest;
  ``minmax`` uses the extremes.
- Annotators: a case's annotator masks fill its reader slots in the order of the folder
  names (reader_count says how many it has); the consensus is, per pixel, the label at
  least half of the case's annotators gave (LIDC's 50 % consensus), else background. Every
  annotator mask and noisy mask must have its image's shape.
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
NOISY_FOLDER = "noisy_masks"
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
        masks_folder = require_path(source / "masks", what, directory=True)
        masks, annotators = list_masks(masks_folder)
        noisy = list_noisy(source / NOISY_FOLDER, masks, annotators, masks_folder)
        pairs = pair_files(images, masks, source, annotators)
        csv_path = source / CASES_CSV
        rows = read_cases_csv(csv_path, pairs) if csv_path.is_file() else {}
        cases = [
            read_case(
                name,
                image,
                mask,
                params,
                readers=[found[name] for found in annotators.values() if name in found],
                noisy_path=noisy.get(name),
            )
            for name, (image, mask) in progress_over(
                pairs.items(), "reading image/mask pairs", progress
            )
        ]
        return build_dataset(cases, rows, csv_path, params, tuple(annotators))


def list_files(folder: Path, *, skip_folders: bool = False) -> dict[str, Path]:
    """Case name -> file; an unknown file type or two files of one case is an error
    (``skip_folders``: subfolders are left to the caller, masks/ holding annotators')."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or (skip_folders and path.is_dir()):
            continue
        if not path.is_file() or image_suffix(path) is None:
            raise UserError(f"{path}: not a PNG, TIFF, NIfTI or .npy file; remove it from {folder}")
        name = image_stem(path)
        if name in found:
            raise UserError(f"{path}: case '{name}' also has {found[name].name}; keep one file")
        found[name] = path
    return found


def list_masks(folder: Path) -> tuple[dict[str, Path], dict[str, dict[str, Path]]]:
    """masks/: the clean masks (its files, case -> file) and each annotator's masks (one
    subfolder per annotator, name -> case -> file, in natural order of the names)."""
    annotators: dict[str, dict[str, Path]] = {}
    subfolders = [path for path in folder.iterdir() if path.is_dir()]
    for path in sorted(subfolders, key=lambda path: natural_key(path.name)):
        if path.name.startswith("."):
            continue
        found = list_files(path)
        if not found:
            raise UserError(
                f"{path}: an annotator folder without masks; put that annotator's "
                "<case> masks there or remove it"
            )
        annotators[path.name] = found
    return list_files(folder, skip_folders=True), annotators


def list_noisy(
    folder: Path,
    masks: dict[str, Path],
    annotators: dict[str, dict[str, Path]],
    masks_folder: Path,
) -> dict[str, Path]:
    """noisy_masks/ (case -> file; none when the folder is absent). Every noisy label needs
    its case's clean mask (masks/<case>, or annotators to take the consensus of):
    validation and test are scored on the clean masks."""
    if not folder.exists():
        return {}
    found = list_files(require_path(folder, "folder of noisy training masks", directory=True))
    if not found:
        raise UserError(f"{folder}: no noisy masks; put <case> masks there or remove it")
    for name in sorted(found, key=natural_key):
        if name not in masks and not any(name in listed for listed in annotators.values()):
            raise UserError(
                f"{found[name]}: case '{name}' has no clean mask in {masks_folder}; add "
                f"{masks_folder / name}.<ext> (validation and test are scored on it) or "
                "remove the noisy mask"
            )
    return found


def pair_files(
    images: dict[str, Path],
    masks: dict[str, Path],
    source: Path,
    annotators: dict[str, dict[str, Path]] | None = None,
) -> dict[str, tuple[Path, Path | None]]:
    """Case name -> (image, clean mask), in natural order; every image needs a mask (or,
    with annotator folders, at least one annotator's mask: its clean label is then their
    consensus, mask None) and every mask an image."""
    annotators = annotators or {}
    if not images:
        raise UserError(f"{source / 'images'}: no images; put PNG, TIFF, NIfTI or .npy files there")
    for name in sorted(images, key=natural_key):
        if name not in masks and not any(name in found for found in annotators.values()):
            nor = " nor in an annotator's folder" if annotators else ""
            raise UserError(f"{images[name]}: no mask '{name}.*' in {source / 'masks'}{nor}")
    listed = [masks, *annotators.values()]
    for found in listed:
        for name in sorted(found, key=natural_key):
            if name not in images:
                raise UserError(f"{found[name]}: no image '{name}.*' in {source / 'images'}")
    return {name: (images[name], masks.get(name)) for name in sorted(images, key=natural_key)}


@dataclass(frozen=True)
class Case:
    """One read case: image [C, *S] in [0, 1], clean mask [*S] of labels, header spacing;
    its annotators' masks and its own noisy label when the folder has them. ``mask_path``
    is the clean mask's file, or the first annotator's when the clean mask is their
    consensus."""

    name: str
    image_path: Path
    mask_path: Path
    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, ...] | None
    readers: tuple[np.ndarray, ...] = ()
    reader_paths: tuple[Path, ...] = ()
    noisy: np.ndarray | None = None
    noisy_path: Path | None = None

    def labelled(self) -> list[tuple[np.ndarray, Path]]:
        """Every label map of the case with its file: clean, annotators', noisy."""
        found = [(self.mask, self.mask_path), *zip(self.readers, self.reader_paths, strict=True)]
        return found if self.noisy is None else [*found, (self.noisy, self.noisy_path)]


def read_case(
    name: str,
    image_path: Path,
    mask_path: Path | None,
    params: FolderParams,
    *,
    readers: list[Path] | None = None,
    noisy_path: Path | None = None,
) -> Case:
    """The case's files read and checked: the image must have the clean mask's shape (the
    first annotator's without one), and so must every annotator's mask and the noisy one."""
    reader_paths = tuple(readers or ())
    label_files = {path: read_image_file(path, label=True) for path in reader_paths}
    reference = mask_path if mask_path is not None else reader_paths[0]
    if mask_path is not None:
        label_files[mask_path] = read_image_file(mask_path, label=True)
    if noisy_path is not None:
        label_files[noisy_path] = read_image_file(noisy_path, label=True)
    labels = {path: read_labels(found.array, path) for path, found in label_files.items()}
    shape = labels[reference].shape
    image_file = read_image_file(image_path)
    image = to_channels(image_file.array, shape, image_file.channels_last, image_path)
    for path, array in labels.items():
        if array.shape != shape:
            kind = "noisy mask" if path == noisy_path else "annotator's mask"
            raise UserError(
                f"{path}: shape {array.shape} differs from its image's {shape} "
                f"({image_path.name}); every {kind} needs its image's shape"
            )
    annotated = tuple(labels[path] for path in reader_paths)
    mask = labels[mask_path] if mask_path is not None else consensus(annotated)
    spacing = _header_spacing(image_file, len(shape)) or _header_spacing(
        label_files[reference], len(shape)
    )
    return Case(
        name=name,
        image_path=image_path,
        mask_path=reference,
        image=scale_intensity(image, params.intensity, image_path),
        mask=mask,
        spacing=spacing,
        readers=annotated,
        reader_paths=reader_paths,
        noisy=None if noisy_path is None else labels[noisy_path],
        noisy_path=noisy_path,
    )


def consensus(readers: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per pixel, the label at least half of the annotators gave (LIDC's 50 % consensus:
    for binary masks, foreground where 2 x votes >= annotators), else background."""
    stack = np.stack(readers)
    agreed = np.zeros(stack.shape[1:], dtype=np.uint8)
    for label in np.unique(stack):
        if label:
            agreed[2 * (stack == label).sum(axis=0) >= len(stack)] = label
    return agreed


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


def stack_readers(cases: list[Case], size: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Annotators' masks [N, R, *S] (a case's in its first slots, the rest empty) and how
    many each case has [N]; (None, None) when no case has any."""
    slots = max(len(case.readers) for case in cases)
    if not slots:
        return None, None
    shape = (size,) * cases[0].mask.ndim if size else cases[0].mask.shape
    readers = np.zeros((len(cases), slots, *shape), dtype=np.uint8)
    for row, case in enumerate(cases):
        for slot, mask in enumerate(case.readers):
            readers[row, slot] = centre_fit(mask[None], size, leading=1)[0] if size else mask
    return readers, np.array([len(case.readers) for case in cases], dtype=np.int64)


def stack_noisy(cases: list[Case], size: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The user's noisy labels [N, *S] (zeros where a case has none) and which cases have
    one [N]; (None, None) when no case has any."""
    present = np.array([case.noisy is not None for case in cases])
    if not present.any():
        return None, None
    shape = (size,) * cases[0].mask.ndim if size else cases[0].mask.shape
    noisy = np.zeros((len(cases), *shape), dtype=np.uint8)
    for row, case in enumerate(cases):
        if case.noisy is not None:
            noisy[row] = centre_fit(case.noisy[None], size, leading=1)[0] if size else case.noisy
    return noisy, present


def label_notes(cases: list[Case], annotators: tuple[str, ...]) -> list[str]:
    """What prepare says about annotators and noisy labels, and how to use them."""
    notes = []
    if annotators:
        from_consensus = sum(case.mask_path in case.reader_paths for case in cases)
        notes.append(
            f"{len(annotators)} annotators ({', '.join(annotators)}): each case keeps its "
            f"annotators' masks for --noise-model reader; {from_consensus} of {len(cases)} "
            "cases take their annotators' consensus as the clean label (the others masks/)"
        )
    given = sum(case.noisy is not None for case in cases)
    if given:
        notes.append(
            f"{given} of {len(cases)} cases have your own noisy label ({NOISY_FOLDER}/); train "
            "on them with --noise-model given --noise 1 (validation and test use masks/)"
        )
    return notes


def build_dataset(
    cases: list[Case],
    rows: dict[str, dict[str, str]],
    csv_path: Path,
    params: FolderParams,
    annotators: tuple[str, ...] = (),
) -> PreparedDataset:
    check_consistent(cases, params.size)
    dims = cases[0].mask.ndim
    images, masks = stack_cases(cases, params.size)
    readers, reader_count = stack_readers(cases, params.size)
    noisy, noisy_present = stack_noisy(cases, params.size)
    binary_255, num_classes, notes = resolve_labels(cases, params.num_classes)
    if binary_255:
        masks, readers, noisy = (
            None if labels is None else (labels == MAX_LABEL).astype(np.uint8)
            for labels in (masks, readers, noisy)
        )
    notes += label_notes(cases, annotators)
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
        readers=readers,
        reader_count=reader_count,
        given_masks=noisy,
        given_present=noisy_present,
    )
    return PreparedDataset(
        data=data,
        class_names=("background", *(f"class {label}" for label in range(1, num_classes))),
        channel_names=tuple(f"channel {index}" for index in range(images.shape[1])),
        notes=tuple(notes),
    )


def resolve_labels(cases: list[Case], num_classes: int) -> tuple[bool, int, list[str]]:
    """Whether every label map (clean, annotators', noisy) holds only 0 and 255, to be read
    as 0/1; num_classes, the given one (a label at or above it is an error naming the first
    such file, checked before any crop) or max label + 1, at least 2; and the notes."""
    notes: list[str] = []
    labelled = [found for case in cases for found in case.labelled()]
    values = set().union(*(np.unique(labels).tolist() for labels, _ in labelled))
    highest = np.array([int(labels.max()) for labels, _ in labelled])
    binary_255 = MAX_LABEL in values and values <= {0, MAX_LABEL} and num_classes in (0, 2)
    if binary_255:
        highest = np.minimum(highest, 1)
        notes.append(f"masks hold only 0 and {MAX_LABEL}; read as 0 (background) and 1")
    if num_classes and highest.max() >= num_classes:
        bad = int(np.argmax(highest >= num_classes))
        raise UserError(
            f"{labelled[bad][1]}: mask label {highest[bad]} but num_classes={num_classes}; "
            f"labels must be 0 to {num_classes - 1}"
        )
    return binary_255, num_classes or max(int(highest.max()) + 1, 2), notes


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
