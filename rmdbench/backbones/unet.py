"""The paper's U-Net (milesial layout: double 3x3 conv + BatchNorm, max-pool down,
bilinear up, a DoubleConv of the output width after each concatenation), in 2D and 3D.
In 2D, base width 64 gives the released code's 13,394,177 parameters; the 3D one is the
same network with 3x3x3 convolutions and trilinear upsampling (BraTS volumes)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from rmdbench.backbones.base import Backbone
from rmdbench.registry import BACKBONES

CONVOLUTION = {2: nn.Conv2d, 3: nn.Conv3d}
NORMALISATION = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
MAX_POOL = {2: F.max_pool2d, 3: F.max_pool3d}
UPSAMPLING = {2: "bilinear", 3: "trilinear"}


class DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, spatial_dims: int = 2) -> None:
        conv, norm = CONVOLUTION[spatial_dims], NORMALISATION[spatial_dims]
        super().__init__(
            conv(in_channels, out_channels, 3, padding=1),
            norm(out_channels),
            nn.ReLU(inplace=True),
            conv(out_channels, out_channels, 3, padding=1),
            norm(out_channels),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        self.mode = UPSAMPLING[spatial_dims]
        self.conv = DoubleConv(in_channels, out_channels, spatial_dims)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        deep = F.interpolate(deep, scale_factor=2, mode=self.mode, align_corners=True)
        pads = []
        for axis in range(-1, -deep.ndim + 1, -1):  # F.pad lists the last axis first
            missing = skip.shape[axis] - deep.shape[axis]
            pads += [missing // 2, missing - missing // 2]
        if any(pads):
            deep = F.pad(deep, pads)
        return self.conv(torch.cat([skip, deep], dim=1))


class UNet(Backbone):
    """Depth-4 U-Net; widths w, 2w, 4w, 8w, 8w in the encoder."""

    #: four 2x poolings: a smaller crop leaves the bottom stage nothing to pool
    min_crop: ClassVar[int] = 16

    @classmethod
    def draws_random_numbers(cls, params: dict) -> bool:
        return False  # no dropout of its own

    spatial_dims: ClassVar[int] = 2

    def __init__(self, in_channels: int = 1, out_channels: int = 1, base_width: int = 64) -> None:
        super().__init__()
        w, dims = base_width, self.spatial_dims
        self.encoder = nn.ModuleList(
            [
                DoubleConv(in_channels, w, dims),
                DoubleConv(w, 2 * w, dims),
                DoubleConv(2 * w, 4 * w, dims),
                DoubleConv(4 * w, 8 * w, dims),
                DoubleConv(8 * w, 8 * w, dims),
            ]
        )
        self.decoder = nn.ModuleList(
            [
                Up(16 * w, 4 * w, dims),
                Up(8 * w, 2 * w, dims),
                Up(4 * w, w, dims),
                Up(2 * w, w, dims),
            ]
        )
        self.head = CONVOLUTION[dims](w, out_channels, 1)

    def forward(self, images: torch.Tensor, feature_dropout: bool = False) -> torch.Tensor:
        skips = []
        features = images
        pool = MAX_POOL[self.spatial_dims]
        for stage, block in enumerate(self.encoder):
            if stage > 0:
                features = pool(features, 2)
            features = self.augment_features(block(features), stage, feature_dropout)
            skips.append(features)
        features = skips.pop()
        for up in self.decoder:
            features = up(features, skips.pop())
        return self.head(features)


@BACKBONES.register("unet2d")
class UNet2D(UNet):
    """The paper's 2D U-Net."""

    spatial_dims = 2


@BACKBONES.register("unet3d")
class UNet3D(UNet):
    """The same U-Net on volumes [N, C, D, H, W] (crops of at least 16 voxels a side)."""

    spatial_dims = 3
