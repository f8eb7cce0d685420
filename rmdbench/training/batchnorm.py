"""Forward passes that must not move BatchNorm's running statistics.

RMD runs a strong (warped, noised, encoder-dropout) forward of each network in training
mode. In training mode BatchNorm normalises with the batch's statistics and also folds
them into its running estimates, which evaluation uses: after RMD's training about half
of those estimates come from augmented inputs, and clean test images are normalised with
them. Inside ``frozen_running_statistics`` the forward is unchanged (batch statistics,
gradients as usual) but the running estimates are left as they were.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@contextlib.contextmanager
def frozen_running_statistics(module: nn.Module) -> Iterator[None]:
    """Run forward passes of ``module`` without changing any BatchNorm (or InstanceNorm
    with running statistics) buffer.

    The passes inside update copies of the buffers, which are dropped on exit; the
    original tensors are never written. (Writing them back in place would bump their
    version counters, and autograd would then refuse the backward of an earlier pass
    that saved them: RMD's weak passes.)"""
    originals: list[tuple[nn.Module, str, torch.Tensor]] = []
    for layer in module.modules():
        if isinstance(layer, _NormBase) and layer.track_running_stats:
            for name in _BUFFERS:
                buffer = getattr(layer, name, None)
                if buffer is not None:
                    originals.append((layer, name, buffer))
                    setattr(layer, name, buffer.detach().clone())
    try:
        yield
    finally:
        for layer, name, buffer in originals:
            setattr(layer, name, buffer)
