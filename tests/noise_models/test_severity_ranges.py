"""Severity parameters that must fit the crop: every built-in noise model declares them
(``crop_bounded``), and each names one of its own parameters."""

from __future__ import annotations

import dataclasses

import pytest

from rmdbench.noise import NoiseFitError, check_noise_fits
from rmdbench.plugins import load_builtins
from rmdbench.registry import NOISE_MODELS

#: the built-in models whose severity has a length in pixels (or a grid finer than pixels)
LENGTHS = {
    "erosion_dilation": ("radius",),
    "bias": ("radius",),
    "affine": ("shift",),
    "boundary": ("amplitude",),
    "distortion": ("points",),
}


def test_crop_bounded_parameters_are_declared_and_exist():
    load_builtins()
    for name, expected in LENGTHS.items():
        model_class = NOISE_MODELS.get(name)
        assert model_class.crop_bounded == expected
        fields = {field.name for field in dataclasses.fields(model_class.Params)}
        assert set(model_class.crop_bounded) <= fields


@pytest.mark.parametrize("name", sorted(LENGTHS))
def test_every_preset_fits_the_smallest_profile_crop(name):
    """The presets (MTCL's 3-15 px radius included) fit the 32 px crop of 'tiny'."""
    load_builtins()
    model_class = NOISE_MODELS.get(name)
    for preset in model_class.presets:
        check_noise_fits(model_class(model_class.resolve_params(preset)), 32)


def test_too_large_a_radius_is_refused_with_its_facts():
    load_builtins()
    model_class = NOISE_MODELS.get("erosion_dilation")
    model = model_class(model_class.resolve_params("default", {"radius": "3-99999"}))
    with pytest.raises(
        NoiseFitError, match=r"radius=99999 is larger than the 64 px crop"
    ) as caught:
        check_noise_fits(model, 64)
    assert (caught.value.model, caught.value.parameter, caught.value.crop_size) == (
        "erosion_dilation",
        "radius",
        64,
    )
    check_noise_fits(model_class(model_class.resolve_params("default", {"radius": 64})), 64)
