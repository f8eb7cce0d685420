"""Mask distortion: the paper's noise (a random elastic + rotation + zoom warp of the mask).

Re-implements ``elasticdeform.deform_random_grid(mask, sigma, points=5, order=1,
mode='nearest', rotate=U(-45, 45), zoom=U(0.8, 2))`` of the released LIDC script
(docs/released-code.md) with scipy, so no extra dependency:

- a ``points x points`` grid of N(0, sigma^2) displacements (one per axis), sigma ~ U[low, high)
  per case; the control points span the image corner to corner and a cubic B-spline
  through them gives a smooth dense field;
- elasticdeform semantics: the field is defined on OUTPUT coordinates and says where to
  sample the input, after a rotation and zoom about the centre ((size - 1) / 2), so
  ``input = R(-angle) / zoom @ (out - centre) + centre + displacement(out)`` and a zoom > 1
  magnifies (zoom 2 makes a centred disk 4x larger in area);
- binary masks: linear interpolation, then ``>= threshold`` (0.5; elasticdeform rounds
  uint8 output the same way); multi-class: nearest-neighbour on the label map; borders
  repeat the edge value ('nearest').

Checked against elasticdeform 0.5.1 (numpy 1.26) on 60 random ellipses with the paper's
ranges: the interpolated values agree to 1e-13 and the thresholded (binary) and
nearest-neighbour (multi-class) outputs are identical; ``tests/test_distortion.py`` keeps
one such case as a regression fixture.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from rmdbench.api import NOISE_MODELS, NoiseCase, NoiseModel, UserError


@dataclass(frozen=True)
class DistortionParams:
    """Severity of the distortion; the defaults are the paper's LIDC setting."""

    points: int = 5  # control points per axis
    sigma_low: float = 1.0  # displacement std ~ U[sigma_low, sigma_high) px, drawn per case
    sigma_high: float = 11.0
    max_rotation_deg: float = 45.0  # angle ~ U(-max, max) about the centre
    zoom_low: float = 0.8  # zoom ~ U(zoom_low, zoom_high) about the centre; > 1 magnifies
    zoom_high: float = 2.0
    threshold: float = 0.5  # binary masks: linearly interpolated value >= threshold is foreground

    def __post_init__(self) -> None:
        def bad(message: str) -> UserError:
            return UserError(f"distortion: {message}")

        if (
            isinstance(self.points, bool)
            or not isinstance(self.points, numbers.Integral)
            or self.points < 2
        ):
            raise bad(f"points must be an integer >= 2, got {self.points!r}")
        real_fields = (
            "sigma_low",
            "sigma_high",
            "max_rotation_deg",
            "zoom_low",
            "zoom_high",
            "threshold",
        )
        for name in real_fields:
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not math.isfinite(value)
            ):
                raise bad(f"{name} must be a finite number, got {value!r}")
        if not 0 <= self.sigma_low <= self.sigma_high or self.sigma_high <= 0:
            raise bad(
                f"the sigma range [{self.sigma_low}, {self.sigma_high}) must satisfy "
                "0 <= sigma_low <= sigma_high and sigma_high > 0, e.g. sigma_low=1 sigma_high=11"
            )
        if self.max_rotation_deg < 0:
            raise bad(f"max_rotation_deg must be >= 0, got {self.max_rotation_deg}")
        if not 0 < self.zoom_low <= self.zoom_high:
            raise bad(
                f"the zoom range ({self.zoom_low}, {self.zoom_high}) must satisfy "
                "0 < zoom_low <= zoom_high, e.g. zoom_low=0.8 zoom_high=2"
            )
        if not 0 < self.threshold <= 1:
            raise bad(f"threshold must be in (0, 1], got {self.threshold}")


@NOISE_MODELS.register("distortion")
class Distortion(NoiseModel):
    """Random elastic deformation + rotation + zoom of the mask (the paper's "mask distortion").

    Presets: ``default`` = the paper's LIDC setting; ``acdc`` = the paper's ACDC setting
    (sigma ~ U[1, 16)); ``mild`` and ``severe`` bracket them (realised Dice measured on
    disks of radius 5-20 px in 64x64 images, median over cases: see the tests).
    """

    name: ClassVar[str] = "distortion"
    Params: ClassVar[type] = DistortionParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "acdc": {"sigma_high": 16.0},
        "mild": {
            "sigma_low": 0.5,
            "sigma_high": 3.0,
            "max_rotation_deg": 15.0,
            "zoom_low": 0.9,
            "zoom_high": 1.15,
        },
        "severe": {
            "sigma_low": 4.0,
            "sigma_high": 16.0,
            "max_rotation_deg": 45.0,
            "zoom_low": 0.6,
            "zoom_high": 2.5,
        },
    }
    supports_multiclass: ClassVar[bool] = True
    #: checked against the profile's crop at plan time: more control points than pixels
    #: is no finer a warp, and their grid grows as points² (rmdbench.noise.check_noise_fits)
    crop_bounded: ClassVar[tuple[str, ...]] = ("points",)

    def corrupt(self, case: NoiseCase, rng: np.random.Generator) -> np.ndarray:
        """The warped mask, same shape and dtype; an empty mask stays empty."""
        mask = np.asarray(case.mask)
        if mask.ndim != 2:
            raise ValueError(f"distortion works on 2D masks, got shape {mask.shape}")
        params: DistortionParams = self.params
        # Draw every random number first, so the draws do not depend on the mask.
        sigma = rng.uniform(params.sigma_low, params.sigma_high)
        grid = rng.standard_normal((2, params.points, params.points)) * sigma
        angle = rng.uniform(-params.max_rotation_deg, params.max_rotation_deg)
        zoom = rng.uniform(params.zoom_low, params.zoom_high)
        if not mask.any():
            return mask.copy()
        coordinates = sample_coordinates(mask.shape, grid, angle, zoom)
        if case.num_classes > 2:
            warped = ndimage.map_coordinates(mask, coordinates, order=0, mode="nearest")
        else:
            values = ndimage.map_coordinates(
                (mask > 0).astype(np.float32), coordinates, order=1, mode="nearest"
            )
            warped = values >= params.threshold
        return warped.astype(mask.dtype)


def sample_coordinates(
    shape: tuple[int, ...], grid: np.ndarray, angle_deg: float, zoom: float
) -> np.ndarray:
    """Input coordinates [2, H, W] to sample for each output pixel (elasticdeform semantics).

    ``grid`` [2, P, Q] holds the control-point displacements in pixels; a cubic B-spline
    through them (control points from corner to corner) gives the dense displacement.
    """
    height, width = shape
    rows = np.linspace(0, grid.shape[1] - 1, height)
    cols = np.linspace(0, grid.shape[2] - 1, width)
    at = np.stack(np.meshgrid(rows, cols, indexing="ij"))
    dense = np.stack(
        [ndimage.map_coordinates(component, at, order=3, mode="mirror") for component in grid]
    )
    centre = np.array([(height - 1) / 2.0, (width - 1) / 2.0])
    theta = math.radians(angle_deg)
    matrix = (
        np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]]) / zoom
    )
    out = np.stack(np.meshgrid(np.arange(height), np.arange(width), indexing="ij")).astype(float)
    relative = out - centre[:, None, None]
    coordinates = np.einsum("ij,jhw->ihw", matrix, relative) + centre[:, None, None] + dense
    return coordinates
