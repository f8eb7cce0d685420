"""The ``brats`` format on a tiny fake BraTS 2019 copy written on the fly (never real data).

Five subjects (three under HGG/, one under LGG/ without enhancing tumour, one directly under
SOURCE) of 24 x 24 x 16 voxels at 1 mm. The brain is the block i, j in 4..20, k in 4..12
(16 x 16 x 8 mm), so at size 32 it is resampled by exactly 2 (0.5 mm): every voxel becomes a
2 x 2 x 2 block and the expected masks can be written down. Each modality has its own
intensity ramp (flair rises along i, t1 along j, t1ce along k, t2 falls along i), which
shows both the channel order and the axis order.
"""

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rmdbench.data.prepared import load_prepared, patient_split
from tests.helpers.prepare import assert_refused, read_cases, run_prepare

SHAPE = (24, 24, 16)  # (i, j, k)
BRAIN = (slice(4, 20), slice(4, 20), slice(4, 12))
SUBJECTS = {f"BraTS19_TST_{n:03d}_1": grade for n, grade in enumerate("HHHL.", start=1)}
NAMES = sorted(SUBJECTS)
TASK_LABELS = {"whole_tumour": (1, 2, 4), "tumour_core": (1, 4), "enhancing_tumour": (4,)}


def write_nifti(path: Path, array: np.ndarray) -> None:
    nib.save(nib.Nifti1Image(array, np.eye(4)), str(path))


def tumour(enhancing: bool) -> np.ndarray:
    """Oedema (2) whose area peaks at k = 8, necrosis (1) inside, enhancing (4) inside that."""
    labels = np.zeros(SHAPE, np.uint8)
    for k, half in ((6, 2), (7, 3), (8, 4), (9, 3)):
        labels[12 - half : 12 + half, 8:16, k] = 2
    labels[10:14, 10:14, 7:9] = 1
    if enhancing:
        labels[11:13, 11:13, 7:9] = 4
    return labels


def modalities(seed: int) -> dict[str, np.ndarray]:
    i, j, k = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in SHAPE), indexing="ij")
    ramps = {"flair": 100 + i, "t1": 200 + 3 * j, "t1ce": 50 + 5 * k, "t2": 300 - 2 * i}
    brain = np.zeros(SHAPE, bool)
    brain[BRAIN] = True
    return {
        name: np.where(brain, ramp * (1 + seed), 0).astype(np.float32)
        for name, ramp in ramps.items()
    }


def subject_folder(root: Path, name: str) -> Path:
    grade = SUBJECTS[name]
    return root / name if grade == "." else root / f"{grade}GG" / name


def write_subject(root: Path, index: int, name: str) -> None:
    folder = subject_folder(root, name)
    folder.mkdir(parents=True)
    for modality, array in modalities(index).items():
        write_nifti(folder / f"{name}_{modality}.nii.gz", array)
    write_nifti(folder / f"{name}_seg.nii.gz", tumour(enhancing=SUBJECTS[name] != "L"))


def make_brats(root: Path) -> Path:
    for index, name in enumerate(NAMES):
        write_subject(root, index, name)
    (root / "name_mapping.csv").write_text("not a subject\n")
    return root


def expected_mask(name: str, task: str) -> np.ndarray:
    """The brain box of the task's mask, doubled along every axis, as (D, H, W) = (k, j, i),
    centred in 32 slices (the box is 16 deep after resampling)."""
    labels = tumour(enhancing=SUBJECTS[name] != "L")[BRAIN]
    doubled = np.isin(labels, TASK_LABELS[task])
    for axis in range(3):
        doubled = doubled.repeat(2, axis=axis)
    return np.pad(doubled.transpose(2, 1, 0), ((8, 8), (0, 0), (0, 0))).astype(np.uint8)


def prepare(runner, source: Path, out: Path, name: str):
    return run_prepare(runner, name, source, out)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return make_brats(tmp_path_factory.mktemp("brats") / "MICCAI_BraTS_2019_Data_Training")


@pytest.fixture(scope="module")
def volumes(tmp_path_factory, runner, source):
    """Whole tumour in 3D at size 32, run once."""
    out = tmp_path_factory.mktemp("out") / "brats"
    result = prepare(runner, source, out, "brats[size=32]")
    assert result.exit_code == 0, result.output
    return out, result


def test_every_subject_becomes_one_32_cube_at_half_a_millimetre(volumes):
    out, _ = volumes
    images, masks = np.load(out / "images.npy"), np.load(out / "masks.npy")
    assert images.shape == (5, 4, 32, 32, 32) and images.dtype == np.float32
    assert masks.shape == (5, 32, 32, 32) and masks.dtype == np.uint8
    rows = read_cases(out)
    assert [row["case_id"] for row in rows] == NAMES == [row["patient_id"] for row in rows]
    assert all(float(row[f"spacing_{a}"]) == 0.5 for row in rows for a in range(3))
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["channel_names"] == ["flair", "t1", "t1ce", "t2"]
    assert meta["num_classes"] == 2 and meta["spatial_dims"] == 3


def test_brain_fills_the_cube_and_is_normalised_to_unit_range(volumes):
    out, _ = volumes
    images = np.load(out / "images.npy")
    assert images.min() == 0.0 and images.max() == 1.0
    brain = images.any(axis=1)  # the 16-deep box sits in slices 8..24, full height and width
    assert brain[:, 8:24].all() and not brain[:, :8].any() and not brain[:, 24:].any()
    for channel in range(4):  # every subject, whatever its scanner scale, spans [0, 1]
        inside = images[:, channel, 8:24].reshape(5, -1)
        assert np.allclose(inside.min(axis=1), 0.0) and np.allclose(inside.max(axis=1), 1.0)


@pytest.mark.parametrize(
    ("channel", "axis", "rising"),
    [(0, 3, True), (1, 2, True), (2, 1, True), (3, 3, False)],  # axes of [C, D, H, W]
)
def test_channels_are_flair_t1_t1ce_t2_with_axes_k_j_i(volumes, channel, axis, rising):
    out, _ = volumes
    block = np.load(out / "images.npy")[0, :, 8:24]  # [C, D, H, W], the brain box
    for other in (1, 2, 3):
        profile = block[channel].mean(axis=tuple(a - 1 for a in (1, 2, 3) if a != other))
        if other == axis:
            assert np.all(np.diff(profile) >= 0 if rising else np.diff(profile) <= 0)
            assert abs(profile[-1] - profile[0]) > 0.8
        else:
            assert np.ptp(profile) < 1e-5


def test_whole_tumour_mask_is_the_resampled_label(volumes):
    out, _ = volumes
    masks = np.load(out / "masks.npy")
    for index, name in enumerate(NAMES):
        assert np.array_equal(masks[index], expected_mask(name, "whole_tumour"))


@pytest.mark.parametrize("task", ["tumour_core", "enhancing_tumour"])
def test_tumour_core_and_enhancing_tumour_use_their_labels(runner, source, tmp_path, task):
    out = tmp_path / task
    result = prepare(runner, source, out, f"brats[task={task},size=32]")
    assert result.exit_code == 0, result.output
    masks = np.load(out / "masks.npy")
    assert np.unique(masks).tolist() == [0, 1]
    for index, name in enumerate(NAMES):
        assert np.array_equal(masks[index], expected_mask(name, task))
    text = " ".join(result.output.split())
    assert f"label values [0, 1] (background, {task.replace('_', ' ')})" in text
    if task == "enhancing_tumour":  # the LGG subject has no label 4
        assert "1 cases have no enhancing tumour voxels" in text


def test_split_is_by_patient(volumes):
    out, _ = volumes
    split = {row["patient_id"]: row["split"] for row in read_cases(out)}
    assert split == patient_split(NAMES, seed="brats/patient-split/v1")
    assert sorted(set(split.values())) == ["test", "train", "val"]


def test_summary_is_printed(volumes):
    _, result = volumes
    text = " ".join(result.output.split())
    assert "prepared brats" in text
    assert "shape (channels, *spatial) (4, 32, 32, 32); channels flair, t1, t1ce, t2" in text
    assert "spacing [0.5, 0.5, 0.5] to [0.5, 0.5, 0.5] mm" in text
    assert "label values [0, 1] (background, whole tumour)" in text
    assert "whole tumour = BraTS labels {1, 2, 4}" in text
    assert "resampled isotropically to fit 32^3 (spacing 0.5 mm)" in text


def test_load_prepared_crops_volumes_to_the_profile_size(volumes):
    out, _ = volumes
    data = load_prepared(out, crop_size=24)
    assert data.images.shape == (5, 4, 24, 24, 24) and data.masks.shape == (5, 24, 24, 24)
    assert data.spacing.shape == (5, 3) and data.num_classes == 2
    full = np.load(out / "masks.npy")
    assert np.asarray(data.masks).sum() == full.sum()  # the tumour is central: nothing lost


def test_fractional_scale_gives_spacing_one_over_scale(runner, source, tmp_path):
    """Size 24 on a 16 mm box: scale 1.5, spacing 2/3 mm; the box's 8 slices become 12."""
    out = tmp_path / "b24"
    result = prepare(runner, source, out, "brats[size=24]")
    assert result.exit_code == 0, result.output
    spacing = np.array([[float(r[f"spacing_{a}"]) for a in range(3)] for r in read_cases(out)])
    assert np.allclose(spacing, 2 / 3)
    images = np.load(out / "images.npy")
    assert images.shape == (5, 4, 24, 24, 24)
    assert np.flatnonzero(images[0].any(axis=(0, 2, 3))).tolist() == list(range(6, 18))


@pytest.mark.parametrize(
    ("choice", "slices"), [("spread", [12, 14, 17, 19]), ("most_tumour", [14, 15, 16, 17])]
)
def test_2d_takes_axial_slices_through_the_tumour(runner, source, tmp_path, choice, slices):
    """The tumour spans k 6..10, slices 12..19 after resampling; it is widest at k 8."""
    out = tmp_path / choice
    option = f"brats[dims=2,size=32,slices_per_volume=4,slice_choice={choice}]"
    result = prepare(runner, source, out, option)
    assert result.exit_code == 0, result.output
    images, masks = np.load(out / "images.npy"), np.load(out / "masks.npy")
    assert images.shape == (20, 4, 32, 32) and masks.shape == (20, 32, 32)
    rows = read_cases(out)
    assert [r["case_id"] for r in rows[:4]] == [f"{NAMES[0]}_z{z:03d}" for z in slices]
    assert all((float(r["spacing_0"]), float(r["spacing_1"])) == (0.5, 0.5) for r in rows)
    whole = expected_mask(NAMES[0], "whole_tumour")
    for index, z in enumerate(slices):
        assert np.array_equal(masks[index], whole[z]) and masks[index].any()
    assert len({(r["patient_id"], r["split"]) for r in rows}) == 5  # one split per patient


@pytest.mark.parametrize("option", ["dims=4", "slices_per_volume=0", "task=tumour"])
def test_bad_option_is_one_line(runner, source, tmp_path, option):
    result = prepare(runner, source, tmp_path / "out", f"brats[{option}]")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and option.split("=")[0] in result.output


def _path(name: str, suffix: str) -> Path:
    return subject_folder(Path(), name) / f"{name}_{suffix}"


def _remove(name: str, suffix: str):
    return lambda root: (root / _path(name, suffix)).unlink()


def _rewrite(name: str, suffix: str, array: np.ndarray):
    return lambda root: write_nifti(root / _path(name, suffix), array)


def _truncate(name: str, suffix: str):
    def damage(root: Path) -> None:
        path = root / _path(name, suffix)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return damage


def _with(array: np.ndarray, value: float) -> np.ndarray:
    array = array.copy()
    array[12, 12, 8] = value
    return array


S2, S4, S5 = NAMES[1], NAMES[3], NAMES[4]
BAD_INPUTS = {
    "missing folder": (None, "nowhere", "does not exist"),
    "no subject folders": (None, "empty", "no BraTS subject folders"),
    "missing modality": (_remove(S2, "t1ce.nii.gz"), f"{S2}_t1ce.nii.gz", "t1ce scan"),
    "missing seg": (_remove(S4, "seg.nii.gz"), f"{S4}_seg.nii.gz", "is missing"),
    "truncated NIfTI": (_truncate(S5, "flair.nii.gz"), f"{S5}_flair.nii.gz", "truncated"),
    "not NIfTI": (
        lambda root: (root / _path(S2, "t2.nii.gz")).write_text("x"),
        f"{S2}_t2.nii.gz",
        "cannot be read as NIfTI",
    ),
    "modality shape": (
        _rewrite(S2, "t2.nii.gz", np.ones((24, 24, 15), np.float32)),
        f"{S2}_t2.nii.gz",
        "shape",
    ),
    "seg shape": (
        _rewrite(S4, "seg.nii.gz", np.zeros((24, 22, 16), np.uint8)),
        f"{S4}_seg.nii.gz",
        "shape",
    ),
    "label 3": (
        _rewrite(S2, "seg.nii.gz", _with(tumour(True), 3)),
        f"{S2}_seg.nii.gz",
        "label value 3",
    ),
    "non-finite scan": (
        _rewrite(S5, "t1.nii.gz", _with(modalities(0)["t1"], np.inf)),
        f"{S5}_t1.nii.gz",
        "NaN or infinite",
    ),
    "subject twice": (
        lambda root: shutil.copytree(root / _path(S2, "").parent, root / "LGG" / S2),
        S2,
        "same subject",
    ),
    "empty scans": (
        lambda root: [
            write_nifti(root / _path(S2, f"{m}.nii.gz"), np.zeros(SHAPE, np.float32))
            for m in ("flair", "t1", "t1ce", "t2", "seg")
        ],
        f"{S2}_flair.nii.gz",
        "no brain",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_the_file_and_writes_nothing(runner, tmp_path, case):
    damage, names, says = BAD_INPUTS[case]
    if case == "missing folder":
        root = tmp_path / "nowhere"
    elif case == "no subject folders":
        root = tmp_path / "empty"
        (root / "HGG" / "notes").mkdir(parents=True)
    else:
        root = make_brats(tmp_path / "training")
        damage(root)
    out = tmp_path / "out" / "brats"
    result = prepare(runner, root, out, "brats[size=16]")
    assert_refused(result, out, names, says)
