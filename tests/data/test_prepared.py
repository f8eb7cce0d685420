"""The prepared copy every user-brought dataset becomes: a round trip keeps every array,
the split is by patient and stable, a failed write leaves nothing, crops fit the profile,
and a sweep finds a copy prepared into the cache by its name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rmdbench.cli import app
from rmdbench.data.base import SegmentationData
from rmdbench.data.prepared import (
    PreparedDataset,
    centre_fit,
    check_patient_split,
    load_prepared,
    patient_split,
    write_prepared,
)
from rmdbench.errors import UserError
from rmdbench.store import RESULT_FILE


def tiny_data(spatial=(6, 8), readers: bool = True) -> SegmentationData:
    n = 6
    rng = np.random.default_rng(0)
    patients = np.array([f"p{i // 2}" for i in range(n)])
    return SegmentationData(
        name="tiny",
        images=rng.random((n, 2, *spatial), dtype=np.float32),
        masks=rng.integers(0, 3, (n, *spatial), dtype=np.uint8),
        spacing=np.full((n, len(spatial)), 0.5, np.float32),
        patient_ids=patients,
        split=np.array(["train", "train", "val", "val", "test", "test"]),
        case_ids=np.array([f"c{i}" for i in range(n)]),
        num_classes=3,
        readers=rng.integers(0, 2, (n, 3, *spatial), dtype=np.uint8) if readers else None,
        reader_count=np.array([3, 2, 3, 3, 1, 3]) if readers else None,
    )


@pytest.mark.parametrize("spatial", [(6, 8), (4, 6, 8)], ids=["2d", "3d"])
def test_round_trip_keeps_every_array(tmp_path, spatial):
    data = tiny_data(spatial)
    prepared = PreparedDataset(data, ("bg", "a", "b"), ("t1", "t2"), attribution="test")
    write_prepared(prepared, tmp_path / "tiny", format_name="test", params={"k": 1}, source="x")
    back = load_prepared(tmp_path / "tiny")
    for field in ("images", "masks", "spacing", "readers", "reader_count"):
        assert np.array_equal(np.asarray(getattr(back, field)), getattr(data, field)), field
    for field in ("patient_ids", "split", "case_ids"):
        assert getattr(back, field).tolist() == getattr(data, field).tolist(), field
    assert back.num_classes == 3 and back.spatial_dims == len(spatial)
    meta = json.loads((tmp_path / "tiny" / "dataset.json").read_text())
    assert meta["class_names"] == ["bg", "a", "b"] and meta["params"] == {"k": 1}


def test_loaded_arrays_are_memory_mapped(tmp_path):
    write_prepared(
        PreparedDataset(tiny_data(), ("bg", "a", "b"), ("t1", "t2")),
        tmp_path / "tiny", format_name="test", params={}, source="x",
    )  # fmt: skip
    assert isinstance(load_prepared(tmp_path / "tiny").images, np.memmap)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_prepared(
            PreparedDataset(tiny_data(), ("bg", "a", "b"), ("t1", "t2")),
            tmp_path / "tiny", format_name="test", params={}, source="x",
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_an_existing_copy_is_kept_unless_overwrite(tmp_path):
    prepared = PreparedDataset(tiny_data(), ("bg", "a", "b"), ("t1", "t2"))
    write_prepared(prepared, tmp_path / "tiny", format_name="test", params={}, source="x")
    with pytest.raises(UserError, match="--overwrite"):
        write_prepared(prepared, tmp_path / "tiny", format_name="test", params={}, source="x")
    write_prepared(
        prepared, tmp_path / "tiny", format_name="test", params={}, source="y", overwrite=True
    )
    assert json.loads((tmp_path / "tiny" / "dataset.json").read_text())["source"] == "y"


def test_a_patient_in_two_splits_is_refused():
    with pytest.raises(UserError, match="patient 'p0' is in both the train and the test"):
        check_patient_split(np.array(["p0", "p0"]), np.array(["train", "test"]), "cases.csv")


def test_patient_split_is_70_10_20_by_patient_and_stable():
    patients = [f"p{i:02d}" for i in range(20)]
    split = patient_split(patients * 3, "seed")
    assert split == patient_split(list(reversed(patients)), "seed")
    counts = {name: list(split.values()).count(name) for name in ("train", "val", "test")}
    assert counts == {"train": 14, "val": 2, "test": 4}
    assert set(patient_split(["a", "b", "c"], "seed").values()) == {"train", "val", "test"}


def test_centre_fit_crops_and_pads_every_spatial_axis():
    array = np.arange(2 * 5 * 7).reshape(2, 5, 7)
    cropped = centre_fit(array, 3, leading=1)
    assert np.array_equal(cropped, array[:, 1:4, 2:5])
    padded = centre_fit(array, 9, leading=1)
    assert padded.shape == (2, 9, 9)
    assert np.array_equal(padded[:, 2:7, 1:8], array) and padded.sum() == array.sum()
    fitting = array[:, :4, :4]
    assert centre_fit(fitting, 4, leading=1) is fitting  # already the size: no copy


def test_sweep_finds_a_copy_prepared_into_the_cache_by_name(runner, tmp_path, one_thread):
    from tests.data.test_format_folder import make_folder

    make_folder(tmp_path / "mine", size=32)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    prepared = runner.invoke(app, ["data", "prepare", "folder", str(tmp_path / "mine"), *cache])
    assert prepared.exit_code == 0, prepared.output
    assert "--dataset folder" in prepared.output
    assert (tmp_path / "cache" / "prepared" / "folder" / "dataset.json").is_file()
    info = runner.invoke(app, ["data", "info", "folder", *cache])
    assert info.exit_code == 0 and "format folder" in info.output, info.output
    out = tmp_path / "runs"
    sweep = runner.invoke(
        app,
        ["sweep", "--dataset", "folder", "--profile", "tiny[epochs=1]", "--methods", "single",
         "--noise", "0", "--device", "cpu", "--out", str(out), *cache],
    )  # fmt: skip
    assert sweep.exit_code == 0, sweep.output
    assert len(list(out.glob(f"*/{RESULT_FILE}"))) == 1


def test_unprepared_format_name_says_how_to_prepare_it(runner, tmp_path):
    result = runner.invoke(
        app, ["sweep", "--dataset", "acdc", "--cache-dir", str(tmp_path), "--dry-run"]
    )
    assert result.exit_code == 2
    assert "rmdbench data prepare acdc SOURCE" in result.output


def test_list_and_formats_show_every_dataset_format(runner):
    for arguments in (["list", "dataset-formats"], ["data", "formats"]):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0, result.output
        for name in ("lidc-crops", "lidc-dicom", "acdc", "brats", "folder"):
            assert name in result.output, (arguments, name)


@pytest.mark.parametrize(("name", "message"), [("lidc-phantom", "built-in"), ("a/b", "letters")])
def test_a_prepared_copy_cannot_take_a_built_in_or_path_like_name(runner, tmp_path, name, message):
    from tests.data.test_format_folder import make_folder

    make_folder(tmp_path / "mine", size=32)
    result = runner.invoke(
        app,
        ["data", "prepare", "folder", str(tmp_path / "mine"), "--name", name,
         "--cache-dir", str(tmp_path / "cache")],
    )  # fmt: skip
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "cache" / "prepared").exists()


def test_re_preparing_a_copy_with_other_options_makes_new_runs(runner, tmp_path):
    """The run identity holds a hash of the prepared copy's description: a copy prepared
    again with other options is not mistaken for the one earlier runs trained on."""
    from rmdbench.profiles import get_profile
    from rmdbench.sweep import plan_sweep
    from tests.data.test_format_folder import make_folder

    make_folder(tmp_path / "mine", size=32)
    cache = tmp_path / "cache"

    def planned(options: str) -> str:
        result = runner.invoke(
            app,
            ["data", "prepare", f"folder[{options}]", str(tmp_path / "mine"), "--overwrite",
             "--cache-dir", str(cache)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        (spec,) = plan_sweep(
            datasets=["folder"], noise_models=["distortion"], noise_ratios=[0.4],
            methods=["single"], seeds=[0], profile=get_profile("tiny"), cache_dir=cache,
        )  # fmt: skip
        assert spec.dataset_fingerprint
        return spec.run_name

    assert planned("intensity=minmax") != planned("intensity=percentile")
    assert planned("intensity=minmax") == planned("intensity=minmax")


def test_prepare_reports_progress_only_through_the_track(tmp_path, capsys):
    """The data layer prints nothing: progress goes to the Track a caller passes."""
    from rmdbench.data.resolve import load_dataset, prepare_dataset
    from tests.data.test_format_folder import make_folder

    make_folder(tmp_path / "mine", size=32)
    seen = []

    def track(items, description="", total=None):
        seen.append(description)
        return items

    result = prepare_dataset("folder", tmp_path / "mine", out=tmp_path / "copy", progress=track)
    assert seen == ["reading image/mask pairs"]
    assert result.out == tmp_path / "copy" and not result.by_name and result.name == "folder"
    assert result.summary["cases"] == len(load_prepared(tmp_path / "copy"))
    for old_flag in (True, False):  # the bool of older callers still loads, silently
        assert len(load_dataset("toy-disks", 32, None, progress=old_flag)) > 0
    assert capsys.readouterr() == ("", "")


def test_a_bad_name_is_a_typed_error_with_its_facts():
    from rmdbench.data.prepared import BadDatasetName, check_dataset_name

    with pytest.raises(BadDatasetName) as caught:
        check_dataset_name("a/b")
    assert caught.value.name == "a/b" and "letters" in caught.value.problem
