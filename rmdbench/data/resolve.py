"""From a dataset name in a sweep to its cases: a built-in dataset, a prepared copy in the
cache (``rmdbench data prepare acdc SOURCE`` makes ``acdc``), or a prepared folder's path;
and the two steps behind ``rmdbench data``: preparing a copy and describing one."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from rmdbench.data.base import SegmentationData, as_track
from rmdbench.data.formats.base import DatasetFormat
from rmdbench.data.lidc_phantom import CACHE_FIX, default_cache_dir
from rmdbench.data.prepared import (
    OUT_FIX,
    PreparedDataset,
    check_dataset_name,
    check_writable,
    is_prepared,
    load_prepared,
    prepared_root,
    read_meta,
    summarise,
    write_prepared,
)
from rmdbench.errors import UserError
from rmdbench.fingerprint import code_fingerprint
from rmdbench.params import build_params, params_dict, parse_component
from rmdbench.plugins import load_builtins
from rmdbench.progress import Track
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
    name: str, crop_size: int, cache_dir: Path | None, *, progress: Track | bool | None = None
) -> SegmentationData:
    """The cases of a dataset at the profile's crop size. ``progress`` (a
    ``rmdbench.progress.Track``) shows a built-in dataset's first build; None (or a bool, the
    former flag) shows nothing."""
    load_builtins()
    if name in DATASETS:
        factory = DATASETS.get(name)
        return factory(crop_size=crop_size, cache_dir=cache_dir, progress=as_track(progress))
    path = prepared_path(name, cache_dir)
    if path is None:
        check_dataset(name, cache_dir)
    return load_prepared(path, crop_size)


def prepared_labels(name: str, cache_dir: Path | None) -> dict[str, bool] | None:
    """Whether a prepared copy has per-reader masks and the user's own noisy labels, from
    its dataset.json (no cases loaded), so a sweep refuses a noise model that needs them
    before it writes anything; None for a registered dataset (known once it loads)."""
    path = None if name in DATASETS else prepared_path(name, cache_dir)
    if path is None:
        return None
    meta = read_meta(path)
    return {"readers": bool(meta.get("readers")), "given": bool(meta.get("given_masks"))}


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


@dataclasses.dataclass(frozen=True)
class PrepareResult:
    """What ``prepare_dataset`` wrote: the copy, its name and folder, and its summary."""

    prepared: PreparedDataset
    name: str
    out: Path
    by_name: bool  # in the cache's prepared folder, so the name alone finds it
    summary: dict


def prepare_dataset(
    format_text: str,
    source: Path,
    *,
    out: Path | None = None,
    name: str | None = None,
    cache_dir: Path | None = None,
    overwrite: bool = False,
    progress: Track | None = None,
) -> PrepareResult:
    """Read ``source`` with the format ``format_text`` (``name[key=value,...]``) and write
    the prepared copy called ``name`` (default: the format's name) to ``out`` (default:
    ``<cache>/prepared/<name>``). Everything that can be checked before the slow read of the
    source (format, options, name, an existing copy, a folder that cannot be written) is
    checked first."""
    load_builtins()
    format_name, overrides = parse_component(format_text)
    format_class = DATASET_FORMATS.get(format_name)
    params = build_params(format_class.Params, overrides, f"format '{format_name}'")
    target_name = name or format_name
    check_dataset_name(target_name)
    default_folder = prepared_root(default_cache_dir() if cache_dir is None else cache_dir)
    fix = CACHE_FIX + ", or pass --out" if out is None else OUT_FIX
    out = default_folder / target_name if out is None else Path(out)
    check_writable(out, overwrite, fix)
    prepared = format_class().prepare(source, params, progress=as_track(progress))
    prepared = dataclasses.replace(
        prepared, data=dataclasses.replace(prepared.data, name=target_name)
    )
    write_prepared(
        prepared,
        out,
        format_name=format_name,
        params=params_dict(params),
        source=str(Path(source).resolve()),
        overwrite=overwrite,
        code=code_fingerprint(format_class, DatasetFormat),
    )
    return PrepareResult(
        prepared=prepared,
        name=target_name,
        out=out,
        by_name=out.parent == default_folder,
        summary=summarise(prepared.data),
    )


def describe_prepared(name: str, cache_dir: Path | None) -> tuple[Path, dict, dict]:
    """Where a prepared copy is, its dataset.json and its summary (``summarise``)."""
    path = prepared_path(name, cache_dir)
    if path is None:
        check_dataset(name, cache_dir)
        raise UserError(f"'{name}' is built in, not prepared; see rmdbench list datasets")
    meta = read_meta(path)
    return path, meta, summarise(load_prepared(path))
