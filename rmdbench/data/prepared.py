"""The prepared copy of a dataset a user brought: what ``rmdbench data prepare`` writes and
every sweep reads.

A prepared copy is a folder of memory-mappable ``.npy`` arrays plus a readable description:

    dataset.json   name, format, spatial dims, classes, channels, readers, source, attribution
    cases.csv      case_id, patient_id, split, spacing_0.. (mm per spatial axis)
    images.npy     float32 [N, C, *S] in [0, 1]
    masks.npy      uint8 [N, *S]
    readers.npy    uint8 [N, R, *S] and reader_count.npy int16 [N] (only with readers)
    given_masks.npy  uint8 [N, *S] and given_present.npy bool [N]: the user's own noisy
                   training labels (only with them; dataset.json's given_masks counts them)

It is written into a hidden staging folder ``.<name>.partial-<host>-<pid>`` and renamed
into place, so a failed prepare leaves nothing that looks like a dataset; the staging folder
of a prepare that was killed (its process gone) is removed by the next prepare into the
same folder on that host.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rmdbench.data.base import SPLITS, SegmentationData
from rmdbench.errors import UserError
from rmdbench.outputs import OutputError, check_writable_dir
from rmdbench.registry import DATASETS
from rmdbench.seeding import generator

FORMAT_VERSION = 1
META_FILE = "dataset.json"
CASES_FILE = "cases.csv"
GIVEN_FILE = "given_masks.npy"
GIVEN_PRESENT_FILE = "given_present.npy"
PREPARED_FOLDER = "prepared"
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
OUT_FIX = "choose another output folder (--out)"
#: a staging folder: ``.<name>.partial-<host>-<pid>`` (older rmdbench: ``.<name>.partial-<pid>``)
STAGING_PATTERN = re.compile(r"\.(?P<name>.+)\.partial-(?:(?P<host>.+)-)?(?P<pid>[0-9]+)")


class CopyExists(UserError):
    """A prepared copy is already where one would be written (replaced only when asked)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        super().__init__(f"{path} already exists; pass --overwrite to replace it")


class BadDatasetName(UserError):
    """A name sweeps could not find a prepared copy by (the command line names its option).

    ``problem`` follows the quoted name: ``": use letters, ..."`` or ``" is a built-in ..."``.
    """

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"dataset name '{name}'{problem}")


@dataclass(frozen=True)
class PreparedDataset:
    """What a format's prepare step hands back: the cases and how to describe them."""

    data: SegmentationData
    class_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    attribution: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


def patient_split(patient_ids: Iterable[str], seed: str) -> dict[str, str]:
    """Patient -> split: 70/10/20 % of the patients, shuffled by a seed derived from ``seed``
    (a name, so the split is the same on every machine)."""
    patients = sorted(set(patient_ids))
    order = generator(seed).permutation(len(patients))
    n_train = round(SPLIT_FRACTIONS["train"] * len(patients))
    n_val = round(SPLIT_FRACTIONS["val"] * len(patients))
    if len(patients) >= 3:  # every split gets a patient when there are enough of them
        n_train = min(max(n_train, 1), len(patients) - 2)
        n_val = max(n_val, 1)
    names = ["train"] * n_train + ["val"] * n_val + ["test"] * (len(patients) - n_train - n_val)
    return {patients[i]: name for i, name in zip(order, names, strict=True)}


def split_by_patient(patient_ids: np.ndarray, seed: str) -> np.ndarray:
    """The split of every case, from :func:`patient_split`."""
    split_of = patient_split(patient_ids.tolist(), seed)
    return np.array([split_of[patient] for patient in patient_ids.tolist()])


def check_patient_split(patient_ids: np.ndarray, split: np.ndarray, where: str) -> None:
    """A patient whose cases sit in two splits leaks test data into training."""
    unknown = sorted(set(split.tolist()) - set(SPLITS))
    if unknown:
        raise UserError(f"{where}: unknown split '{unknown[0]}'; use one of {', '.join(SPLITS)}")
    seen: dict[str, str] = {}
    for patient, name in zip(patient_ids.tolist(), split.tolist(), strict=True):
        if seen.setdefault(patient, name) != name:
            raise UserError(
                f"{where}: patient '{patient}' is in both the {seen[patient]} and the {name} "
                "split; give all of a patient's cases one split"
            )


def prepared_root(cache_dir: Path) -> Path:
    """Where ``rmdbench data prepare`` writes by default: ``<cache>/prepared/<name>``."""
    return Path(cache_dir) / PREPARED_FOLDER


def check_writable(out: Path, overwrite: bool, fix: str = OUT_FIX) -> None:
    """Everything about ``out`` that would stop the write, checked before the slow read:
    an existing copy is replaced only when asked, and never a file or a folder that is not
    a prepared copy (``--overwrite`` must not delete a user's folder, or the source);
    the folder it goes into must take new files. ``fix``: what to pass instead."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"{out} is a file, not a prepared copy; {fix}", out, "prepared copy", "a file"
        )
    if out.exists():
        if not overwrite:
            raise CopyExists(out)
        if not is_prepared(out) and not _empty_folder(out):
            raise OutputError(
                f"{out} is a folder that is not a prepared copy (no {META_FILE}); "
                f"--overwrite replaces only a prepared copy; {fix}",
                out,
                "prepared copy",
                "not a prepared copy",
            )
    check_writable_dir(out.parent, f"prepared copy {out}", fix)


def _empty_folder(path: Path) -> bool:
    """Whether a folder holds nothing (one that cannot be listed counts as not empty)."""
    try:
        return not os.listdir(path)
    except OSError:
        return False


def this_host() -> str:
    """The host name as it may appear in a staging folder's name."""
    return re.sub(r"[^A-Za-z0-9.\-]", "_", socket.gethostname()) or "host"


def staging_folder(out: Path) -> Path:
    """Where ``out`` is written before it is renamed into place: named by host and process,
    so a later prepare can tell a killed writer's folder from a live one."""
    return out.parent / f".{out.name}.partial-{this_host()}-{os.getpid()}"


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a process on this host (when it cannot be told, alive: a staging
    folder is removed only when its writer is surely gone)."""
    if os.name != "posix" or pid <= 0:
        return True  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # none has it (or no pid is that large)
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_staging(folder: Path) -> list[Path]:
    """Remove the staging folders in ``folder`` that a killed prepare left behind: written
    on this host by a process that no longer runs (a name without a host is from an older
    rmdbench, taken as this host's). A live writer's folder, or another host's, is kept.
    Returns what was removed."""
    if not Path(folder).is_dir():
        return []
    host, removed = this_host(), []
    for path in sorted(Path(folder).iterdir()):
        match = STAGING_PATTERN.fullmatch(path.name)
        if match is None or path.is_symlink() or not path.is_dir():
            continue
        if match["host"] not in (None, host) or process_alive(int(match["pid"])):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def check_dataset_name(name: str) -> None:
    """A prepared copy's name is how sweeps find it: a plain name, not a built-in one."""
    from rmdbench.plugins import load_builtins  # it imports this module's package

    load_builtins()
    if not re.fullmatch(NAME_PATTERN, name):
        raise BadDatasetName(name, ": use letters, digits, '-', '_' and '.' only")
    if name in DATASETS:
        raise BadDatasetName(name, " is a built-in dataset; choose another name")


def write_prepared(
    prepared: PreparedDataset,
    out: Path,
    *,
    format_name: str,
    params: dict,
    source: str,
    overwrite: bool = False,
    code: str = "",
) -> Path:
    """Write the prepared copy to ``out`` atomically (staging folder, then rename).
    ``code``: the fingerprint of the format's source (``rmdbench.fingerprint``), kept in
    dataset.json so that a copy prepared again by changed code makes new runs."""
    data = prepared.data
    check_patient_split(data.patient_ids, data.split, str(source))
    out = Path(out)
    check_writable(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out.parent)
    staging = staging_folder(out)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        np.save(staging / "images.npy", np.ascontiguousarray(data.images, dtype=np.float32))
        np.save(staging / "masks.npy", np.ascontiguousarray(data.masks, dtype=np.uint8))
        if data.readers is not None:
            np.save(staging / "readers.npy", np.ascontiguousarray(data.readers, dtype=np.uint8))
            counts = data.reader_count
            if counts is None:
                counts = np.full(len(data), data.readers.shape[1])
            np.save(staging / "reader_count.npy", np.asarray(counts, dtype=np.int16))
        if data.given_masks is not None:
            np.save(staging / GIVEN_FILE, np.ascontiguousarray(data.given_masks, dtype=np.uint8))
            np.save(staging / GIVEN_PRESENT_FILE, np.asarray(data.given_present, dtype=bool))
        _write_cases(staging / CASES_FILE, data)
        meta = {
            "format_version": FORMAT_VERSION,
            "name": data.name,
            "format": format_name,
            "params": params,
            "source": str(source),
            "spatial_dims": data.spatial_dims,
            "shape": list(data.images.shape[2:]),
            "num_classes": data.num_classes,
            "class_names": list(prepared.class_names),
            "channel_names": list(prepared.channel_names),
            "readers": 0 if data.readers is None else int(data.readers.shape[1]),
            "cases": len(data),
            "attribution": prepared.attribution,
            "notes": list(prepared.notes),
        }
        if code:
            meta["code"] = code
        if data.given_masks is not None:  # only then: other copies keep their fingerprints
            meta["given_masks"] = int(np.count_nonzero(data.given_present))
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        replaced = out.parent / f".{out.name}.replaced-{os.getpid()}"
        if out.exists():  # set the old copy aside first: a crash never loses both
            os.replace(out, replaced)
        os.replace(staging, out)
        shutil.rmtree(replaced, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _write_cases(path: Path, data: SegmentationData) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        axes = [f"spacing_{axis}" for axis in range(data.spatial_dims)]
        writer.writerow(["case_id", "patient_id", "split", *axes])
        for row in range(len(data)):
            spacing = [f"{value:.6g}" for value in np.asarray(data.spacing[row], dtype=float)]
            writer.writerow([data.case_ids[row], data.patient_ids[row], data.split[row], *spacing])


def is_prepared(path: Path) -> bool:
    return (Path(path) / META_FILE).is_file()


def read_meta(path: Path) -> dict:
    try:
        meta = json.loads((Path(path) / META_FILE).read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {Path(path) / META_FILE}: {error}") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{path} was prepared by another rmdbench version (format "
            f"{meta.get('format_version')}, this one reads {FORMAT_VERSION}); prepare it again"
        )
    return meta


def load_prepared(path: Path, crop_size: int | None = None) -> SegmentationData:
    """The prepared copy, memory-mapped; with ``crop_size``, every spatial axis is centre
    cropped (or zero padded) to that size, the profile's crop."""
    path = Path(path)
    meta = read_meta(path)
    try:
        axes = [f"spacing_{axis}" for axis in range(int(meta["spatial_dims"]))]
        images = np.load(path / "images.npy", mmap_mode="r")
        masks = np.load(path / "masks.npy", mmap_mode="r")
        readers = reader_count = None
        if meta["readers"]:
            readers = np.load(path / "readers.npy", mmap_mode="r")
            reader_count = np.load(path / "reader_count.npy").astype(np.int64)
        given = given_present = None
        if meta.get("given_masks"):
            given = np.load(path / GIVEN_FILE, mmap_mode="r")
            given_present = np.load(path / GIVEN_PRESENT_FILE).astype(bool)
        with (path / CASES_FILE).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"prepared dataset {path} is damaged ({error}); prepare it again") from None
    if crop_size is not None:
        images = centre_fit(images, crop_size, leading=2)
        masks = centre_fit(masks, crop_size, leading=1)
        readers = None if readers is None else centre_fit(readers, crop_size, leading=2)
        given = None if given is None else centre_fit(given, crop_size, leading=1)
    try:
        return SegmentationData(
            name=meta["name"],
            images=images,
            masks=masks,
            spacing=np.array([[float(row[axis]) for axis in axes] for row in rows], np.float32),
            patient_ids=np.array([row["patient_id"] for row in rows]),
            split=np.array([row["split"] for row in rows]),
            case_ids=np.array([row["case_id"] for row in rows]),
            num_classes=int(meta["num_classes"]),
            readers=readers,
            reader_count=reader_count,
            given_masks=given,
            given_present=given_present,
        )
    except (KeyError, ValueError) as error:
        raise UserError(f"prepared dataset {path} is damaged ({error}); prepare it again") from None


def centre_fit(array: np.ndarray, size: int, *, leading: int) -> np.ndarray:
    """Centre crop or zero pad every axis after the first ``leading`` ones to ``size``;
    the array itself (no copy) when it already has that size."""
    spatial = array.shape[leading:]
    if all(extent == size for extent in spatial):
        return array
    crops = tuple(
        slice(max(0, (e - size) // 2), max(0, (e - size) // 2) + min(e, size)) for e in spatial
    )
    cropped = np.asarray(array[(slice(None),) * leading + crops])
    pads = [(0, 0)] * leading + [
        ((size - c) // 2, size - c - (size - c) // 2) for c in cropped.shape[leading:]
    ]
    return (
        np.pad(cropped, pads) if any(p != (0, 0) for p in pads) else np.ascontiguousarray(cropped)
    )


def summarise(data: SegmentationData) -> dict:
    """What prepare reports: cases and patients per split, shape, spacing, label values and
    empty masks."""
    spacing = np.asarray(data.spacing, dtype=float)
    masks = np.asarray(data.masks)
    flat = masks.reshape(len(masks), -1)
    return {
        "cases": len(data),
        "splits": {
            name: {
                "cases": int((data.split == name).sum()),
                "patients": len(set(data.patient_ids[data.split == name].tolist())),
            }
            for name in SPLITS
        },
        "shape": list(data.images.shape[1:]),
        "spacing_min": spacing.min(axis=0).round(4).tolist(),
        "spacing_max": spacing.max(axis=0).round(4).tolist(),
        "label_values": sorted(int(v) for v in np.unique(masks)),
        "empty_masks": int((flat.max(axis=1) == 0).sum()),
        "readers": 0 if data.readers is None else int(data.readers.shape[1]),
    }
