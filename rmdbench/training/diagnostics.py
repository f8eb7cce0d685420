"""Loss-term diagnostics: how much of the gradient each named loss term gives.

A method's loss is a sum of named terms (``StepOutput.terms``). A term can be present in
the code and absent from the training: RMD's distillation at its released weight gives
about 2e-4 of the gradient. The trainer therefore samples, a few times per epoch on the
batch of that iteration, the gradient of each term over all of the method's parameters,
and records per epoch ``grad_norm_<term>`` and ``grad_share_<term>``: the term's norm over
the sum of all terms' norms (so shares add up to 1). Reports flag a term whose share stays
below ``INACTIVE_SHARE`` in every epoch after the warm-up ramps.

Cost: T - 1 extra backward passes on the sampled iterations of a method with T terms (the
last term's gradient is the full gradient minus the others'), none for a one-term method.
"""

from __future__ import annotations

import math

import pandas as pd
import torch

#: below this share of the gradient, in every epoch after warm-up, a term does nothing
INACTIVE_SHARE = 1e-3
#: sampled iterations per epoch (evenly spaced): at 2, RMD's quick-profile run costs ~2 %
SAMPLES_PER_EPOCH = 2
SHARE_PREFIX = "grad_share_"
NORM_PREFIX = "grad_norm_"


def sampled_iterations(per_epoch: int, samples: int = SAMPLES_PER_EPOCH) -> frozenset[int]:
    """The iterations of an epoch (0-based) whose term gradients are measured."""
    samples = min(samples, per_epoch)
    return frozenset(int((i + 0.5) * per_epoch / samples) for i in range(samples))


def _norm(gradients: list[torch.Tensor | None]) -> torch.Tensor:
    squares = [g.float().square().sum() for g in gradients if g is not None]
    return torch.stack(squares).sum().sqrt() if squares else torch.zeros(())


def partial_gradients(
    terms: dict[str, torch.Tensor], parameters: list[torch.nn.Parameter]
) -> dict[str, list[torch.Tensor | None]]:
    """The gradients of every term but the last, before the training backward (the graph
    is kept for it). The last comes from ``term_norms`` after that backward."""
    names = list(terms)[:-1]
    return {
        name: list(
            torch.autograd.grad(terms[name], parameters, retain_graph=True, allow_unused=True)
        )
        if terms[name].requires_grad
        else [None] * len(parameters)
        for name in names
    }


def term_norms(
    names: list[str],
    partial: dict[str, list[torch.Tensor | None]],
    parameters: list[torch.nn.Parameter],
) -> dict[str, torch.Tensor]:
    """Each term's gradient norm, once the training backward has filled ``.grad`` with the
    full gradient: the last term's gradient is the full one minus the others'."""
    return norms_from_gradients(names, partial, [parameter.grad for parameter in parameters])


def norms_from_gradients(
    names: list[str],
    partial: dict[str, list[torch.Tensor | None]],
    full: list[torch.Tensor | None],
) -> dict[str, torch.Tensor]:
    """``term_norms`` from the full gradient given per parameter (None: not reached), so
    a packed run measures its own slice of stacked gradients."""
    norms = {name: _norm(partial[name]) for name in names[:-1]}
    last = []
    for index, gradient in enumerate(full):
        if gradient is None:
            continue
        rest = gradient.float()
        for name in names[:-1]:
            if partial[name][index] is not None:
                rest = rest - partial[name][index].float()
        last.append(rest)
    norms[names[-1]] = _norm(last)
    return norms


def term_logs(norms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``grad_norm_<term>`` and ``grad_share_<term>`` (on the device, no host sync)."""
    total = torch.stack([norm.to(torch.float32) for norm in norms.values()]).sum()
    total = total.clamp_min(torch.finfo(torch.float32).tiny)
    logs = {NORM_PREFIX + name: norm.detach() for name, norm in norms.items()}
    logs.update({SHARE_PREFIX + name: (norm / total).detach() for name, norm in norms.items()})
    return logs


def warm_epochs(epochs: int, ramp_end: float) -> list[int]:
    """The epochs that start once the warm-up ramps are over (every epoch if none does)."""
    after = [epoch for epoch in range(epochs) if epoch / epochs >= ramp_end - 1e-12]
    return after or list(range(epochs))


def warm_rows(curve: pd.DataFrame, ramp_end: float) -> pd.Series:
    """Which rows of a run's curve are epochs after warm-up (the run's epochs: its curve's)."""
    epochs = int(curve["epoch"].max()) + 1
    return curve["epoch"].isin(warm_epochs(epochs, ramp_end))


def term_shares(curve: pd.DataFrame) -> dict[str, pd.Series]:
    """The recorded share of each term per epoch (empty for a run made without them)."""
    return {
        column[len(SHARE_PREFIX) :]: curve[column]
        for column in curve.columns
        if column.startswith(SHARE_PREFIX)
    }


def inactive_terms(curve: pd.DataFrame, ramp_end: float) -> list[str]:
    """The terms whose gradient share stays below ``INACTIVE_SHARE`` in every epoch after
    warm-up: present in the loss, absent from the training."""
    if curve.empty or "epoch" not in curve:
        return []
    warm = warm_rows(curve, ramp_end)
    found = []
    for name, shares in term_shares(curve).items():
        values = shares[warm].dropna()
        if len(values) and bool((values < INACTIVE_SHARE).all()):
            found.append(name)
    return found


def mean_share_after_warmup(curve: pd.DataFrame, ramp_end: float) -> dict[str, float]:
    """Each term's mean gradient share over the epochs after warm-up (NaN if unmeasured)."""
    if curve.empty or "epoch" not in curve:
        return {}
    warm = warm_rows(curve, ramp_end)
    return {
        name: float(shares[warm].mean()) if warm.any() else math.nan
        for name, shares in term_shares(curve).items()
    }
