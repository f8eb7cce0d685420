"""Augmentations done on the device, batched, with an explicit torch.Generator.

The strong view of RMD warps the image and the weak logits with the same transform. The
released code does this per sample on the CPU with elasticdeform (~1.2 s per iteration on
2 cores); here it is one ``grid_sample`` over the image and logits stacked as channels.
Semantics follow elasticdeform: the displacement is defined on output coordinates,
rotation and zoom are about the centre, zoom > 1 magnifies; bilinear interpolation with
border replication (the released code uses cubic B-splines; exact parity is not needed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F
from torch.profiler import record_function


def _uniform(n: int, low: float, high: float, generator: torch.Generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def random_sample_flips(
    images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, flip each spatial axis with probability 1/2 (the loader augmentation of
    the released code, which flips rows and columns), identically for image and label."""
    n = images.shape[0]
    device = images.device
    shape = (n,) + (1,) * (images.ndim - 1)
    for dim in range(2 - images.ndim, 0):
        flip = (torch.rand(n, generator=generator, device=device) < 0.5).view(shape)
        images = torch.where(flip, images.flip(dim), images)
        labels = torch.where(flip, labels.flip(dim), labels)
    return images, labels


#: the image size (px) the released strong augmentation was tuned on (LIDC crops of 128²)
REFERENCE_SIZE = 128


@dataclass(frozen=True)
class StrongAugmentation:
    """RMD's joint data augmentation (docs/methods.md, step 3).

    ``displacement_sigma`` is in pixels of a ``REFERENCE_SIZE`` image. With
    ``relative=True`` it scales with the image (a 64² crop is displaced by half as many
    pixels, the same fraction of the image); with ``relative=False`` it is taken in pixels
    of whatever image comes, as the released code does. The two agree at 128². Rotation
    and zoom are relative to the image either way."""

    noise_std: float = 0.02
    displacement_sigma: tuple[float, float] = (1.0, 26.0)  # px at REFERENCE_SIZE
    rotation_degrees: tuple[float, float] = (0.0, 60.0)
    zoom: tuple[float, float] = (1.0, 2.0)
    control_points: int = 3
    relative: bool = True

    def _normalised(self, size: int) -> float:
        """Grid units (2 per image side) of one displacement pixel along a side of ``size``."""
        return 2.0 / (REFERENCE_SIZE if self.relative else size)

    @record_function("augmentation")
    def __call__(
        self,
        images: torch.Tensor,
        others: list[torch.Tensor],
        generator: torch.Generator,
        warp: bool,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Flip (one choice per batch) ``images`` and ``others`` alike; when ``warp``, also
        add Gaussian noise to ``images`` (clamped to [0, 1]) and warp all of them with one
        random elastic + rotation + zoom transform per sample."""
        device = images.device
        for dim in range(2 - images.ndim, 0):  # one choice per batch, drawn on the device
            flip = torch.rand((), generator=generator, device=device) < 0.5
            images = torch.where(flip, images.flip(dim), images)
            others = [torch.where(flip, other.flip(dim), other) for other in others]
        if not warp:
            return images, others
        noise = torch.randn(images.shape, generator=generator, device=device, dtype=images.dtype)
        images = (images + self.noise_std * noise).clamp(0.0, 1.0)
        channels = [images.shape[1]] + [other.shape[1] for other in others]
        stacked = torch.cat([images] + [other.to(images.dtype) for other in others], dim=1)
        grid = self.sampling_grid(stacked.shape, generator, device, stacked.dtype)
        warped = F.grid_sample(
            stacked, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        parts = list(torch.split(warped, channels, dim=1))
        return parts[0], parts[1:]

    def sampling_grid(self, shape, generator, device, dtype) -> torch.Tensor:
        """[N, *S, d] input coordinates (normalised) for each output pixel or voxel."""
        if len(shape) == 5:
            return self.sampling_grid_3d(shape, generator, device, dtype)
        n, _, height, width = shape
        angle = torch.deg2rad(_uniform(n, *self.rotation_degrees, generator, device))
        zoom = _uniform(n, *self.zoom, generator, device)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        zeros = torch.zeros_like(cos)
        theta = torch.stack(
            [torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1
        )
        grid = F.affine_grid(theta.to(dtype), [n, 1, height, width], align_corners=False)
        sigma = _uniform(n, *self.displacement_sigma, generator, device).view(n, 1, 1, 1)
        k = self.control_points
        control = torch.randn((n, 2, k, k), generator=generator, device=device) * sigma
        field = F.interpolate(control, size=(height, width), mode="bicubic", align_corners=True)
        scale = torch.tensor(
            [self._normalised(width), self._normalised(height)], device=device
        ).view(1, 2, 1, 1)
        return grid + (field * scale).permute(0, 2, 3, 1).to(dtype)

    def sampling_grid_3d(self, shape, generator, device, dtype) -> torch.Tensor:
        """The 3D transform: in-plane rotation (about the depth axis, as the 2D slices
        see it), isotropic zoom and an elastic displacement of all three axes (random
        control points, trilinearly interpolated)."""
        n, _, depth, height, width = shape
        angle = torch.deg2rad(_uniform(n, *self.rotation_degrees, generator, device))
        zoom = _uniform(n, *self.zoom, generator, device)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        zeros, depth_scale = torch.zeros_like(cos), 1.0 / zoom
        theta = torch.stack(
            [
                torch.stack([cos, -sin, zeros, zeros], 1),  # x (width) from x, y
                torch.stack([sin, cos, zeros, zeros], 1),  # y (height)
                torch.stack([zeros, zeros, depth_scale, zeros], 1),  # z (depth)
            ],
            1,
        )
        grid = F.affine_grid(theta.to(dtype), [n, 1, depth, height, width], align_corners=False)
        sigma = _uniform(n, *self.displacement_sigma, generator, device).view(n, 1, 1, 1, 1)
        k = self.control_points
        control = torch.randn((n, 3, k, k, k), generator=generator, device=device) * sigma
        field = F.interpolate(
            control, size=(depth, height, width), mode="trilinear", align_corners=True
        )
        scale = torch.tensor(
            [self._normalised(width), self._normalised(height), self._normalised(depth)],
            device=device,
        )
        return grid + (field * scale.view(1, 3, 1, 1, 1)).permute(0, 2, 3, 4, 1).to(dtype)
