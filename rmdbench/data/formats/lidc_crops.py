"""LIDC-IDRI 128×128 lesion crops: the Probabilistic U-Net pickle the RMD authors trained on.

Source: ``data_lidc.pickle`` from Kohl et al. 2018, "A Probabilistic U-Net for Segmentation of
Ambiguous Images" (distributed with github.com/stefanknegt/Probabilistic-Unet-Pytorch), or a
folder holding one or more such ``.pickle`` files (merged, as that repository's loader does).
The pickle is a dict from a slice key to one crop::

    {"LIDC-IDRI-0001_slice_12": {
        "image": float array [128, 128] in [0, 1],
        "masks": [4 arrays [128, 128] of 0/1, one per annotator; a reader who did not mark
                  the lesion on this slice has an empty mask],
        "series_uid": "1.3.6.1.4.1....",
        "pixel_spacing": 0.7 or (0.7, 0.7)   # optional; else the ``spacing`` option
    }, ...}

The patient is the key's prefix before ``_slice`` (else the series UID); the split is by
patient. The clean label is ``consensus`` (pixels marked by at least half of the annotators,
as for lidc-phantom) or ``last_nonempty`` (the last annotator mask that is not empty, what
the released RMD code trains on). Every annotator mask is kept for the ``reader`` noise model.

A folder source is read as that repository's loader reads its ``data`` folder, but only
``data_lidc.pickle`` (the name of the authors' download) is read unless the ``files`` option
lists the folder's pickles to read instead (``files=part1.pickle:part2.pickle``); other
``.pickle`` files are named in a note and left alone.

Security: a plain ``pickle.load`` runs whatever code the file names. The pickle is read with
``rmdbench.data.safe_pickle``, which rebuilds only numpy arrays, numpy scalars and dtypes,
strings, numbers and containers, and refuses any other global (``os.system``,
``builtins.eval``, a class of some package) with a one-line error before calling it. The
file's contents are not trusted either: every crop is checked (shape, range, 0/1 masks).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from rmdbench.data.base import SegmentationData
from rmdbench.data.formats.base import DatasetFormat, natural_key, progress_over, require_path
from rmdbench.data.prepared import PreparedDataset, split_by_patient
from rmdbench.data.safe_pickle import UntrustedPickle, safe_load
from rmdbench.errors import UserError
from rmdbench.progress import Track
from rmdbench.registry import DATASET_FORMATS

SPLIT_SEED = "lidc-crops/patient-split/v1"
SLICE_MARK = "_slice"
DOWNLOAD_NAME = "data_lidc.pickle"  # the file of the authors' download
FILES_SEPARATOR = ":"
RANGE_TOLERANCE = 1e-3  # images a rounding error outside [0, 1] are clipped, not refused
ATTRIBUTION = (
    "LIDC-IDRI (The Cancer Imaging Archive, CC BY 3.0; Armato SG III et al., Med Phys "
    "38:915-931 (2011); DOI 10.7937/K9/TCIA.2015.LO9QL9SX; with thanks to the National Cancer "
    "Institute and the Foundation for the National Institutes of Health). 128x128 crops and "
    "annotator masks as prepared by Kohl et al., 'A Probabilistic U-Net for Segmentation of "
    "Ambiguous Images', NeurIPS 2018."
)


@dataclass(frozen=True)
class LidcCropsParams:
    """clean_label: consensus (>= 50% of the annotators) or last_nonempty (the released RMD
    code's rule); spacing: mm per pixel for crops whose pickle entry has no pixel_spacing;
    files: for a folder source, the .pickle files in it to read, separated by ':' (empty:
    data_lidc.pickle)."""

    clean_label: Literal["consensus", "last_nonempty"] = "consensus"
    spacing: float = 0.7
    files: str = ""

    def __post_init__(self) -> None:
        if not self.spacing > 0:
            raise ValueError(f"spacing must be a positive number of mm, got {self.spacing}")
        for name in listed_files(self.files):
            if Path(name).name != name or name in (".", ".."):
                raise ValueError(f"files lists '{name}'; give file names in the folder, no paths")
            if not name.endswith(".pickle"):
                raise ValueError(f"files lists '{name}'; only .pickle files are read")


@DATASET_FORMATS.register("lidc-crops")
class LidcCrops(DatasetFormat):
    """The Probabilistic U-Net LIDC-IDRI pickle: 2D crops with four annotators each."""

    Params: ClassVar[type] = LidcCropsParams
    summary: ClassVar[str] = (
        "LIDC-IDRI 128x128 crops, Probabilistic U-Net pickle (data_lidc.pickle), 4 annotators; "
        "loads numpy arrays and plain data only, refuses a pickle that would run code"
    )

    def prepare(
        self, source: Path, params: LidcCropsParams, *, progress: Track | None = None
    ) -> PreparedDataset:
        source = require_path(source, "data_lidc.pickle file or its folder")
        files, ignored = pickle_files(source, listed_files(params.files))
        prepared = build_dataset(load_crops(files), params, progress=progress)
        if not ignored:
            return prepared
        note = (
            f"not read: {', '.join(path.name for path in ignored)} in {source} (only "
            f"{DOWNLOAD_NAME} is, unless the option files lists the pickles to read)"
        )
        return dataclasses.replace(prepared, notes=(*prepared.notes, note))


def listed_files(files: str) -> list[str]:
    """The names of the ``files`` option, in order, blanks dropped."""
    return [name.strip() for name in files.split(FILES_SEPARATOR) if name.strip()]


def pickle_files(source: Path, listed: list[str]) -> tuple[list[Path], list[Path]]:
    """The pickles to read and the folder's other ``.pickle`` files, left unread.

    A file source is read as given. A folder source holds the authors' ``data_lidc.pickle``;
    any other pickle there is read only when the ``files`` option names it (a pickle is
    read with the restricted unpickler either way, but a stray file is not data either)."""
    if source.is_file():
        if listed:
            raise UserError(
                f"{source} is a file; the option files names pickles inside a folder source"
            )
        return [source], []
    found = sorted(path for path in source.glob("*.pickle") if path.is_file())
    if listed:
        missing = [name for name in listed if not (source / name).is_file()]
        if missing:
            raise UserError(f"{source / missing[0]}: not found, but the option files lists it")
        chosen = [source / name for name in dict.fromkeys(listed)]
    elif (source / DOWNLOAD_NAME).is_file():
        chosen = [source / DOWNLOAD_NAME]
    elif found:
        names = [path.name for path in found]
        raise UserError(
            f"{source}: no {DOWNLOAD_NAME} in this folder, and its other pickles "
            f"({', '.join(names)}) are read only when listed: "
            f"'lidc-crops[files={FILES_SEPARATOR.join(names)}]'"
        )
    else:
        raise UserError(f"{source}: no .pickle file in this folder; pass {DOWNLOAD_NAME}")
    return chosen, [path for path in found if path not in chosen]


def load_crops(files: list[Path]) -> dict[str, tuple[Path, dict]]:
    """Slice key -> (the file it came from, its entry), over every pickle read."""
    crops: dict[str, tuple[Path, dict]] = {}
    for path in files:
        for key, value in load_pickle(path).items():
            name = str(key)
            if name in crops:
                raise UserError(f"{path}: slice '{name}' is also in {crops[name][0]}")
            crops[name] = (path, value)
    return crops


def load_pickle(path: Path) -> dict:
    """The pickle's dict of crops, read with the restricted unpickler: a file that names
    any global beyond numpy's array rebuilders is refused before it runs (UntrustedPickle)."""
    try:
        with path.open("rb") as handle:
            data = safe_load(handle, str(path))
    except UntrustedPickle:
        raise
    except OSError as error:
        raise UserError(f"{path}: cannot read the file ({error.strerror})") from None
    except Exception as error:  # noqa: BLE001 - unpickling a bad file can raise anything
        raise UserError(
            f"{path}: not a readable pickle ({type(error).__name__}: {error}); is the "
            "download complete? pass data_lidc.pickle"
        ) from None
    if not isinstance(data, dict):
        raise UserError(
            f"{path}: holds a {type(data).__name__}, not a dict of slices; pass data_lidc.pickle"
        )
    if not data:
        raise UserError(f"{path}: holds no slices (an empty dict)")
    return data


@dataclass(frozen=True)
class Crop:
    """One checked slice: image [H, W] float32, its annotators' masks [R, H, W] uint8."""

    image: np.ndarray
    readers: np.ndarray
    series_uid: str
    spacing: tuple[float, float] | None


def read_crop(key: str, value: object, path: Path) -> Crop:
    """The entry of one slice, or a one-line error naming the file and the slice."""
    where = f"{path}: slice '{key}'"
    if not isinstance(value, dict) or "image" not in value or "masks" not in value:
        raise UserError(f"{where} has no 'image' and 'masks' entries; pass data_lidc.pickle")
    image = _numeric(value["image"], f"{where} 'image'")
    if image.ndim != 2:
        raise UserError(f"{where}: the image has shape {image.shape}, not [H, W]")
    if not np.isfinite(image).all():
        raise UserError(f"{where}: the image holds NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise UserError(f"{where}: image values {low:.4g} to {high:.4g} lie outside [0, 1]")
    readers = _reader_masks(value["masks"], image.shape, where)
    return Crop(
        image=np.clip(image, 0, 1).astype(np.float32),
        readers=readers,
        series_uid=str(value.get("series_uid", "") or ""),
        spacing=_pixel_spacing(value.get("pixel_spacing"), where),
    )


def _numeric(value: object, where: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise UserError(f"{where} is not an array ({error})") from None
    if array.dtype.kind not in "biuf":
        raise UserError(f"{where} is not a numeric array (dtype {array.dtype})")
    return array


def _reader_masks(masks: object, shape: tuple[int, ...], where: str) -> np.ndarray:
    """[R, H, W] uint8 of 0/1: every annotator mask, each the image's shape."""
    if isinstance(masks, np.ndarray) and masks.ndim == 2:
        masks = [masks]
    if not isinstance(masks, list | tuple | np.ndarray) or len(masks) == 0:
        raise UserError(f"{where}: 'masks' must be a list of annotator masks, got {masks!r:.40}")
    arrays = [_numeric(mask, f"{where} mask {slot}") for slot, mask in enumerate(masks)]
    for slot, mask in enumerate(arrays):
        if mask.shape != shape:
            raise UserError(
                f"{where}: annotator mask {slot} has shape {mask.shape}, the image {shape}"
            )
        if not np.isin(mask, (0, 1)).all():
            values = np.unique(mask[~np.isin(mask, (0, 1))])[:3].tolist()
            raise UserError(f"{where}: annotator mask {slot} holds {values}, masks must be 0/1")
    return np.stack(arrays).astype(np.uint8)


def _pixel_spacing(value: object, where: str) -> tuple[float, float] | None:
    """A scalar or a (row, column) pair in mm; None when the entry has none."""
    if value is None:
        return None
    try:
        spacing = np.broadcast_to(np.asarray(value, dtype=float).ravel(), (2,))
    except (TypeError, ValueError):
        raise UserError(f"{where}: pixel_spacing {value!r:.40} is not one or two numbers") from None
    if not (np.isfinite(spacing).all() and (spacing > 0).all()):
        raise UserError(f"{where}: pixel_spacing {value!r:.40} is not positive")
    return float(spacing[0]), float(spacing[1])


def clean_label(readers: np.ndarray, rule: str) -> np.ndarray:
    """The training target from the annotators' masks [R, H, W]: the >= 50% consensus, or
    the last annotator mask that is not empty (all empty: an empty mask)."""
    if rule == "consensus":
        votes = readers.sum(axis=0, dtype=np.int32)
        return (2 * votes >= len(readers)).astype(np.uint8)
    for mask in readers[::-1]:
        if mask.any():
            return mask.astype(np.uint8)
    return np.zeros(readers.shape[1:], dtype=np.uint8)


def patient_of(key: str, series_uid: str) -> str | None:
    """'LIDC-IDRI-0001_slice_12' -> 'LIDC-IDRI-0001'; else the series UID; else None."""
    prefix, mark, _ = key.partition(SLICE_MARK)
    if mark and prefix:
        return prefix
    return series_uid or None


def build_dataset(
    crops: dict[str, tuple[Path, dict]], params: LidcCropsParams, *, progress: Track | None = None
) -> PreparedDataset:
    """Check every crop and stack them into arrays (filled in place: the real pickle is
    about 15,000 slices, so no second copy of the whole set is made)."""
    keys = sorted(crops, key=natural_key)
    first = read_crop(keys[0], crops[keys[0]][1], crops[keys[0]][0])
    shape, slots = first.image.shape, max(_mask_count(value) for _, value in crops.values())
    images = np.zeros((len(keys), 1, *shape), dtype=np.float32)
    readers = np.zeros((len(keys), slots, *shape), dtype=np.uint8)
    masks = np.zeros((len(keys), *shape), dtype=np.uint8)
    counts = np.zeros(len(keys), dtype=np.int16)
    spacing = np.full((len(keys), 2), params.spacing, dtype=np.float32)
    patients, defaulted, from_uid, alone = [], 0, 0, 0
    for row, key in enumerate(progress_over(keys, "reading LIDC crops", progress)):
        path, value = crops[key]
        crop = read_crop(key, value, path)
        if crop.image.shape != shape:
            raise UserError(
                f"{path}: slice '{key}' is {crop.image.shape}, slice '{keys[0]}' {shape}; "
                "all crops must share one size"
            )
        images[row, 0] = crop.image
        readers[row, : len(crop.readers)] = crop.readers
        counts[row] = len(crop.readers)
        masks[row] = clean_label(crop.readers, params.clean_label)
        if crop.spacing is None:
            defaulted += 1
        else:
            spacing[row] = crop.spacing
        patient = patient_of(key, crop.series_uid)
        from_uid += patient is not None and not key.partition(SLICE_MARK)[1]
        alone += patient is None
        patients.append(patient or key)
    patient_ids = np.array(patients)
    data = SegmentationData(
        name="lidc-crops",
        images=images,
        masks=masks,
        spacing=spacing,
        patient_ids=patient_ids,
        split=split_by_patient(patient_ids, SPLIT_SEED),
        case_ids=np.array(keys),
        num_classes=2,
        readers=readers,
        reader_count=counts,
    )
    return PreparedDataset(
        data=data,
        class_names=("background", "nodule"),
        channel_names=("CT",),
        attribution=ATTRIBUTION,
        notes=_notes(params, len(keys), defaulted, from_uid, alone),
    )


def _mask_count(value: object) -> int:
    masks = value.get("masks") if isinstance(value, dict) else None
    if isinstance(masks, np.ndarray) and masks.ndim == 2:
        return 1
    return len(masks) if isinstance(masks, list | tuple | np.ndarray) else 1


def _notes(
    params: LidcCropsParams, cases: int, defaulted: int, from_uid: int, alone: int
) -> tuple[str, ...]:
    rule = {
        "consensus": "the consensus (pixels marked by at least half of the annotators)",
        "last_nonempty": "the last non-empty annotator mask (the released RMD code's rule)",
    }[params.clean_label]
    notes = [f"clean label: {rule}; every annotator mask is kept as a reader mask"]
    if defaulted:
        notes.append(
            f"{defaulted} of {cases} crops have no pixel_spacing; they use "
            f"{params.spacing:g} mm (the format option spacing changes it)"
        )
    if from_uid:
        notes.append(
            f"{from_uid} slice keys have no '{SLICE_MARK}' patient prefix; their "
            "patient is the series UID"
        )
    if alone:
        notes.append(
            f"{alone} slices have neither a patient prefix nor a series UID; each is its own "
            "patient, so slices of one nodule may fall in different splits"
        )
    return tuple(notes)
