"""lidc-crops: a tiny Probabilistic U-Net pickle built on the fly (6 patients x 2 slices,
hand-made annotator masks), prepared through the CLI, checked value by value, then swept;
every malformed pickle is a one-line error naming the file and leaves nothing behind."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from rmdbench.data.prepared import load_prepared
from tests.helpers.prepare import assert_refused, finished_records, run_prepare, tiny_sweep

SIZE = 36
PATIENTS = 6
SLICES = 2
HAND_KEY = "LIDC-IDRI-0003_slice_1"  # the slice with the hand-made reader masks


def block(top: int, left: int, height: int = 8, width: int = 8) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    mask[top : top + height, left : left + width] = 1
    return mask


def hand_readers() -> list[np.ndarray]:
    """Readers 0 and 1 mark block A, reader 2 block B, reader 3 nothing: the consensus
    (2 of 4 votes) is A, the last non-empty mask is B."""
    a, b = block(10, 10), block(20, 18)
    return [a, a.copy(), b, np.zeros_like(a)]


def fake_crops(seed: int = 0) -> dict:
    """The pickle's structure: key -> image, four masks, series_uid, pixel_spacing on the
    odd patients only (the others take the spacing option)."""
    rng = np.random.default_rng(seed)
    crops = {}
    for patient in range(1, PATIENTS + 1):
        for slice_index in range(SLICES):
            key = f"LIDC-IDRI-{patient:04d}_slice_{slice_index}"
            top = int(rng.integers(4, 20))
            masks = [block(top + shift, 12, 6 + shift, 9) for shift in range(3)]
            masks.append(np.zeros((SIZE, SIZE), dtype=np.uint8) if patient % 3 else block(top, 12))
            entry = {
                "image": rng.random((SIZE, SIZE)),
                "masks": hand_readers() if key == HAND_KEY else masks,
                "series_uid": f"1.2.840.{patient}",
            }
            if patient % 2:  # a number, or a (row, column) pair
                entry["pixel_spacing"] = (0.6, 0.6) if patient == 5 else 0.6
            crops[key] = entry
    return crops


def write_pickle(path: Path, data: object) -> Path:
    path.write_bytes(pickle.dumps(data))
    return path


def prepare(runner, tmp_path: Path, source: Path, name: str = "lidc-crops", out: str = "lidc"):
    target = tmp_path / "prepared" / out
    cache = ["--cache-dir", str(tmp_path / "cache")]
    return run_prepare(runner, name, source, target, *cache), target


@pytest.fixture
def source(tmp_path) -> Path:
    return write_pickle(tmp_path / "data_lidc.pickle", fake_crops())


def test_prepare_keeps_images_readers_and_takes_the_consensus(runner, tmp_path, source):
    result, target = prepare(runner, tmp_path, source)
    assert result.exit_code == 0, result.output
    data = load_prepared(target)
    crops = fake_crops()
    keys = [f"LIDC-IDRI-{p:04d}_slice_{s}" for p in range(1, PATIENTS + 1) for s in range(SLICES)]
    assert data.case_ids.tolist() == keys
    assert data.images.shape == (12, 1, SIZE, SIZE) and data.images.dtype == np.float32
    assert data.readers.shape == (12, 4, SIZE, SIZE) and data.reader_count.tolist() == [4] * 12
    for row, key in enumerate(keys):
        np.testing.assert_allclose(data.images[row, 0], crops[key]["image"], atol=1e-7)
        np.testing.assert_array_equal(data.readers[row], np.stack(crops[key]["masks"]))
        votes = np.stack(crops[key]["masks"]).sum(axis=0)
        np.testing.assert_array_equal(data.masks[row], (votes >= 2).astype(np.uint8))
    np.testing.assert_array_equal(data.masks[keys.index(HAND_KEY)], block(10, 10))
    assert data.num_classes == 2


def test_spacing_patients_and_split(runner, tmp_path, source):
    result, target = prepare(runner, tmp_path, source)
    assert result.exit_code == 0, result.output
    data = load_prepared(target)
    patient_numbers = [int(pid.split("-")[-1]) for pid in data.patient_ids]
    assert data.patient_ids[0] == "LIDC-IDRI-0001"
    expected = [[0.6, 0.6] if number % 2 else [0.7, 0.7] for number in patient_numbers]
    np.testing.assert_allclose(data.spacing, expected, rtol=1e-6)
    split_of = {}
    for patient, split in zip(data.patient_ids, data.split, strict=True):
        assert split_of.setdefault(patient, split) == split
    assert sorted(split_of.values()) == sorted(["train"] * 4 + ["val", "test"])
    meta = json.loads((target / "dataset.json").read_text())
    assert meta["format"] == "lidc-crops" and meta["readers"] == 4
    assert meta["params"] == {"clean_label": "consensus", "spacing": 0.7, "files": ""}
    assert "Armato" in meta["attribution"] and "Kohl" in meta["attribution"]


def test_prepare_prints_the_summary_and_notes(runner, tmp_path, source):
    result, target = prepare(runner, tmp_path, source)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "prepared lidc-crops" in output
    assert "label values [0, 1]" in output
    assert "4 reader masks per case" in output
    assert "6 of 12 crops have no pixel_spacing" in output
    assert "clean label: the consensus" in output
    assert "rmdbench sweep --dataset" in output


def test_last_nonempty_and_the_spacing_option(runner, tmp_path, source):
    name = "lidc-crops[clean_label=last_nonempty,spacing=0.5]"
    result, target = prepare(runner, tmp_path, source, name)
    assert result.exit_code == 0, result.output
    data = load_prepared(target)
    crops = fake_crops()
    row = data.case_ids.tolist().index(HAND_KEY)
    np.testing.assert_array_equal(data.masks[row], block(20, 18))
    for row, key in enumerate(data.case_ids.tolist()):
        nonempty = [mask for mask in crops[key]["masks"] if mask.any()]
        np.testing.assert_array_equal(data.masks[row], nonempty[-1])
    assert {tuple(s) for s in data.spacing.astype(float).round(3).tolist()} == {
        (0.6, 0.6),
        (0.5, 0.5),
    }
    assert "last non-empty" in " ".join(result.output.split())


def test_a_folder_of_listed_pickles_is_merged_and_series_uid_names_the_patient(runner, tmp_path):
    folder = tmp_path / "pickles"
    folder.mkdir()
    crops = fake_crops()
    keys = list(crops)
    write_pickle(folder / "part1.pickle", {key: crops[key] for key in keys[:6]})
    renamed = {f"crop{index}": crops[key] for index, key in enumerate(keys[6:])}
    write_pickle(folder / "part2.pickle", renamed)
    result, target = prepare(
        runner, tmp_path, folder, "lidc-crops[files=part1.pickle:part2.pickle]"
    )
    assert result.exit_code == 0, result.output
    data = load_prepared(target)
    assert len(data) == 12
    patients = dict(zip(data.case_ids.tolist(), data.patient_ids.tolist(), strict=True))
    assert patients["crop0"] == crops[keys[6]]["series_uid"]
    assert patients[keys[0]] == "LIDC-IDRI-0001"
    assert "patient is the series UID" in " ".join(result.output.split())


def test_sweeps_on_the_prepared_crops_with_reader_noise(runner, tmp_path, source, one_thread):
    result, target = prepare(runner, tmp_path, source)
    assert result.exit_code == 0, result.output
    clean, out = tiny_sweep(runner, tmp_path, target, "--methods", "single", "--noise", "0")
    assert clean.exit_code == 0, clean.output
    noisy, _ = tiny_sweep(
        runner, tmp_path, target, "--methods", "single", "--noise-model", "reader", "--noise", "0.5"
    )
    assert noisy.exit_code == 0, noisy.output
    records = finished_records(out)
    assert len(records) == 2 and all(record["status"] == "done" for record in records)
    assert {record["spec"]["noise_model"] for record in records} == {"distortion", "reader"}


def _entry(**changes) -> dict:
    entry = dict(fake_crops()["LIDC-IDRI-0001_slice_0"])
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not None}


def _bad_sources() -> dict:
    good = fake_crops()
    other_size = {"image": np.zeros((20, 20)), "masks": [np.zeros((20, 20), np.uint8)] * 4}
    return {
        "not a pickle": (b"this is not a pickle", "not a readable pickle"),
        "truncated": (pickle.dumps(good)[:5000], "not a readable pickle"),
        "not a dict": (pickle.dumps([1, 2, 3]), "not a dict of slices"),
        "empty dict": (pickle.dumps({}), "holds no slices"),
        "no image": (pickle.dumps({"p_slice_0": _entry(image=None)}), "no 'image' and 'masks'"),
        "no masks": (pickle.dumps({"p_slice_0": _entry(masks=None)}), "no 'image' and 'masks'"),
        "image not 2D": (
            pickle.dumps({"p_slice_0": _entry(image=np.zeros((2, SIZE, SIZE)))}),
            "not [H, W]",
        ),
        "mask shape": (
            pickle.dumps({"p_slice_0": _entry(masks=[np.zeros((SIZE, 30), np.uint8)] * 4)}),
            "annotator mask 0 has shape",
        ),
        "mask values": (
            pickle.dumps({"p_slice_0": _entry(masks=[np.full((SIZE, SIZE), 2, np.uint8)] * 4)}),
            "masks must be 0/1",
        ),
        "image range": (
            pickle.dumps({"p_slice_0": _entry(image=np.full((SIZE, SIZE), 255.0))}),
            "outside [0, 1]",
        ),
        "sizes differ": (
            pickle.dumps({"a_slice_0": _entry(), "b_slice_0": other_size}),
            "share one size",
        ),
    }


@pytest.mark.parametrize("case", list(_bad_sources()))
def test_bad_pickle_is_one_line_naming_the_file(runner, tmp_path, case):
    content, message = _bad_sources()[case]
    source = tmp_path / "data_lidc.pickle"
    source.write_bytes(content)
    result, target = prepare(runner, tmp_path, source)
    assert_refused(result, target, message, str(source))


def test_missing_pickle_is_one_line(runner, tmp_path):
    source = tmp_path / "nowhere" / "data_lidc.pickle"
    result, target = prepare(runner, tmp_path, source)
    assert_refused(result, target, "does not exist", str(source))


def test_folder_without_pickles_is_one_line(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    result, target = prepare(runner, tmp_path, tmp_path / "empty")
    assert_refused(result, target, "no .pickle file", str(tmp_path / "empty"))


def test_a_folder_reads_data_lidc_pickle_and_notes_the_other_pickles(runner, tmp_path):
    folder = tmp_path / "download"
    folder.mkdir()
    write_pickle(folder / "data_lidc.pickle", fake_crops())
    write_pickle(folder / "stray.pickle", {"x_slice_0": "never read"})
    result, target = prepare(runner, tmp_path, folder)
    assert result.exit_code == 0, result.output
    assert len(load_prepared(target)) == PATIENTS * SLICES
    assert "not read: stray.pickle" in " ".join(result.output.split())


def test_a_folder_of_unlisted_pickles_is_refused_naming_them(runner, tmp_path):
    folder = tmp_path / "pickles"
    folder.mkdir()
    write_pickle(folder / "part1.pickle", fake_crops())
    write_pickle(folder / "part2.pickle", fake_crops(1))
    result, target = prepare(runner, tmp_path, folder)
    assert_refused(
        result, target, str(folder), "no data_lidc.pickle", "part1.pickle, part2.pickle",
        "files=part1.pickle:part2.pickle",
    )  # fmt: skip


def test_listed_pickles_must_be_plain_names_in_the_folder(runner, tmp_path, source):
    folder = source.parent
    result, target = prepare(runner, tmp_path, folder, "lidc-crops[files=missing.pickle]")
    assert_refused(result, target, str(folder / "missing.pickle"), "option files lists it")
    result, target = prepare(runner, tmp_path, folder, "lidc-crops[files=../data_lidc.pickle]")
    assert_refused(result, target, "no paths")
    result, target = prepare(runner, tmp_path, source, "lidc-crops[files=data_lidc.pickle]")
    assert_refused(result, target, str(source), "inside a folder source")


def test_bad_option_is_one_line(runner, tmp_path, source):
    result, target = prepare(runner, tmp_path, source, "lidc-crops[spacing=-1]")
    assert_refused(result, target, "spacing must be a positive number")
    result, target = prepare(runner, tmp_path, source, "lidc-crops[clean_label=union]")
    assert_refused(result, target, "must be one of consensus, last_nonempty")
