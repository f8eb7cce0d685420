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
from math import comb

import numpy as np
from scipy.ndimage import binary_erosion, gaussian_filter

TAU = 2.0 * np.pi
TUBE_BANDS = 3
REFERENCE_AREA = 64 * 64  # vessel counts are per 64 x 64 pixels


@dataclass(frozen=True)
class PhantomStyle:
    """Difficulty knobs of the renderer; intensities in HU, lengths in pixels."""

    window_hu: tuple[float, float] = (-1000.0, 400.0)  # mapped to [0, 1]
    noise_std_hu: float = 40.0  # CT noise, after correlation
    noise_correlation_px: float = 0.7  # Gaussian sigma of the noise texture (0 = white)
    nodule_contrast: float = 1.0  # scales every nodule's difference from the lung
    edge_blur_px: float = 1.2  # partial-volume blur of a well-defined nodule edge
    ill_defined_edge_blur_px: float = 1.0  # extra blur at LIDC margin rating 1 (vs 5)
    vessel_count: float = 2.5  # in-plane vessels per 64 x 64 pixels (Poisson mean)
    vessel_dot_count: float = 1.5  # vessels cut across (round dots) per 64 x 64 pixels
    vessel_touch_fraction: float = 0.5  # share of vessels (at 64 x 64) that leave the nodule
    vessel_radius_px: tuple[float, float] = (0.6, 2.0)
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


def _bezier(points: np.ndarray) -> np.ndarray:
    """Points along the Bezier curve of the control ``points`` [K, 2], about two per pixel."""
    length = np.linalg.norm(np.diff(points, axis=0), axis=1).sum()
    t = np.linspace(0.0, 1.0, max(int(2 * length), 2))[:, None]
    degree = len(points) - 1
    curve = np.zeros((len(t), 2))
    for i, point in enumerate(points):
        weight = comb(degree, i) * t**i * (1 - t) ** (degree - i)
        curve += weight * point
    return curve


def _splat(shape: tuple[int, int], points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Bilinear splat of weighted points (no staircase along a slanted line)."""
    image = np.zeros((shape[0] + 2, shape[1] + 2))
    low = np.floor(points).astype(np.int64)
    frac = points - low
    for d_row in (0, 1):
        for d_col in (0, 1):
            rows = low[:, 0] + d_row + 1
            cols = low[:, 1] + d_col + 1
            share = (frac[:, 0] if d_row else 1 - frac[:, 0]) * (
                frac[:, 1] if d_col else 1 - frac[:, 1]
            )
            keep = (rows >= 0) & (rows < shape[0] + 2) & (cols >= 0) & (cols < shape[1] + 2)
            np.add.at(image, (rows[keep], cols[keep]), (weights * share)[keep])
    return image[1:-1, 1:-1]


def _tube(shape: tuple[int, int], curve: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Fill fraction in [0, 1] of a tube along ``curve``, ``radius`` per point (partial volume).

    The curve is splatted as a line of unit density per pixel and blurred; scaling by the
    diameter makes a thick tube's centre 1 and a thin one's less, as a CT would show it.
    """
    step = np.linalg.norm(np.diff(curve, axis=0), axis=1).mean() if len(curve) > 1 else 1.0
    radius = np.broadcast_to(radius, len(curve))
    fill = np.zeros(shape)
    # Blur stretches of the curve apart, so that a tapering vessel narrows as it thins.
    bands = np.arange(len(curve)) * TUBE_BANDS // len(curve)
    for band in range(TUBE_BANDS):
        chosen = bands == band
        if not chosen.any():
            continue
        line = _splat(shape, curve[chosen], step * 2.0 * radius[chosen])
        sigma = max(0.7, 0.8 * float(radius[chosen].mean()))
        fill += gaussian_filter(line, sigma, mode="constant")
    return np.clip(fill, 0.0, 1.0)


def _disc(shape: tuple[int, int], centre: np.ndarray, radius: float, blur: float) -> np.ndarray:
    """Fill fraction of a blurred disc: a vessel cut across by the slice."""
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    distance = np.hypot(rows - centre[0], cols - centre[1])
    return np.clip(0.5 + (radius - distance) / (2.0 * blur), 0.0, 1.0) * min(1.0, radius / 1.5)


def _vessels(
    rng: np.random.Generator, nodule: np.ndarray, style: PhantomStyle
) -> tuple[np.ndarray, np.ndarray]:
    """(fill fraction, HU) of vessels: curved, tapering, sometimes branching tubes (some from
    the nodule's edge) and round cross-sections of vessels running through the slice."""
    shape = nodule.shape
    fill = np.zeros(shape)
    per_area = shape[0] * shape[1] / REFERENCE_AREA
    hu = np.full(shape, style.vessel_hu)

    def add(tube: np.ndarray) -> None:
        nonlocal fill
        brighter = tube > fill
        hu[brighter] = style.vessel_hu + rng.normal(0.0, 25.0)
        fill = np.maximum(fill, tube)

    solid = nodule >= 0.5
    edge = np.argwhere(solid & ~binary_erosion(solid)) if solid.any() else np.zeros((0, 2))
    centre = np.argwhere(solid).mean(axis=0) if solid.any() else np.array(shape) / 2.0
    # Vessels at the nodule come per nodule; the others per area, so crops of any size match.
    touching = (
        int(rng.poisson(style.vessel_count * style.vessel_touch_fraction)) if len(edge) else 0
    )
    free = int(rng.poisson(style.vessel_count * (1.0 - style.vessel_touch_fraction) * per_area))
    for index in range(touching + free):
        radius = float(rng.uniform(*style.vessel_radius_px))
        length = rng.uniform(20.0, 55.0)
        if index < touching:
            start = edge[rng.integers(len(edge))].astype(float)
            away = start - centre
            angle = np.arctan2(away[0], away[1]) + rng.normal(0.0, 0.6)
            start = start - _unit(angle) * radius  # reach into the nodule's edge
        else:
            angle = rng.uniform(0.0, TAU)
            start = rng.uniform(0.0, 1.0, 2) * shape - _unit(angle) * length / 2.0
        direction, normal = _unit(angle), _unit(angle + np.pi / 2.0)
        controls = np.array(
            [
                start + direction * length * f + normal * rng.normal(0.0, 0.12 * length)
                for f in (1 / 3, 2 / 3, 1.0)
            ]
        )
        curve = _bezier(np.vstack([start, controls]))
        taper = np.linspace(1.0, rng.uniform(0.5, 0.9), len(curve))
        add(_tube(shape, curve, radius * taper))
        if rng.random() < 0.4 and len(curve) > 8:
            fork = curve[rng.integers(len(curve) // 4, len(curve) // 2)]
            branch_angle = angle + rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 0.9)
            branch_end = fork + _unit(branch_angle) * rng.uniform(0.3, 0.6) * length
            branch_mid = (fork + branch_end) / 2.0 + rng.normal(0.0, 0.08 * length, 2)
            branch = _bezier(np.array([fork, branch_mid, branch_end]))
            add(_tube(shape, branch, 0.7 * radius * np.linspace(1.0, 0.7, len(branch))))
    for _ in range(int(rng.poisson(style.vessel_dot_count * per_area))):
        radius = float(rng.uniform(*style.vessel_radius_px))
        add(_disc(shape, rng.uniform(0.0, 1.0, 2) * shape, radius, style.edge_blur_px))
    return fill, hu


def _chest_wall(
    rng: np.random.Generator,
    nodule: np.ndarray,
    appearance: NoduleAppearance,
    style: PhantomStyle,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(fill fraction, HU) of a chest wall on the outer side of the nodule, or None.

    Pleura and intercostal muscle, rib cross-sections (cortex brighter than marrow), then fat.
    """
    border_boost = np.clip((appearance.periphery - 0.8) / 0.2, 0.0, 1.0)
    probability = style.chest_wall_probability + (1 - style.chest_wall_probability) * border_boost
    if rng.random() >= probability:
        return None
    shape = nodule.shape
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
    curvature = rng.uniform(-1.0, 1.0) / 200.0  # a chest is a few hundred pixels across
    wobble = rng.uniform(0.0, 1.0) * np.sin(across * TAU / rng.uniform(30.0, 90.0))
    depth = along + curvature * across**2 + wobble
    touched = depth[nodule > 0.02]
    front = touched.max() if touched.size else rng.uniform(-0.2, 0.3) * min(shape)
    if rng.random() < style.chest_wall_abut_fraction:
        front += rng.uniform(0.0, 1.0)
    else:
        front += rng.uniform(3.0, 24.0)
    depth = depth - front
    fill = np.clip(0.5 + depth / (2.0 * style.edge_blur_px), 0.0, 1.0)

    hu = style.wall_hu + 12.0 * _smooth_field(rng, shape, 2.0)
    fat_start = rng.uniform(10.0, 18.0)
    fat = np.clip((depth - fat_start) / 1.5, 0.0, 1.0) * np.clip(
        (fat_start + rng.uniform(4.0, 10.0) - depth) / 1.5, 0.0, 1.0
    )
    hu = hu + fat * (style.fat_hu - style.wall_hu)
    if rng.random() < 0.7:
        half_depth, half_length = rng.uniform(3.5, 6.0), rng.uniform(7.0, 12.0)
        rib_centre = half_depth + rng.uniform(1.5, 4.0)
        spacing = rng.uniform(40.0, 70.0)
        rib_along = ((across - rng.uniform(0.0, spacing)) % spacing) - spacing / 2.0
        radius = np.sqrt(((depth - rib_centre) / half_depth) ** 2 + (rib_along / half_length) ** 2)
        cortex = np.clip((1.0 - radius) * 6.0, 0.0, 1.0)  # the outer ring and everything inside
        marrow = np.clip((0.7 - radius) * 6.0, 0.0, 1.0)
        rib_hu = cortex * (style.rib_hu - hu) - marrow * 0.6 * (style.rib_hu - style.wall_hu)
        hu = hu + gaussian_filter(rib_hu, 0.7)
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
