"""Small-loss selection without sorting: a boolean mask of the k smallest values.

``topk`` runs on whichever side is smaller (keep 99.5% -> find the 0.5% to drop), which
is 10x cheaper than the argsort of the released code at these sizes. Ties at the
threshold are broken by ``topk``'s order, so exactly ``keep`` entries are selected.
"""

from __future__ import annotations

import torch
from torch.profiler import record_function


@record_function("selection")
def smallest_mask(values: torch.Tensor, keep: int) -> torch.Tensor:
    """Boolean mask (shape of ``values``) marking exactly ``keep`` smallest entries.
    Out of place (a scatter into a mask shaped like ``values``), so that it also works
    per run under ``torch.func.vmap`` when several runs train packed."""
    flat = values.detach().reshape(-1)
    total = flat.numel()
    keep = max(0, min(int(keep), total))
    if keep == total:
        return torch.ones_like(values, dtype=torch.bool)
    if keep == 0:
        return torch.zeros_like(values, dtype=torch.bool)
    if keep <= total - keep:
        chosen = torch.topk(flat, keep, largest=False, sorted=False).indices
        mask = torch.zeros_like(flat, dtype=torch.bool).scatter(0, chosen, True)
    else:
        dropped = torch.topk(flat, total - keep, largest=True, sorted=False).indices
        mask = torch.ones_like(flat, dtype=torch.bool).scatter(0, dropped, False)
    return mask.view_as(values)


def kept_count(total: int, fraction: float) -> int:
    """floor(fraction * total), clamped to [0, total]."""
    return max(0, min(total, int(fraction * total)))


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ``mask``; 0 (with gradient) when the mask is empty."""
    count = mask.sum().clamp_min(1)
    return (values * mask).sum() / count
