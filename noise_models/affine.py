"""Systematic misregistration: the mask is shifted, scaled and rotated as a whole, with no
elastic part (unlike ``distortion``). Models a contour drawn on a neighbouring slice or a
mis-aligned series: the shape is right, the place and size are off.

The shift has a magnitude drawn per case and a uniformly random direction; scale and
rotation act about the mask's centroid, so a pure scale or rotation does not move the
lesion. Binary masks: linear interpolation then ``>= threshold`` (or nearest); multi-class:
nearest. Pixels mapped from outside the crop are background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from scipy import ndimage

from rmdbench.api import NOISE_MODELS, NoiseCase, NoiseModel

from ._shared import check_2d, one_of, real_in, real_range, set_field

INTERPOLATIONS = ("linear", "nearest")


@dataclass(frozen=True)
class AffineParams:
    """Severity of the misregistration; defaults calibrated to Dice ~0.7 on lidc-phantom."""

    shift: tuple[float, float] = (1.0, 3.0)  # shift magnitude ~ U[low, high] px, random direction
    scale: tuple[float, float] = (0.85, 1.15)  # isotropic zoom ~ U[low, high] about the centroid
    max_rotation_deg: float = 15.0  # angle ~ U(-max, max) about the centroid
    interpolation: Literal["linear", "nearest"] = "linear"
    threshold: float = 0.5  # binary masks, linear: interpolated value >= threshold

    def __post_init__(self) -> None:
        set_field(self, "shift", real_range("shift", self.shift, 0.0, "1-3"))
        set_field(
            self, "scale", real_range("scale", self.scale, 0.0, "0.85-1.15", strict_minimum=True)
        )
        set_field(
            self,
            "max_rotation_deg",
            real_in("max_rotation_deg", self.max_rotation_deg, 0.0, 180.0),
        )
        one_of("interpolation", self.interpolation, INTERPOLATIONS)
        set_field(self, "threshold", real_in("threshold", self.threshold, 0.0, 1.0, open_low=True))


def transform_mask(
    mask: np.ndarray,
    shift: np.ndarray,
    scale: float,
    angle_deg: float,
    order: int,
    threshold: float,
    binary: bool,
) -> np.ndarray:
    """``mask`` moved by ``shift`` (px, row/col) after a zoom and rotation about its centroid."""
    centre = np.argwhere(mask > 0).mean(axis=0)
    theta = math.radians(angle_deg)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    matrix = rotation.T / scale  # output -> input: inverse rotation, inverse zoom
    offset = centre - matrix @ (centre + shift)
    if binary:
        source = (mask > 0).astype(np.float32)
        values = ndimage.affine_transform(source, matrix, offset, order=order, mode="constant")
        return (values >= threshold).astype(mask.dtype)
    return ndimage.affine_transform(mask, matrix, offset, order=0, mode="constant")


@NOISE_MODELS.register("affine")
class Affine(NoiseModel):
    """Shift, scale and rotate the whole mask (systematic misregistration, no warp).

    Presets (realised Dice on lidc-phantom crop 64, ratio 1, seed 0, mean/median):
    ``default`` shift 1-3 px, scale 0.85-1.15, rotation 15 deg (0.72/0.75); ``shift`` the
    same shifts only (0.73/0.75); ``mild`` shift 0.5-1.5, scale 0.9-1.1, 10 deg (0.85/0.87);
    ``severe`` shift 2-5, scale 0.7-1.3, 30 deg (0.53/0.56).
    """

    name: ClassVar[str] = "affine"
    Params: ClassVar[type] = AffineParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "shift": {"scale": (1.0, 1.0), "max_rotation_deg": 0.0},
        "mild": {"shift": (0.5, 1.5), "scale": (0.9, 1.1), "max_rotation_deg": 10.0},
        "severe": {"shift": (2.0, 5.0), "scale": (0.7, 1.3), "max_rotation_deg": 30.0},
    }
    supports_multiclass: ClassVar[bool] = True
    #: checked against the profile's crop at plan time: a shift past the crop moves the
    #: mask out of it (rmdbench.noise.check_noise_fits)
    crop_bounded: ClassVar[tuple[str, ...]] = ("shift",)

    def corrupt(self, case: NoiseCase, rng: np.random.Generator) -> np.ndarray:
        """The moved mask; same shape and dtype; an empty mask stays empty."""
        mask = check_2d(case.mask, self.name)
        params: AffineParams = self.params
        magnitude = rng.uniform(*params.shift)
        direction = rng.uniform(0.0, 2.0 * math.pi)
        scale = rng.uniform(*params.scale)
        angle = rng.uniform(-params.max_rotation_deg, params.max_rotation_deg)
        if not mask.any():
            return mask.copy()
        shift = magnitude * np.array([math.sin(direction), math.cos(direction)])
        binary = case.num_classes <= 2
        order = 1 if params.interpolation == "linear" else 0
        return transform_mask(mask, shift, scale, angle, order, params.threshold, binary)
