"""What makes two methods comparable run for run: common random numbers (the same batches,
flips and initial weights for every method of a seed), one prediction rule, RMD's BatchNorm
and warp switches, and the loss-term diagnostics that show when a term does nothing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rmdbench.backbones.unet import UNet2D
from rmdbench.contracts.method import Method, MethodContext, StepOutput, StepState
from rmdbench.plugins import load_builtins
from rmdbench.registry import METHODS
from rmdbench.training import diagnostics
from rmdbench.training.augment import REFERENCE_SIZE, StrongAugmentation
from rmdbench.training.batchnorm import frozen_running_statistics
from rmdbench.training.streams import RandomStreams
from rmdbench.training.trainer import DeviceData, Trainer

load_builtins()


def context(init_seed: int | None = 7) -> MethodContext:
    return MethodContext(build_backbone=lambda: UNet2D(1, 1, 4), init_seed=init_seed)


def toy_data(n: int = 12, size: int = 16) -> DeviceData:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, size, size, generator=generator)
    # each case is marked by its index, so a batch's cases can be read back from its images
    images[:, 0, 0, 0] = torch.arange(n) / 100
    return DeviceData(images, (images > 0.5).float())


def trainer(epochs: int = 3, diagnostic_samples: int = 0) -> Trainer:
    return Trainer(
        epochs=epochs,
        batch_size=4,
        learning_rate=1e-3,
        eval_batch_size=4,
        device=torch.device("cpu"),
        diagnostic_samples=diagnostic_samples,
    )


def seen_batches(name: str, options: dict | None = None, seed: int = 3) -> list[torch.Tensor]:
    """The images every training step of ``name`` received (after the trainer's flips)."""
    method = METHODS.get(name).create(options or {}, context())
    seen = []
    original = method.training_step

    def recording(images, labels, state):
        seen.append(images.detach().clone())
        return original(images, labels, state)

    method.training_step = recording
    trainer().fit(method, toy_data(), toy_data(4), seed=seed)
    return seen


# common random numbers ---------------------------------------------------------------


def test_every_method_sees_the_same_batches_in_the_same_order_with_the_same_flips():
    single = seen_batches("single")
    assert len(single) == 9  # 3 epochs of 3 batches
    for other in ("coteaching", "trinet", "rmd"):
        batches = seen_batches(other)
        assert len(batches) == len(single)
        for mine, theirs in zip(single, batches, strict=True):
            assert torch.equal(mine, theirs), other  # same cases, same order, same flips
    # and another seed is another sequence (the check above could not pass by accident)
    other_seed = seen_batches("single", seed=4)
    assert not all(torch.equal(a, b) for a, b in zip(single, other_seed, strict=True))


def test_network_k_of_every_method_starts_from_the_same_weights():
    built = {name: METHODS.get(name).create({}, context()) for name in METHODS.names()}
    for name, method in built.items():
        for k, network in enumerate(method.networks):
            reference = built["trinet"].networks[k]
            for mine, theirs in zip(network.parameters(), reference.parameters(), strict=True):
                assert torch.equal(mine, theirs), (name, k)
    coteaching = built["coteaching"].networks
    assert not torch.equal(next(coteaching[0].parameters()), next(coteaching[1].parameters()))


def test_rmd_without_distillation_is_coteaching_bit_for_bit():
    results = {}
    for name, options in (("coteaching", {}), ("rmd", {"distill": False})):
        method = METHODS.get(name).create(options, context())
        trainer().fit(method, toy_data(), toy_data(4), seed=5)
        results[name] = [p.detach().clone() for p in method.parameters()]
    for a, b in zip(results["coteaching"], results["rmd"], strict=True):
        assert torch.equal(a, b)


def test_the_streams_are_independent_of_each_other_and_reproducible():
    first, again = RandomStreams.for_run(1, torch.device("cpu")), RandomStreams.for_run(1, "cpu")
    torch.rand(1000, generator=first.method)  # a method that draws a lot...
    assert torch.equal(torch.rand(4, generator=first.order), torch.rand(4, generator=again.order))
    assert torch.equal(torch.rand(4, generator=first.flips), torch.rand(4, generator=again.flips))
    other = RandomStreams.for_run(2, torch.device("cpu"))
    assert not torch.equal(
        torch.rand(4, generator=other.order), torch.rand(4, generator=again.order)
    )


# one prediction rule -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["coteaching", "jocor", "trinet", "rmd"])
def test_multi_network_methods_predict_with_network_one_unless_asked(name):
    images = torch.rand(2, 1, 16, 16)
    first = METHODS.get(name).create({}, context()).eval()
    ensemble = METHODS.get(name).create({"predict": "ensemble"}, context()).eval()
    with torch.no_grad():
        assert torch.equal(first.predict_logits(images), first.networks[0](images))
        probabilities = torch.stack([torch.sigmoid(net(images)) for net in ensemble.networks])
        expected = torch.logit(probabilities.mean(0), eps=1e-6)
        assert torch.allclose(ensemble.predict_logits(images), expected, atol=1e-5)
        assert not torch.allclose(expected, first.networks[0](images), atol=1e-3)


# RMD's switches ----------------------------------------------------------------------


def test_frozen_running_statistics_normalise_with_the_batch_and_keep_the_buffers():
    layer = nn.BatchNorm2d(2, momentum=0.5).train()
    layer.running_mean.fill_(3.0)
    layer.running_var.fill_(2.0)
    x = torch.tensor([[[[1.0, 3.0]], [[0.0, 4.0]]], [[[5.0, 7.0]], [[2.0, 2.0]]]])  # [2, 2, 1, 2]
    with frozen_running_statistics(layer):
        frozen = layer(x)
    assert torch.equal(layer.running_mean, torch.full((2,), 3.0))
    assert torch.equal(layer.running_var, torch.full((2,), 2.0))
    assert layer.num_batches_tracked.item() == 0
    # normalised with the batch's own statistics, as in an ordinary training-mode pass
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    assert torch.allclose(frozen, (x - mean) / torch.sqrt(var + layer.eps), atol=1e-6)
    layer(x)  # outside: the running estimates move, by the momentum
    assert torch.allclose(layer.running_mean, 0.5 * 3.0 + 0.5 * x.mean(dim=(0, 2, 3)))


@pytest.mark.parametrize("strong_bn, only_weak", [("frozen", True), ("train", False)])
def test_rmd_strong_passes_leave_batchnorm_statistics_to_the_weak_ones(strong_bn, only_weak):
    images = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    labels = (images > 0.5).float()
    rmd = METHODS.get("rmd").create({"strong_bn": strong_bn}, context()).train()
    weak_only = METHODS.get("rmd").create({"distill": False}, context()).train()
    state = StepState(0.5, torch.Generator().manual_seed(0))  # strong augmentation is on
    rmd.training_step(images, labels, state)
    weak_only.training_step(images, labels, state)
    for mine, weak in zip(rmd.buffers(), weak_only.buffers(), strict=True):
        assert torch.equal(mine, weak) == only_weak


def test_rmd_variant_released_keeps_the_released_constants_whatever_the_defaults():
    from rmdbench.methods.rmd import PAPER_DEFAULTS, RELEASED_DEFAULTS, RMDParams

    released = RMDParams(variant="released")
    assert (released.distill_weight, released.strong_bn) == (0.0009, "train")
    assert RELEASED_DEFAULTS == {"distill_weight": 0.0009, "strong_bn": "train"}
    paper = RMDParams()
    assert paper.distill_weight == PAPER_DEFAULTS["distill_weight"]
    assert paper.strong_bn == PAPER_DEFAULTS["strong_bn"]
    mixed = RMDParams(variant="released", strong_bn="frozen")  # what is given is kept
    assert (mixed.distill_weight, mixed.strong_bn) == (0.0009, "frozen")


def test_rmd_with_frozen_strong_batchnorm_trains_and_resumes_its_buffers_from_weak_passes():
    """The weak passes' graph saved the running statistics: freezing must not write them
    in place, or the backward is refused (a regression seen on real runs)."""
    method = METHODS.get("rmd").create({"strong_bn": "frozen"}, context())
    before = [buffer.clone() for buffer in method.buffers()]
    result = trainer().fit(method, toy_data(), toy_data(4), seed=2)
    assert all(row["loss"] == row["loss"] for row in result.curve)  # trained, no NaN
    assert any(not torch.equal(a, b) for a, b in zip(before, method.buffers(), strict=True))


def test_relative_warp_equals_the_released_pixels_at_128_and_halves_them_at_64():
    def displacement(size: int, relative: bool) -> torch.Tensor:
        augmentation = StrongAugmentation(relative=relative, rotation_degrees=(0, 0), zoom=(1, 1))
        grid = augmentation.sampling_grid(
            (2, 1, size, size), torch.Generator().manual_seed(3), "cpu", torch.float32
        )
        identity = StrongAugmentation(
            relative=relative, rotation_degrees=(0, 0), zoom=(1, 1), displacement_sigma=(0, 0)
        ).sampling_grid((2, 1, size, size), torch.Generator().manual_seed(3), "cpu", torch.float32)
        return (grid - identity) * size / 2  # in pixels of the image

    assert torch.allclose(displacement(REFERENCE_SIZE, True), displacement(REFERENCE_SIZE, False))
    half = displacement(64, True)
    assert torch.allclose(half * 2, displacement(64, False), atol=1e-4)
    assert half.abs().max() > 0.1


@pytest.mark.parametrize("options", ["strong_bn=maybe", "warp_units=cm", "predict=mean"])
def test_a_switch_out_of_its_choices_is_one_line(options):
    from rmdbench.errors import UserError
    from rmdbench.sweep.plan import resolve_method

    with pytest.raises(UserError, match="must be one of"):
        resolve_method(f"rmd[{options}]")


# loss-term diagnostics ---------------------------------------------------------------


class TwoTerms(Method):
    """w · x summed as two terms, a·(w·x) and b·(w·x): gradients a·x and b·x, by hand."""

    num_networks = 0

    def __init__(self, a: float, b: float) -> None:
        super().__init__(None, context(None))
        self.weight = nn.Parameter(torch.tensor([1.0, 2.0, 2.0]))
        self.a, self.b = a, b

    def training_step(self, images, labels, state):
        value = (self.weight * torch.tensor([3.0, 0.0, 4.0])).sum()  # gradient [3, 0, 4]: norm 5
        return StepOutput.from_terms({"first": self.a * value, "second": self.b * value})


def test_gradient_shares_match_the_hand_computed_norms():
    method = TwoTerms(a=2.0, b=-0.5)
    optimiser = torch.optim.Adam(method.parameters())
    data = toy_data(4)
    _, measured = trainer().train_iteration(
        method, optimiser, data, torch.arange(4), 0.5, RandomStreams.for_run(0, "cpu"), True
    )
    assert measured["grad_norm_first"].item() == pytest.approx(10.0)  # |2 · [3, 0, 4]|
    assert measured["grad_norm_second"].item() == pytest.approx(2.5)
    assert measured["grad_share_first"].item() == pytest.approx(0.8)
    assert measured["grad_share_second"].item() == pytest.approx(0.2)
    assert torch.allclose(method.weight.grad, torch.tensor([4.5, 0.0, 6.0]))  # the real step


def test_diagnostics_are_sampled_a_few_times_per_epoch_and_cost_no_step():
    assert diagnostics.sampled_iterations(59) == frozenset({14, 44})
    assert diagnostics.sampled_iterations(1) == frozenset({0})
    assert diagnostics.sampled_iterations(10, 0) == frozenset()
    with_them = METHODS.get("rmd").create({}, context())
    without = METHODS.get("rmd").create({}, context())
    trainer(diagnostic_samples=2).fit(with_them, toy_data(), toy_data(4), seed=1)
    trainer(diagnostic_samples=0).fit(without, toy_data(), toy_data(4), seed=1)
    for a, b in zip(with_them.parameters(), without.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)  # measuring does not change training


@pytest.mark.parametrize("weight, flagged", [(0.0009, True), (4.0, False)])
def test_rmd_distillation_at_the_released_weight_is_flagged_inactive(weight, flagged):
    """The released λ = 0.0009 gives the distillation well under 1e-3 of the gradient; at
    λ = 4 it is about half of it."""
    options = {"distill_weight": weight}
    method = METHODS.get("rmd").create(options, context())
    data = toy_data(32, 32)
    result = trainer(epochs=5, diagnostic_samples=2).fit(method, data, toy_data(4, 32), seed=0)
    import pandas as pd

    curve = pd.DataFrame(result.curve)
    inactive = diagnostics.inactive_terms(curve, method.context.schedule.ramp_end)
    assert ("distill" in inactive) == flagged, curve.filter(like="grad_share")
    assert "supervised" not in inactive
    assert diagnostics.warm_epochs(5, 0.2) == [1, 2, 3, 4]
