"""What every backbone offers the methods: logits out, and model augmentation on request."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

#: RMD's model augmentation: dropout after each encoder stage, shallow to deep.
DEFAULT_ENCODER_DROPOUT = (0.05, 0.1, 0.2, 0.3, 0.5)


class Backbone(nn.Module):
    """A network mapping images [N, C, *S] to logits [N, K, *S]; ``spatial_dims`` says
    whether S is (H, W) or (D, H, W).

    ``forward(x, feature_dropout=True)`` switches on model augmentation for that call
    only: element-wise dropout after encoder stage i with probability
    ``encoder_dropout[i]`` (in training mode). Subclasses call ``self.augment_features``
    on the output of each encoder stage so every backbone supports it the same way.
    """

    spatial_dims: ClassVar[int] = 2
    #: the data dimensionalities it builds for; empty: only ``spatial_dims``. A backbone
    #: that takes several (``basicunet``) is told which by ``build``.
    supported_dims: ClassVar[tuple[int, ...]] = ()
    #: a frozen dataclass of its parameters (``--backbone name[key=value]``); None: it has
    #: none and is built as ``cls(in_channels, out_channels, base_width)``
    Params: ClassVar[type | None] = None
    #: the smallest crop (px per side) it trains on; a profile with a smaller crop_size is
    #: refused when the sweep is planned
    min_crop: ClassVar[int] = 1

    @classmethod
    def dims(cls) -> tuple[int, ...]:
        """The data dimensionalities (2, 3) this backbone can be built for."""
        return tuple(cls.supported_dims) or (cls.spatial_dims,)

    @classmethod
    def draws_random_numbers(cls, params: dict) -> bool:
        """Whether a training forward with these parameters (``--backbone``'s, resolved)
        draws random numbers (dropout of its own; ``feature_dropout`` is the method's
        business): packed runs draw those from one stream for all K, so such a network
        never packs. A backbone that does not say: True."""
        return True

    @classmethod
    def check_available(cls) -> None:
        """Raise a UserError naming the fix when something the backbone needs (an optional
        package) is missing: called when a sweep is planned, before anything is written."""

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
        """The network for one run: data of ``spatial_dims`` with ``in_channels`` channels,
        ``out_channels`` logits, the profile's ``base_width`` and the resolved ``params``
        (an instance of ``Params``). The default suits a backbone of one dimensionality;
        one with ``Params`` receives them as a fourth argument."""
        if params is None:
            return cls(in_channels, out_channels, base_width)
        return cls(in_channels, out_channels, base_width, params)

    def __init__(self, encoder_dropout: tuple[float, ...] = DEFAULT_ENCODER_DROPOUT) -> None:
        super().__init__()
        self.encoder_dropout = encoder_dropout

    def augment_features(self, features: torch.Tensor, stage: int, enabled: bool) -> torch.Tensor:
        if not enabled or not self.training:
            return features
        rate = self.encoder_dropout[min(stage, len(self.encoder_dropout) - 1)]
        return F.dropout(features, p=rate, training=True)

    def forward(self, images: torch.Tensor, feature_dropout: bool = False) -> torch.Tensor:
        raise NotImplementedError
