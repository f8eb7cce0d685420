"""Every registered noise model keeps the promises of docs/noise.md (conformance), and each
built-in model keeps its own (erosion shrinks, bias is one-way, a reader is real, ...)."""

from __future__ import annotations

import itertools
import json
from functools import cache

import numpy as np
import pytest
from scipy import ndimage
from skimage.draw import disk
from skimage.morphology import disk as disk_footprint

from rmdbench.contracts.noise_model import NoiseCase, NoiseModel
from rmdbench.data.base import SegmentationData
from rmdbench.data.toy import load_toy_disks
from rmdbench.errors import UserError
from rmdbench.noise import apply_noise, corrupted_count
from rmdbench.noise_models._shared import dilate, erode
from rmdbench.noise_models.mixed import Mixed
from rmdbench.noise_models.reader import farthest_reader
from rmdbench.params import build_params
from rmdbench.plugins import load_builtins
from rmdbench.registry import NOISE_MODELS
from rmdbench.seeding import generator
from rmdbench.sweep import resolve_noise_model

load_builtins()
MODEL_NAMES = NOISE_MODELS.names()
BUILTIN_MODELS = ("erosion_dilation", "reader", "bias", "affine", "boundary", "mixed")


#: the given noise model's label of a mask made up in a test: the mask shifted by 2 px (an
#: empty mask stays empty, a label stays a label), as if drawn off-centre
GIVEN_SHIFT = 2


def given_label(mask: np.ndarray) -> np.ndarray:
    return np.roll(mask, GIVEN_SHIFT, axis=-1)


@cache
def toy() -> SegmentationData:
    return load_toy_disks(crop_size=32)


def build(text: str) -> NoiseModel:
    """A model from its command-line text, as a sweep run builds it."""
    name, _, params = resolve_noise_model(text)
    model_class = NOISE_MODELS.get(name)
    return model_class(build_params(model_class.Params, params, name))


def toy_case(index: int, mask: np.ndarray | None = None) -> NoiseCase:
    data = toy()
    return NoiseCase(
        mask=data.masks[index] if mask is None else mask,
        spacing=np.asarray(data.spacing[index], float),
        readers=data.readers[index],
        reader_count=int(data.reader_count[index]),
        given=data.given_masks[index] if mask is None else given_label(mask),
    )


def disk_mask(size: int = 48, radius: float = 10, centre: tuple[float, float] = (24, 24)):
    mask = np.zeros((size, size), np.uint8)
    rows, cols = disk(centre, radius, shape=mask.shape)
    mask[rows, cols] = 1
    return mask


def corrupted_ids(noisy) -> set[str]:
    return set(noisy.realised.loc[noisy.realised["corrupted"], "case_id"])


# --- conformance: every registered noise model ------------------------------------------


def test_every_builtin_noise_model_is_registered() -> None:
    assert set(BUILTIN_MODELS) <= set(MODEL_NAMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_declares_params_presets_and_multiclass(name: str) -> None:
    model_class = NOISE_MODELS.get(name)
    assert "default" in model_class.presets
    assert isinstance(model_class.supports_multiclass, bool)
    default = model_class.Params()
    for preset in model_class.presets:
        _, _, params = resolve_noise_model(f"{name}[preset={preset}]")
        # the resolved severity survives a JSON round trip (a run spec on disk)
        again = build_params(model_class.Params, json.loads(json.dumps(params)), name)
        assert again == build_params(model_class.Params, params, name)
    assert resolve_noise_model(name)[2] == resolve_noise_model(f"{name}[preset=default]")[2]
    assert build_params(model_class.Params, {}, name) == default


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_meets_the_ratio_nested_and_held_out_untouched(name: str) -> None:
    data, model = toy(), build(name)
    n_train = len(data.indices("train"))
    runs = [apply_noise(data, model, ratio, seed=1) for ratio in (0.3, 0.7, 1.0)]
    for ratio, noisy in zip((0.3, 0.7, 1.0), runs, strict=True):
        assert noisy.realised["corrupted"].sum() == corrupted_count(ratio, n_train)
        held_out = np.flatnonzero(data.split != "train")
        np.testing.assert_array_equal(noisy.masks[held_out], data.masks[held_out])
        clean = np.setdiff1d(data.indices("train"), noisy.corrupted_index)
        np.testing.assert_array_equal(noisy.masks[clean], data.masks[clean])
    for smaller, larger in itertools.pairwise(runs):
        assert corrupted_ids(smaller) < corrupted_ids(larger)
        for index in smaller.corrupted_index:
            np.testing.assert_array_equal(smaller.masks[index], larger.masks[index])
    changed = runs[-1].realised["noisy_dsc"] < 1.0
    assert changed.mean() > 0.5, f"{name} left most masks unchanged at ratio 1"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_reproducible_from_the_seed(name: str) -> None:
    data = toy()
    first = apply_noise(data, build(name), 0.5, seed=3)
    again = apply_noise(data, build(name), 0.5, seed=3)
    other = apply_noise(data, build(name), 0.5, seed=4)
    assert first.masks.tobytes() == again.masks.tobytes()
    assert not np.array_equal(first.masks, other.masks)
    case = toy_case(int(data.indices("train")[0]))
    model = build(name)
    one = model.corrupt(case, generator("case", 7))
    two = model.corrupt(case, generator("case", 7))
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_keeps_dtype_shape_binary_and_the_input(name: str) -> None:
    data, model = toy(), build(name)
    for index in data.indices("train")[:12]:
        case = toy_case(int(index))
        before = case.mask.copy()
        noisy = model.corrupt(case, generator("keeps", name, int(index)))
        assert noisy.shape == case.mask.shape and noisy.dtype == case.mask.dtype
        assert set(np.unique(noisy)) <= {0, 1}
        np.testing.assert_array_equal(case.mask, before)  # the clean mask is not modified


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_an_empty_mask_stays_empty(name: str) -> None:
    model = build(name)
    empty = np.zeros((32, 32), np.uint8)
    for seed in range(5):
        noisy = model.corrupt(toy_case(0, mask=empty), generator("empty", seed))
        assert noisy.dtype == np.uint8 and not noisy.any()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_multiclass_labels_stay_labels(name: str) -> None:
    model_class = NOISE_MODELS.get(name)
    if not model_class.supports_multiclass:
        pytest.skip(f"{name} declares binary masks only")
    labels = disk_mask(radius=12)
    labels[disk_mask(radius=5) > 0] = 2
    readers = np.stack([labels, np.roll(labels, 2, axis=0), np.roll(labels, -2, axis=1)])
    case = NoiseCase(
        mask=labels,
        spacing=np.ones(2),
        num_classes=3,
        readers=readers,
        reader_count=3,
        given=given_label(labels),
    )
    noisy = build(name).corrupt(case, generator("multiclass", name))
    assert noisy.shape == labels.shape and noisy.dtype == labels.dtype
    assert set(np.unique(noisy)) <= {0, 1, 2}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unknown_parameter_and_unknown_preset_are_user_errors(name: str) -> None:
    with pytest.raises(UserError, match="no parameter nosuch"):
        resolve_noise_model(f"{name}[nosuch=1]")
    with pytest.raises(UserError, match="no preset"):
        resolve_noise_model(f"{name}[preset=nosuch]")


# --- bad severities ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("erosion_dilation[radius=5-2]", "radius range 5-2"),
        ("erosion_dilation[radius=1.5-2]", "expects an integer"),
        ("erosion_dilation[dilate_probability=1.5]", r"dilate_probability must be in \[0, 1\]"),
        ("bias[direction=sideways]", "direction.* must be one of dilate, erode"),
        ("bias[radius=1-2-3]", "radius must be a range"),
        ("reader[choice=best]", "choice.* must be one of random, farthest, slot"),
        ("reader[slot=-1]", "slot must be a whole number >= 0"),
        ("affine[scale=0-1]", "scale range 0-1"),
        ("affine[max_rotation_deg=400]", "max_rotation_deg must be in"),
        ("affine[threshold=0]", "threshold must be in"),
        ("boundary[correlation_length=0]", "correlation_length must be in"),
        ("boundary[amplitude=3-1]", "amplitude range 3-1"),
        ("mixed[models=distortion+nosuch]", "unknown noise model 'nosuch'"),
        ("mixed[models=mixed+affine]", "cannot contain mixed"),
        ("mixed[models=affine[shift=4-1]]", "shift range 4-1"),
        ("mixed[models=]", "models must name noise models"),
    ],
)
def test_bad_severity_is_a_one_line_user_error(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        resolve_noise_model(text)
    assert "\n" not in str(caught.value)


def test_ranges_parse_from_the_command_line_syntax() -> None:
    assert resolve_noise_model("erosion_dilation[radius=2-6]")[2]["radius"] == (2, 6)
    assert resolve_noise_model("erosion_dilation[radius=3]")[2]["radius"] == (3, 3)
    assert resolve_noise_model("affine[scale=0.9-1.2]")[2]["scale"] == (0.9, 1.2)
    name, preset, params = resolve_noise_model("bias[preset=under,radius=2-3]")
    assert (name, preset, params["direction"], params["radius"]) == (
        "bias",
        "under",
        "erode",
        (2, 3),
    )


def test_params_validate_when_built_in_code_too() -> None:
    with pytest.raises(UserError, match="radius range"):
        NOISE_MODELS.get("erosion_dilation").from_preset("default", radius=(4, 1))


# --- erosion/dilation and bias --------------------------------------------------------------


@pytest.mark.parametrize("radius", [1, 2, 3, 5])
def test_morphology_equals_skimage_disks(radius: int) -> None:
    rng = np.random.default_rng(radius)
    region = ndimage.binary_opening(rng.random((40, 40)) < 0.55)
    region[:, :3] = True  # touches the crop edge
    footprint = disk_footprint(radius)
    np.testing.assert_array_equal(
        dilate(region, radius), ndimage.binary_dilation(region, footprint)
    )
    expected = ndimage.binary_erosion(region, footprint, border_value=1)
    np.testing.assert_array_equal(erode(region, radius), expected)


def test_erosion_shrinks_and_dilation_grows() -> None:
    clean = disk_mask(radius=10)
    area = int(clean.sum())
    grow = build("erosion_dilation[dilate_probability=1,radius=2-2]")
    shrink = build("erosion_dilation[dilate_probability=0,radius=2-2]")
    case = NoiseCase(mask=clean, spacing=np.ones(2))
    grown = grow.corrupt(case, generator("grow"))
    shrunk = shrink.corrupt(case, generator("shrink"))
    assert np.all(grown >= clean) and grown.sum() > area
    assert np.all(shrunk <= clean) and shrunk.sum() < area
    np.testing.assert_array_equal(grown, ndimage.binary_dilation(clean, disk_footprint(2)))
    np.testing.assert_array_equal(shrunk, ndimage.binary_erosion(clean, disk_footprint(2)))


def test_erosion_dilation_picks_both_directions_and_radii_in_range() -> None:
    model = build("erosion_dilation[radius=1-3]")
    clean = disk_mask(radius=12)
    case = NoiseCase(mask=clean, spacing=np.ones(2))
    seen = set()
    for seed in range(60):
        noisy = model.corrupt(case, generator("both", seed)).astype(bool)
        if noisy.sum() > clean.sum():
            direction = "dilate"
            matches = [r for r in (1, 2, 3) if np.array_equal(noisy, dilate(clean > 0, r))]
        else:
            direction = "erode"
            matches = [r for r in (1, 2, 3) if np.array_equal(noisy, erode(clean > 0, r))]
        assert len(matches) == 1
        seen.add((direction, matches[0]))
    assert seen == {(d, r) for d in ("dilate", "erode") for r in (1, 2, 3)}


def test_erosion_never_erases_a_mask_unless_asked() -> None:
    tiny = disk_mask(radius=2)
    case = NoiseCase(mask=tiny, spacing=np.ones(2))
    keep = build("erosion_dilation[dilate_probability=0,radius=6]")
    erase = build("erosion_dilation[dilate_probability=0,radius=6,keep_nonempty=false]")
    kept = keep.corrupt(case, generator("tiny"))
    assert kept.any() and np.all(kept <= tiny) and kept.sum() < tiny.sum()
    assert not erase.corrupt(case, generator("tiny")).any()


@pytest.mark.parametrize(("direction", "grows"), [("dilate", True), ("erode", False)])
def test_bias_is_one_directional(direction: str, grows: bool) -> None:
    data = toy()
    noisy = apply_noise(data, build(f"bias[direction={direction},radius=1-2]"), 1.0, seed=0)
    for index in noisy.corrupted_index:
        clean, label = data.masks[index], noisy.masks[index]
        if grows:
            assert np.all(label >= clean) and label.sum() > clean.sum()
        else:
            assert np.all(label <= clean) and label.sum() < clean.sum()


def test_bias_presets_are_over_and_under_segmentation() -> None:
    bias = NOISE_MODELS.get("bias")
    assert bias.from_preset("default").params.direction == "dilate"
    assert bias.from_preset("under").params.direction == "erode"


# --- reader ---------------------------------------------------------------------------------


def reader_example() -> NoiseCase:
    """Consensus disk r=8; reader 0 is a bit larger, reader 1 shifted far (the worst),
    reader 2 exact; slot 3 is a filler that is not a real reader."""
    consensus = disk_mask(radius=8)
    readers = np.stack(
        [
            disk_mask(radius=9),
            disk_mask(radius=8, centre=(24, 30)),
            consensus,
            np.ones_like(consensus),
        ]
    )
    return NoiseCase(mask=consensus, spacing=np.ones(2), readers=readers, reader_count=3)


def test_reader_random_picks_a_real_reader_each_time() -> None:
    case, model = reader_example(), build("reader")
    picked = set()
    for seed in range(40):
        noisy = model.corrupt(case, generator("reader", seed))
        slots = [k for k in range(3) if np.array_equal(noisy, case.readers[k])]
        assert slots, "the label is not one of the real readers' masks"
        picked.add(slots[0])
    assert picked == {0, 1, 2}  # never the filler slot 3


def test_reader_farthest_picks_the_lowest_dice_reader() -> None:
    case = reader_example()
    assert farthest_reader(case.readers[:3], case.mask) == 1
    noisy = build("reader[choice=farthest]").corrupt(case, generator("far"))
    np.testing.assert_array_equal(noisy, case.readers[1])


def test_reader_slot_and_slot_beyond_the_count() -> None:
    case = reader_example()
    np.testing.assert_array_equal(
        build("reader[choice=slot,slot=2]").corrupt(case, generator("s")), case.readers[2]
    )
    np.testing.assert_array_equal(  # 3 real readers: slot 4 is reader 4 mod 3 = 1
        build("reader[choice=slot,slot=4]").corrupt(case, generator("s")), case.readers[1]
    )


def test_reader_on_lidc_like_data_uses_the_readers() -> None:
    data = toy()
    noisy = apply_noise(data, build("reader"), 1.0, seed=2)
    for index in noisy.corrupted_index[:20]:
        assert any(np.array_equal(noisy.masks[index], r) for r in data.readers[index])


def test_reader_without_readers_is_a_user_error() -> None:
    data = toy()
    bare = SegmentationData(
        name="bare",
        images=data.images,
        masks=data.masks,
        spacing=data.spacing,
        patient_ids=data.patient_ids,
        split=data.split,
        case_ids=data.case_ids,
    )
    with pytest.raises(UserError, match="no per-reader masks.*lidc-phantom"):
        apply_noise(bare, build("reader"), 0.5, seed=0)
    with pytest.raises(UserError, match="no per-reader masks"):
        build("reader").corrupt(NoiseCase(mask=disk_mask(), spacing=np.ones(2)), generator(0))


# --- affine and boundary --------------------------------------------------------------------


def test_affine_pure_shift_keeps_the_area_and_moves_by_the_drawn_amount() -> None:
    model = build("affine[preset=shift,shift=2-4]")
    clean = disk_mask(size=64, radius=10, centre=(32, 32))
    case = NoiseCase(mask=clean, spacing=np.ones(2))
    for seed in range(10):
        noisy = model.corrupt(case, generator("shift", seed))
        assert abs(int(noisy.sum()) - int(clean.sum())) <= 0.05 * clean.sum()
        moved = np.linalg.norm(np.argwhere(noisy).mean(axis=0) - np.argwhere(clean).mean(axis=0))
        assert 2 - 0.3 <= moved <= 4 + 0.3


def test_affine_scale_changes_the_area_by_its_square() -> None:
    model = build("affine[shift=0,scale=1.3,max_rotation_deg=0]")
    clean = disk_mask(size=64, radius=10, centre=(32, 32))
    noisy = model.corrupt(NoiseCase(mask=clean, spacing=np.ones(2)), generator("scale"))
    assert noisy.sum() / clean.sum() == pytest.approx(1.3**2, rel=0.06)
    assert np.linalg.norm(np.argwhere(noisy).mean(0) - np.argwhere(clean).mean(0)) < 0.3


def test_boundary_moves_only_near_the_edge_and_zero_amplitude_is_identity() -> None:
    clean = disk_mask(size=64, radius=12, centre=(32, 32))
    case = NoiseCase(mask=clean, spacing=np.ones(2))
    still = build("boundary[amplitude=0]").corrupt(case, generator("still"))
    np.testing.assert_array_equal(still, clean)
    model = build("boundary[amplitude=2-2]")
    distance = np.maximum(
        ndimage.distance_transform_edt(clean), ndimage.distance_transform_edt(1 - clean)
    )
    grew = shrank = False
    for seed in range(10):
        noisy = model.corrupt(case, generator("edge", seed))
        changed = noisy != clean
        assert changed.any() and noisy.any()
        assert distance[changed].max() <= 4 * 2 + 1  # within 4 standard deviations of the edge
        grew |= bool((noisy > clean).any())
        shrank |= bool((noisy < clean).any())
    assert grew and shrank


def test_boundary_never_erases_a_small_mask() -> None:
    tiny = disk_mask(radius=2)
    model = build("boundary[amplitude=4]")
    for seed in range(20):
        assert model.corrupt(NoiseCase(mask=tiny, spacing=np.ones(2)), generator(seed)).any()


# --- mixed ----------------------------------------------------------------------------------


def test_mixed_uses_several_models_and_each_case_is_its_component_output() -> None:
    model = build("mixed")
    assert isinstance(model, Mixed)
    names = [component.name for component in model.components]
    assert names == ["distortion", "erosion_dilation", "affine"]
    data = toy()
    used = []
    for index in data.indices("train")[:30]:
        case = toy_case(int(index))
        component = model.choose(generator("mixed", int(index)))
        used.append(component.name)
        rng = generator("mixed", int(index))
        model.choose(rng)
        expected = component.corrupt(case, rng)
        actual = model.corrupt(case, generator("mixed", int(index)))
        np.testing.assert_array_equal(actual, expected)
    assert set(used) == set(names)


def test_mixed_components_take_presets_and_options() -> None:
    model = build("mixed[models=erosion_dilation[preset=mild]+bias[direction=erode,radius=2-3]]")
    first, second = model.components
    assert first.params.radius == (1, 1)
    assert (second.params.direction, second.params.radius) == ("erode", (2, 3))
