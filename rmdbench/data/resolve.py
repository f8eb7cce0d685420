"""From a dataset name in a sweep to its cases: a built-in dataset, a prepared copy in the
cache (``rmdbench data prepare acdc SOURCE`` makes ``acdc``), or a prepared folder's path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rmdbench.data.base import SegmentationData
from rmdbench.data.lidc_phantom import default_cache_dir
from rmdbench.data.prepared import is_prepared, load_prepared, prepared_root, read_meta
from rmdbench.errors import UserError
from rmdbench.plugins import load_builtins
from rmdbench.registry import DATASET_FORMATS, DATASETS


def prepared_path(name: str, cache_dir: Path | None) -> Path | None:
    """The prepared copy a name stands for, or None."""
    direct = Path(name).expanduser()
    if is_prepared(direct):
        return direct
    cached = prepared_root(default_cache_dir() if cache_dir is None else cache_dir) / name
    return cached if is_prepared(cached) else None


def check_dataset(name: str, cache_dir: Path | None) -> None:
    """Fail now, with the fix, when a sweep names a dataset it cannot load."""
    load_builtins()
    if name in DATASETS or prepared_path(name, cache_dir) is not None:
        return
    if name in DATASET_FORMATS:
        raise UserError(
            f"dataset '{name}' is not prepared yet; run: rmdbench data prepare {name} SOURCE"
        )
    raise UserError(
        f"unknown dataset '{name}': not built in ({', '.join(DATASETS.names())}), not prepared "
        "in the cache and not a prepared folder; see rmdbench data prepare --help"
    )


def load_dataset(
    name: str, crop_size: int, cache_dir: Path | None, *, progress: bool = False
) -> SegmentationData:
    """The cases of a dataset at the profile's crop size."""
    load_builtins()
    if name in DATASETS:
        return DATASETS.get(name)(crop_size=crop_size, cache_dir=cache_dir, progress=progress)
    path = prepared_path(name, cache_dir)
    if path is None:
        check_dataset(name, cache_dir)
    return load_prepared(path, crop_size)


def dataset_identity(name: str, cache_dir: Path | None) -> tuple[int, str]:
    """Its spatial dims (2 or 3) and a fingerprint, from one read of a prepared copy's
    dataset.json (no cases loaded): a short hash of its description (format, options,
    source, shape, cases), so a copy prepared again with other options makes new runs.
    Built-in datasets, looked up first as load_dataset does, are 2D with no fingerprint:
    rmdbench versions them itself."""
    path = None if name in DATASETS else prepared_path(name, cache_dir)
    if path is None:
        return 2, ""
    meta = read_meta(path)
    fingerprint = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:12]
    return int(meta["spatial_dims"]), fingerprint


def default_backbone(spatial_dims: int) -> str:
    """The paper's U-Net, in the dimensionality of the data."""
    return "unet3d" if spatial_dims == 3 else "unet2d"
