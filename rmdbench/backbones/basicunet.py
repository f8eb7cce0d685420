"""MONAI's ``BasicUNet`` as a backbone: a second, independently written U-Net (LeakyReLU,
instance normalisation, transposed-convolution upsampling), in 2D or 3D, so a result can be
checked on a network that is not the paper's.

monai is an optional dependency: it is imported only when this backbone is chosen or
built, and choosing it without monai installed is a one-line error naming
``pip install "rmdbench[monai]"``. The encoder stages are MONAI's own modules; ``forward``
runs them in
MONAI's order and adds the model augmentation every backbone offers (dropout after each
encoder stage, ``feature_dropout=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from rmdbench.backbones.base import Backbone
from rmdbench.errors import UserError
from rmdbench.registry import BACKBONES

#: MONAI's default features (32, 32, 64, 128, 256, 32) as multiples of its first width: a
#: profile's base width w gives (w, w, 2w, 4w, 8w, w)
WIDTH_MULTIPLES = (1, 1, 2, 4, 8, 1)
INSTALL_FIX = 'pip install "rmdbench[monai]"'
NORMALISATION = {"instance": ("instance", {"affine": True}), "batch": "batch"}


class MonaiMissing(UserError):
    """The ``basicunet`` backbone was chosen where monai is not installed."""

    def __init__(self) -> None:
        super().__init__(
            f"backbone 'basicunet' needs monai, which is not installed; run: {INSTALL_FIX} "
            "(or choose another backbone: rmdbench list backbones)"
        )


@dataclass(frozen=True)
class BasicUNetParams:
    """features: six widths (encoder 1-5, the last decoder stage), e.g. 16-16-32-64-128-16;
    empty: derived from the profile's base_width w as (w, w, 2w, 4w, 8w, w). dropout: MONAI's
    own dropout in every block (model augmentation is separate). upsample: deconv,
    pixelshuffle or nontrainable. norm: instance (MONAI's default) or batch."""

    features: tuple[int, ...] = ()
    dropout: float = 0.0
    upsample: Literal["deconv", "pixelshuffle", "nontrainable"] = "deconv"
    norm: Literal["instance", "batch"] = "instance"

    def __post_init__(self) -> None:
        if self.features and (len(self.features) != len(WIDTH_MULTIPLES) or min(self.features) < 1):
            raise ValueError(
                f"features must be {len(WIDTH_MULTIPLES)} positive widths, e.g. "
                f"features=16-16-32-64-128-16, got {'-'.join(map(str, self.features))}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def features_for(params: BasicUNetParams, base_width: int) -> tuple[int, ...]:
    """The six widths: the given ones, or the profile's width scaled like MONAI's default."""
    return tuple(params.features) or tuple(base_width * m for m in WIDTH_MULTIPLES)


def import_basic_unet() -> type:
    """monai's BasicUNet class, or the one-line MonaiMissing error."""
    try:
        from monai.networks.nets import BasicUNet
    except ImportError:
        raise MonaiMissing() from None
    return BasicUNet


@BACKBONES.register("basicunet")
class BasicUNetBackbone(Backbone):
    """MONAI's BasicUNet (needs monai), 2D or 3D as the data; widths from base_width."""

    Params: ClassVar[type] = BasicUNetParams
    supported_dims: ClassVar[tuple[int, ...]] = (2, 3)
    #: four poolings leave crop / 16 px, and instance normalisation needs more than one
    min_crop: ClassVar[int] = 32

    @classmethod
    def draws_random_numbers(cls, params: dict) -> bool:
        return float(params.get("dropout", BasicUNetParams.dropout)) > 0  # MONAI's dropout

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_width: int = 32,
        params: BasicUNetParams | None = None,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        params = params or BasicUNetParams()
        self.spatial_dims = spatial_dims  # this instance's, of the class's supported ones
        self.net = import_basic_unet()(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            features=features_for(params, base_width),
            norm=NORMALISATION[params.norm],
            dropout=params.dropout,
            upsample=params.upsample,
        )

    @classmethod
    def check_available(cls) -> None:
        """monai importable (only when basicunet is chosen: it takes a second to import)."""
        import_basic_unet()

    @classmethod
    def build(
        cls,
        in_channels: int,
        out_channels: int,
        base_width: int,
        *,
        spatial_dims: int,
        params: object | None = None,
    ) -> Backbone:
        return cls(in_channels, out_channels, base_width, params, spatial_dims)

    def forward(self, images: torch.Tensor, feature_dropout: bool = False) -> torch.Tensor:
        net = self.net
        encoder = (net.conv_0, net.down_1, net.down_2, net.down_3, net.down_4)
        skips = []
        features = images
        for stage, block in enumerate(encoder):
            features = self.augment_features(block(features), stage, feature_dropout)
            skips.append(features)
        x0, x1, x2, x3, x4 = skips
        up = net.upcat_4(x4, x3)
        up = net.upcat_3(up, x2)
        up = net.upcat_2(up, x1)
        up = net.upcat_1(up, x0)
        return net.final_conv(up)
