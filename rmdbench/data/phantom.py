"""A CT-like image around a nodule, rendered from the readers' masks (no CT pixels are available).

The nodule is drawn from the smoothed *mean* of the readers' masks, not from the consensus: where
the radiologists disagree the image is genuinely ambiguous (partial-volume intensity), so a model
cannot recover the label perfectly. Around it: lung parenchyma with texture, vessels (some
touching the nodule), sometimes a chest wall (some abutting the nodule), correlated CT noise.
Every difficulty knob lives in ``PhantomStyle`` so the task can be calibrated in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import binary_erosion, gaussian_filter

TAU = 2.0 * np.pi


@dataclass(frozen=True)
class PhantomStyle:
    """Difficulty knobs of the renderer; intensities in HU, lengths in pixels."""

    window_hu: tuple[float, float] = (-1000.0, 400.0)  # mapped to [0, 1]
    noise_std_hu: float = 40.0  # CT noise, after correlation
    noise_correlation_px: float = 0.7  # Gaussian sigma of the noise texture (0 = white)
    nodule_contrast: float = 1.0  # scales every nodule's difference from the lung
    edge_blur_px: float = 1.2  # partial-volume blur of a well-defined nodule edge
    ill_defined_edge_blur_px: float = 1.0  # extra blur at LIDC margin rating 1 (vs 5)
    vessel_count: float = 4.0  # mean number of vessels per crop (Poisson)
    vessel_touch_fraction: float = 0.5  # share of vessels that run from the nodule's edge
    vessel_radius_px: tuple[float, float] = (0.6, 2.2)
    chest_wall_probability: float = 0.25  # rises to 1 for nodules at the slice border
    chest_wall_abut_fraction: float = 0.5  # share of walls that touch the nodule
    lung_hu: float = -850.0
    lung_hu_jitter: float = 40.0  # per-case shift of the lung level
    lung_texture_hu: float = 30.0
    solid_hu: float = 30.0  # LIDC texture rating 5
    ground_glass_hu: float = -550.0  # LIDC texture rating 1
    calcified_hu: float = 350.0
    nodule_texture_hu: float = 35.0
    vessel_hu: float = 40.0
    wall_hu: float = 40.0
    fat_hu: float = -100.0
    rib_hu: float = 600.0


@dataclass(frozen=True)
class NoduleAppearance:
    """What the annotations say about a nodule's look and where it sits in the slice."""

    texture: float = 5.0  # LIDC rating: 1 ground glass .. 3 part solid .. 5 solid
    margin: float = 5.0  # LIDC rating: 1 poorly defined .. 5 sharp
    calcified: bool = False
    outward: tuple[float, float] | None = None  # unit (row, col) towards the body wall
    periphery: float = 0.0  # distance from the slice centre, 0 (centre) .. 1 (border)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-correlated noise with unit standard deviation."""
    field = rng.standard_normal(shape)
    if sigma <= 0:
        return field
    return gaussian_filter(field, sigma, mode="wrap") / _white_noise_gain(sigma)


@lru_cache(maxsize=32)
def _white_noise_gain(sigma: float) -> float:
    """Standard deviation of unit white noise after ``gaussian_filter(sigma)`` (exact, discrete)."""
    radius = int(4 * sigma + 0.5)
    delta = np.zeros((2 * radius + 1, 2 * radius + 1))
    delta[radius, radius] = 1.0
    return float(np.sqrt((gaussian_filter(delta, sigma, mode="constant") ** 2).sum()))


def _unit(angle: float) -> np.ndarray:
    return np.array([np.sin(angle), np.cos(angle)])


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Points along a quadratic Bezier curve, about two per pixel of length."""
    length = np.linalg.norm(p1 - p0) + np.linalg.norm(p2 - p1)
    t = np.linspace(0.0, 1.0, max(int(2 * length), 2))[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _tube(shape: tuple[int, int], curve: np.ndarray, radius: float) -> np.ndarray:
    """Fill fraction in [0, 1] of a tube of ``radius`` along ``curve`` (partial volume)."""
    line = np.zeros(shape)
    step = np.linalg.norm(np.diff(curve, axis=0), axis=1).mean() if len(curve) > 1 else 1.0
    pixels = np.rint(curve).astype(np.int64)
    inside = (
        (pixels[:, 0] >= 0)
        & (pixels[:, 0] < shape[0])
        & (pixels[:, 1] >= 0)
        & (pixels[:, 1] < shape[1])
    )
    np.add.at(line, (pixels[inside, 0], pixels[inside, 1]), step)
    sigma = max(0.5, 0.8 * radius)
    return np.clip(gaussian_filter(line, sigma, mode="constant") * 2.0 * radius, 0.0, 1.0)


def _vessels(
    rng: np.random.Generator, nodule: np.ndarray, style: PhantomStyle
) -> tuple[np.ndarray, np.ndarray]:
    """(fill fraction, HU) of the vessels: random curves, some starting at the nodule's edge."""
    shape = nodule.shape
    size = float(max(shape))
    fill = np.zeros(shape)
    hu = np.full(shape, style.vessel_hu)
    solid = nodule >= 0.5
    edge = np.argwhere(solid & ~binary_erosion(solid)) if solid.any() else np.zeros((0, 2))
    centre = np.argwhere(solid).mean(axis=0) if solid.any() else np.array(shape) / 2.0
    for _ in range(int(rng.poisson(style.vessel_count))):
        radius = float(rng.uniform(*style.vessel_radius_px))
        if len(edge) and rng.random() < style.vessel_touch_fraction:
            start = edge[rng.integers(len(edge))].astype(float)
            outward = start - centre
            angle = np.arctan2(outward[0], outward[1]) + rng.normal(0.0, 0.6)
            end = start + _unit(angle) * rng.uniform(0.4, 0.9) * size
            start = start - _unit(angle) * radius  # reach into the nodule's edge
        else:
            angle = rng.uniform(0.0, TAU)
            middle = rng.uniform(0.0, size, 2)
            start = middle - _unit(angle) * size
            end = middle + _unit(angle) * size
        bend = (start + end) / 2.0 + rng.normal(0.0, 0.15 * size, 2)
        tube = _tube(shape, _bezier(start, bend, end), radius)
        brighter = tube > fill
        hu[brighter] = style.vessel_hu + rng.normal(0.0, 20.0)
        fill = np.maximum(fill, tube)
    return fill, hu


def _chest_wall(
    rng: np.random.Generator,
    nodule: np.ndarray,
    appearance: NoduleAppearance,
    style: PhantomStyle,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(fill fraction, HU) of a chest wall on the outer side of the nodule, or None."""
    border_boost = np.clip((appearance.periphery - 0.8) / 0.2, 0.0, 1.0)
    probability = style.chest_wall_probability + (1 - style.chest_wall_probability) * border_boost
    if rng.random() >= probability:
        return None
    shape = nodule.shape
    size = float(max(shape))
    if appearance.outward is not None and np.hypot(*appearance.outward) > 0:
        base = np.arctan2(appearance.outward[0], appearance.outward[1])
    else:
        base = rng.uniform(0.0, TAU)
    angle = base + rng.normal(0.0, 0.35)
    normal, tangent = _unit(angle), _unit(angle + np.pi / 2)
    rows, cols = np.indices(shape, dtype=float)
    rows -= shape[0] / 2.0
    cols -= shape[1] / 2.0
    along = rows * normal[0] + cols * normal[1]
    across = rows * tangent[0] + cols * tangent[1]
    curvature = rng.uniform(-1.5, 1.5) / size
    wobble = rng.uniform(0.0, 1.5) * np.sin(across * TAU / rng.uniform(0.5, 1.5) / size)
    depth = along + curvature * across**2 + wobble
    touched = depth[nodule > 0.02]
    front = touched.max() if touched.size else rng.uniform(-0.2, 0.3) * size
    if rng.random() < style.chest_wall_abut_fraction:
        front += rng.uniform(0.0, 1.0)
    else:
        front += rng.uniform(3.0, size / 3.0)
    depth = depth - front
    fill = np.clip(0.5 + depth / 1.5, 0.0, 1.0)

    hu = style.wall_hu + 12.0 * _smooth_field(rng, shape, 2.0)
    fat_start = rng.uniform(5.0, 12.0)
    fat = np.clip((depth - fat_start) / 1.5, 0.0, 1.0) * np.clip(
        (fat_start + rng.uniform(3.0, 8.0) - depth) / 1.5, 0.0, 1.0
    )
    hu = hu + fat * (style.fat_hu - style.wall_hu)
    if rng.random() < 0.6:
        rib_depth = rng.uniform(2.5, 6.0)
        rib_half_length = rng.uniform(6.0, 12.0)
        rib_gap = rng.uniform(22.0, 36.0)
        phase = rng.uniform(0.0, rib_gap)
        rib_along = ((across - phase) % rib_gap) - rib_gap / 2.0
        rib = ((depth - rib_depth - 2.5) / 3.0) ** 2 + (rib_along / rib_half_length) ** 2 <= 1.0
        hu = hu + gaussian_filter(rib.astype(float), 0.8) * (style.rib_hu - style.wall_hu)
    return fill, hu


def render_phantom(
    reader_mean: np.ndarray,
    rng: np.random.Generator,
    style: PhantomStyle | None = None,
    appearance: NoduleAppearance | None = None,
) -> np.ndarray:
    """A CT-like float32 image in [0, 1] around a nodule whose readers' mean mask is given.

    ``reader_mean`` is the fraction of readers marking each pixel (its >= 0.5 level is the
    consensus label); all randomness comes from ``rng``.
    """
    style = PhantomStyle() if style is None else style
    appearance = NoduleAppearance() if appearance is None else appearance
    mean = np.asarray(reader_mean, dtype=np.float64)
    shape = mean.shape

    lung_level = style.lung_hu + rng.uniform(-1.0, 1.0) * style.lung_hu_jitter
    image = (
        lung_level
        + style.lung_texture_hu * _smooth_field(rng, shape, 4.0)
        + 0.5 * style.lung_texture_hu * _smooth_field(rng, shape, 1.5)
    )

    vessel_fill, vessel_hu = _vessels(rng, mean, style)
    image = image + vessel_fill * (vessel_hu - image)

    wall = _chest_wall(rng, mean, appearance, style)
    if wall is not None:
        wall_fill, wall_hu = wall
        image = image + wall_fill * (wall_hu - image)

    blur = style.edge_blur_px + style.ill_defined_edge_blur_px * np.clip(
        (5.0 - appearance.margin) / 4.0, 0.0, 1.0
    )
    alpha = np.clip(gaussian_filter(mean, blur, mode="constant"), 0.0, 1.0)
    solidity = np.clip((appearance.texture - 1.0) / 4.0, 0.0, 1.0)
    if appearance.calcified:
        core_hu = edge_hu = style.calcified_hu
    else:
        edge_hu = style.ground_glass_hu + solidity * (style.solid_hu - style.ground_glass_hu)
        core_hu = style.solid_hu if 0.1 < solidity < 0.9 else edge_hu  # part solid: dense core
    if alpha.any():
        eq_radius = np.sqrt(mean.sum() / np.pi)
        core = np.clip(
            (gaussian_filter(mean, max(1.5, 0.35 * eq_radius), mode="constant") - 0.6) / 0.3,
            0.0,
            1.0,
        )
        nodule_hu = (
            edge_hu
            + core * (core_hu - edge_hu)
            + style.nodule_texture_hu * _smooth_field(rng, shape, 1.5)
        )
        nodule_hu = lung_level + style.nodule_contrast * (nodule_hu - lung_level)
        # A nodule only adds density: vessels and wall stay visible through ground glass.
        image = np.maximum(image, image + alpha * (nodule_hu - image))

    if style.noise_std_hu > 0:
        image = image + style.noise_std_hu * _smooth_field(rng, shape, style.noise_correlation_px)

    low, high = style.window_hu
    return np.clip((image - low) / (high - low), 0.0, 1.0).astype(np.float32)
