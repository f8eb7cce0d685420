"""The paper's 2D U-Net (milesial layout: double 3x3 conv + BatchNorm, max-pool down,
bilinear up, a DoubleConv of the output width after each concatenation); base width 64
gives the released code's 13,394,177 parameters."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from rmdbench.backbones.base import Backbone
from rmdbench.registries import BACKBONES


class DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        deep = F.interpolate(deep, scale_factor=2, mode="bilinear", align_corners=True)
        dy, dx = skip.shape[-2] - deep.shape[-2], skip.shape[-1] - deep.shape[-1]
        if dy or dx:
            deep = F.pad(deep, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, deep], dim=1))


@BACKBONES.register("unet2d")
class UNet2D(Backbone):
    """Depth-4 U-Net; widths w, 2w, 4w, 8w, 8w in the encoder."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, base_width: int = 64) -> None:
        super().__init__()
        w = base_width
        self.encoder = nn.ModuleList(
            [
                DoubleConv(in_channels, w),
                DoubleConv(w, 2 * w),
                DoubleConv(2 * w, 4 * w),
                DoubleConv(4 * w, 8 * w),
                DoubleConv(8 * w, 8 * w),
            ]
        )
        self.decoder = nn.ModuleList(
            [Up(16 * w, 4 * w), Up(8 * w, 2 * w), Up(4 * w, w), Up(2 * w, w)]
        )
        self.head = nn.Conv2d(w, out_channels, 1)

    def forward(self, images: torch.Tensor, feature_dropout: bool = False) -> torch.Tensor:
        skips = []
        features = images
        for stage, block in enumerate(self.encoder):
            if stage > 0:
                features = F.max_pool2d(features, 2)
            features = self.augment_features(block(features), stage, feature_dropout)
            skips.append(features)
        features = skips.pop()
        for up in self.decoder:
            features = up(features, skips.pop())
        return self.head(features)
