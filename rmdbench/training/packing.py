"""Several runs of one method as one set of batched kernels (``torch.func.vmap``).

K instances of a method (same class, same parameters; typically K seeds) are stacked
parameter by parameter (``torch.func.stack_module_state``), and one training step of all
K is the method's own ``training_step`` under ``vmap``: every convolution becomes one
grouped kernel over the K runs instead of K small ones. Run k only ever touches slice k
of each stacked tensor, and one Adam over the stacked tensors is K Adams (Adam is
element-wise), so a packed step equals K unpacked steps on the same batches, up to the
order in which a packed convolution sums (as a change of thread count does; over a whole
run that noise can move a pixel across a selection threshold, so packed and unpacked
runs agree in distribution, not bit for bit).

That holds for methods whose step draws no random numbers (``single``, ``coteaching``,
``jocor``, ``trinet``). A method that draws from ``StepState.generator``
or from dropout (``rmd``'s strong views) gets its draws from one packed stream under
``vmap(randomness="different")``: a valid run, but not the unpacked run of the same
seed, so such methods say ``packs_exactly = False`` and must not share an unpacked run's
identity. Packing is measured by ``rmdbench bench --pack K``; a sweep trains packs of runs
that differ by seed only with ``--pack K`` (``rmdbench.training.packed_fit``,
``rmdbench.executors.pack``), for methods that pack exactly.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from rmdbench.contracts.method import Method, StepState


class _TrainingStep(nn.Module):
    """A method's ``training_step`` as a module's forward, so ``functional_call`` can run
    it with any (stacked) parameters; returns the loss and its named terms."""

    def __init__(self, method: Method, generator: torch.Generator) -> None:
        super().__init__()
        self.method = method
        self.generator = generator

    def forward(self, images: torch.Tensor, labels: torch.Tensor, progress: float):
        output = self.method.training_step(images, labels, StepState(progress, self.generator))
        logs = {key: torch.as_tensor(value) for key, value in output.logs.items()}
        return output.loss, output.named_terms(), logs


class PackedMethods:
    """K instances of one method whose training steps run as one vmapped step.

    ``parameters`` are leaf tensors with a leading run axis of size K (give them to one
    optimiser); ``buffers`` (BatchNorm statistics) likewise, updated in place by the
    step. ``unpack`` writes slice k back into instance k (for evaluation and records)."""

    def __init__(self, methods: list[Method], generator: torch.Generator | None = None) -> None:
        if not methods:
            raise ValueError("packing needs at least one run")
        first = methods[0]
        for method in methods[1:]:
            if type(method) is not type(first) or method.params != first.params:
                raise ValueError("packed runs must be one method with the same parameters")
        self.methods = methods
        self.generator = generator or torch.Generator(device=_device_of(first))
        template = _TrainingStep(copy.deepcopy(first), self.generator)
        self.template = template.to("meta")
        parameters, self.buffers = stack_module_state(
            [_TrainingStep(method, self.generator) for method in methods]
        )
        # a parameter frozen in the method (requires_grad False) stays frozen in the pack
        frozen = {
            name
            for name, p in _TrainingStep(first, self.generator).named_parameters()
            if not p.requires_grad
        }
        # contiguous: vmap cannot query a channels-last tensor's layout on CUDA (BatchNorm
        # asks), and each run's own method keeps its layout for evaluation
        self.parameters = {
            name: value.detach().contiguous().requires_grad_(name not in frozen)
            for name, value in parameters.items()
        }
        self.buffers = {name: value.contiguous() for name, value in self.buffers.items()}

    @property
    def size(self) -> int:
        return len(self.methods)

    @property
    def trainable(self) -> list[torch.Tensor]:
        """The stacked parameters an optimiser steps: those the method trains (a parameter
        it froze gets no gradient unpacked, so none packed either)."""
        return [value for value in self.parameters.values() if value.requires_grad]

    def training_step(
        self, images: torch.Tensor, labels: torch.Tensor, progress: float
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of every run, shape [K], and its terms (each [K]), from batches stacked
        on a leading run axis: ``images`` [K, N, C, *S], ``labels`` [K, N, 1, *S]. Minimise
        ``loss.sum()``: run k's gradient reaches only run k's slice."""
        loss, terms, _ = self.step(images, labels, progress)
        return loss, terms

    def step(
        self, images: torch.Tensor, labels: torch.Tensor, progress: float
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``training_step``'s loss and terms, and the step's logs (each [K]), which a
        packed training loop records per run as ``Trainer.fit`` does."""

        def one_run(parameters, buffers, images, labels):
            return functional_call(self.template, (parameters, buffers), (images, labels, progress))

        return vmap(one_run, randomness="different")(self.parameters, self.buffers, images, labels)

    def unpack(self) -> list[Method]:
        """The K methods with their trained parameters and statistics copied back."""
        with torch.no_grad():
            for index, method in enumerate(self.methods):
                step = _TrainingStep(method, self.generator)
                own = {**dict(step.named_parameters()), **dict(step.named_buffers())}
                for name, stacked in {**self.parameters, **self.buffers}.items():
                    own[name].copy_(stacked[index])
        return self.methods


def _device_of(method: Method) -> torch.device:
    return next(method.parameters()).device
