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
