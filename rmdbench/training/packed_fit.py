"""K runs of one method trained together: one vmapped step per iteration
(``rmdbench.training.packing``), each run with its own streams, batches and labels.

The runs share a method and its parameters, a profile (so a ``Trainer``) and a dataset
(so one validation set), and differ by seed: run k draws its permutation and flips from
its own ``RandomStreams``, trains on its own noisy labels, and starts from its own
weights. Each iteration stacks the K batches on a leading run axis [K, N, ...] and takes
one step of all K; one Adam over the stacked parameters is K Adams (element-wise), on
``fit``'s learning-rate and beta1 plan. Each epoch writes the trained slices back into the
K methods (``PackedMethods.unpack``) and validates each on its own, so every run gets
``fit``'s curve rows, best epochs and gradient shares for itself, built by the same
``EpochPlan`` and ``Trainer`` helpers.

A run whose loss stops being finite fails alone, with ``fit``'s ``NonFiniteLossError``;
its slice keeps training (nothing of it reaches the others' slices) but nothing of it is
recorded after that epoch. The pack's wall time is shared: every run's ``train_seconds``
and epoch ``seconds`` are the pack's (K runs trained in that time, not one).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.profiler import record_function

from rmdbench.contracts.method import Method
from rmdbench.training import diagnostics
from rmdbench.training.augment import random_sample_flips
from rmdbench.training.model_selection import BestEpochs
from rmdbench.training.packing import PackedMethods
from rmdbench.training.streams import RandomStreams
from rmdbench.training.trainer import (
    DeviceData,
    NonFiniteLossError,
    Trainer,
    TrainResult,
    accumulate,
)

OnEpoch = Callable[[int, int, dict], None]


def check_packable(methods: list[Method], trains: list[DeviceData], seeds: list[int]) -> None:
    """Runs that cannot share one vmapped step are a ``ValueError``: a method that does not
    pack exactly, another method or parameters (``PackedMethods`` checks), training sets
    of other shapes (another dataset or profile), or lists of other lengths."""
    if not methods or not len(methods) == len(trains) == len(seeds):
        raise ValueError("a pack needs one training set and one seed per run, at least one run")
    if not type(methods[0]).packs_exactly:
        raise ValueError(
            f"method '{methods[0].name}' does not pack exactly (its step draws random "
            "numbers); train its runs one by one"
        )
    shapes = {(tuple(train.images.shape), tuple(train.labels.shape)) for train in trains}
    if len(shapes) != 1:
        raise ValueError(
            "packed runs must train on one dataset and profile (training sets of one shape); "
            f"got {sorted(shapes)}"
        )


def fit_packed(
    trainer: Trainer,
    methods: list[Method],
    trains: list[DeviceData],
    val: DeviceData,
    seeds: list[int],
    noisy_val_labels: list[torch.Tensor | None] | None = None,
    on_epochs: list[OnEpoch | None] | None = None,
) -> list[TrainResult | NonFiniteLossError]:
    """Train run k = (``methods[k]``, ``trains[k]``, ``seeds[k]``) for the profile's epochs,
    all K in one vmapped step; per run, ``fit``'s result for it (the method left at its
    last state) or the ``NonFiniteLossError`` that ended it. ``noisy_val_labels[k]``:
    run k's corrupted validation labels (``val_noisy_dsc``); ``on_epochs[k]``: run k's
    ``Trainer.on_epoch``. No checkpointing, no ``torch.compile``: a packed sweep refuses
    both."""
    check_packable(methods, trains, seeds)
    if trainer.compile_networks:
        raise ValueError("packed runs do not compile their networks; train them one by one")
    count = len(methods)
    noisy_val_labels = noisy_val_labels or [None] * count
    on_epochs = on_epochs or [None] * count
    for method, train in zip(methods, trains, strict=True):
        trainer.prepare(method, train.spatial_dims)
    # one stream per run and purpose, as ``fit`` makes them (the last seeds torch's global
    # generator: no exact method draws from it)
    streams = [RandomStreams.for_run(seed, trainer.device) for seed in seeds]
    packed = PackedMethods(methods)
    optimiser = trainer.optimiser_for(packed.trainable)
    plan = trainer.epoch_plan(trains[0])
    results = [TrainResult() for _ in methods]
    failures: list[NonFiniteLossError | None] = [None] * count
    best = [BestEpochs() for _ in methods]
    epoch_seconds: list[float] = []
    start = time.perf_counter()
    for epoch in range(trainer.epochs):
        if all(failures):
            break
        packed.template.train()  # the module the vmapped step runs; validation sets eval
        epoch_start = time.perf_counter()
        orders = [
            torch.randperm(len(train), generator=run.order, device=trainer.device)
            for train, run in zip(trains, streams, strict=True)
        ]
        sums: dict[str, torch.Tensor] = {}
        diagnosed_sums: list[dict[str, torch.Tensor]] = [{} for _ in methods]
        for index in range(plan.per_epoch):
            batches = [plan.batch(order, index) for order in orders]
            logs, measured = packed_iteration(
                trainer,
                packed,
                optimiser,
                trains,
                batches,
                plan.progress(epoch, index),
                streams,
                index in plan.diagnosed,
            )
            accumulate(sums, logs)
            for run, values in zip(diagnosed_sums, measured, strict=True):
                accumulate(run, values)
        epoch_seconds.append(trainer.epoch_seconds(epoch_start))  # the pack's, shared
        host_sums = {key: value.tolist() for key, value in sums.items()}  # one sync
        packed.unpack()
        for k, method in enumerate(methods):
            if failures[k] is not None:
                continue
            run_sums = {key: values[k] for key, values in host_sums.items()}
            try:
                row = plan.training_row(epoch, run_sums, diagnosed_sums[k])
            except NonFiniteLossError as error:
                failures[k] = error
                continue
            trainer.complete_row(
                row, optimiser, method, val, noisy_val_labels[k], epoch_seconds[-1]
            )
            results[k].curve.append(row)
            best[k].update(epoch, row, method.state_dict())
            if on_epochs[k] is not None:
                on_epochs[k](epoch, trainer.epochs, row)
    seconds = time.perf_counter() - start  # every run's train_seconds: the pack's wall time
    for result, held in zip(results, best, strict=True):
        result.best = held.best
        plan.finish(result, epoch_seconds, seconds)
    return [failure or result for failure, result in zip(failures, results, strict=True)]


def packed_iteration(
    trainer: Trainer,
    packed: PackedMethods,
    optimiser: torch.optim.Optimizer,
    trains: list[DeviceData],
    batches: list[torch.Tensor],
    progress: float,
    streams: list[RandomStreams],
    diagnose: bool = False,
) -> tuple[dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]:
    """One iteration of every run: each run's batch and flips from its own streams,
    stacked [K, N, ...], one vmapped step, one backward of the summed loss (run k's
    gradient reaches only slice k), one Adam step. Returns the logs, each [K], and with
    ``diagnose`` each run's term gradient norms and shares (``Trainer.train_iteration``'s),
    measured on its slice of the stacked gradients."""
    with record_function("data"):
        trainer.set_optimiser_plan(optimiser, progress)
        flipped = [
            random_sample_flips(train.images[batch], train.labels[batch], run.flips)
            for train, batch, run in zip(trains, batches, streams, strict=True)
        ]
        images = torch.stack([images for images, _ in flipped]).contiguous()
        labels = torch.stack([labels for _, labels in flipped]).contiguous()
    with record_function("step"), trainer.autocast():
        loss, terms, logs = packed.step(images, labels, progress)
    parameters = packed.trainable
    if diagnose:
        with record_function("diagnostics"):
            # the gradient of a term summed over the runs, sliced at k, is run k's
            totals = {name: term.sum() for name, term in terms.items()}
            partial = diagnostics.partial_gradients(totals, parameters)
    with record_function("backward"):
        optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()
    measured: list[dict[str, torch.Tensor]] = [{} for _ in trains]
    if diagnose:
        with record_function("diagnostics"):
            names = list(terms)
            measured = [run_term_logs(names, partial, parameters, k) for k in range(len(trains))]
    with record_function("optimiser"):
        optimiser.step()
    return logs, measured


def run_term_logs(
    names: list[str],
    partial: dict[str, list[torch.Tensor | None]],
    parameters: list[torch.Tensor],
    k: int,
) -> dict[str, torch.Tensor]:
    """Run k's ``grad_norm_<term>`` and ``grad_share_<term>``: slice k of each stacked
    term gradient and of the full gradient (filled by the training backward)."""

    def run_slice(gradients: list[torch.Tensor | None]) -> list[torch.Tensor | None]:
        return [None if gradient is None else gradient[k] for gradient in gradients]

    own = {name: run_slice(gradients) for name, gradients in partial.items()}
    full = run_slice([parameter.grad for parameter in parameters])
    return diagnostics.term_logs(diagnostics.norms_from_gradients(names, own, full))
