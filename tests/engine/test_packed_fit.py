"""Packed runs (``Trainer.fit_packed``, ``train_and_evaluate_packed``): each run of a pack
gets what it gets trained alone, and a sweep groups only runs that may share a pack."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rmdbench.executors.base import DatasetCache
from rmdbench.executors.pack import group_runs
from rmdbench.plugins import load_builtins
from rmdbench.profiles import get_profile
from rmdbench.run import prepare_run, train_and_evaluate, train_and_evaluate_packed
from rmdbench.sweep import plan_sweep, split_list
from rmdbench.training.trainer import NonFiniteLossError, Trainer

pytestmark = pytest.mark.usefixtures("one_thread")
load_builtins()
#: 3 epochs of 2 iterations: several epochs (a permutation each, best epochs, validation
#: of every run between them), few enough steps that float noise stays noise (below)
SHORT = "tiny[epochs=3,max_train_cases=16]"
#: packed and unpacked losses and validation DSC agree this closely over SHORT (measured
#: at most ~5e-5 on the loss, 0 on the DSC); a run on another run's labels, flips, order or
#: learning rate is off by 1e-2 or more from the first iteration
TOLERANCE = 1e-4


def specs(method: str, profile: str = SHORT, seeds=(0, 1), noise=(0.4,)):
    return plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=list(noise),
        methods=split_list([method]),
        seeds=list(seeds),
        profile=get_profile(profile),
    )


@pytest.fixture
def quiet_adam(monkeypatch):
    """Adam with eps 1e-3 instead of 1e-8, for packed and unpacked runs alike. The conv
    biases before BatchNorm have a gradient of exactly 0 in exact arithmetic and of float
    noise (1e-9) in practice; Adam divides by its own scale, so at eps 1e-8 that noise
    becomes a step of up to the learning rate with a random sign, and after two
    iterations two runs that differ only in summation order (packed or not, channels-last
    or not, measured) differ by 1e-4 in loss. At 1e-3 noise stays noise and the real
    gradients (1e-3..1e-2) still take Adam steps; both paths build their optimiser here."""
    monkeypatch.setattr(
        Trainer,
        "optimiser_for",
        lambda self, parameters: torch.optim.Adam(parameters, lr=self.learning_rate, eps=1e-3),
    )


def data_for(profile: str):
    return DatasetCache().get("toy-disks", get_profile(profile).crop_size)


@pytest.mark.parametrize("method", ["single", "coteaching"])
def test_a_packed_run_is_its_unpacked_run(method, quiet_adam):
    """K = 2 seeds packed: per run the same curve (losses, gradient shares, validation
    DSC against clean and noisy labels), the same best epochs, the same test DSC, and the
    same run name as each trained alone."""
    planned = specs(method)
    profile = get_profile(SHORT)
    data, device = data_for(SHORT), torch.device("cpu")
    alone = [train_and_evaluate(spec, data, profile, device) for spec in planned]
    packed = train_and_evaluate_packed(planned, data, profile, device)
    assert [spec.run_name for spec in specs(method)] == [spec.run_name for spec in planned]
    for one, together in zip(alone, packed, strict=True):
        assert not isinstance(together, BaseException), together
        curve, packed_curve = one["curve"], together["curve"]
        assert list(packed_curve.columns) == list(curve.columns)
        for column in ("loss", "val_dsc", "val_noisy_dsc", "grad_share_supervised"):
            np.testing.assert_allclose(
                packed_curve[column], curve[column], atol=TOLERANCE, rtol=0, err_msg=column
            )
        # the gradient is more sensitive than the loss: within 1e-3 in the first epoch (run k's
        # slice of the stacked gradient, not the pack's), then within float drift
        norms, packed_norms = curve["grad_norm_supervised"], packed_curve["grad_norm_supervised"]
        np.testing.assert_allclose(packed_norms.iloc[0], norms.iloc[0], rtol=1e-3)
        np.testing.assert_allclose(packed_norms, norms, rtol=1e-2)
        assert list(packed_curve["lr"]) == list(curve["lr"])
        assert math.isclose(
            together["cases"]["dsc"].mean(), one["cases"]["dsc"].mean(), abs_tol=TOLERANCE
        )
        assert {rule: e["epoch"] for rule, e in together["evaluations"].items()} == {
            rule: e["epoch"] for rule, e in one["evaluations"].items()
        }
        assert together["timings"]["iterations"] == one["timings"]["iterations"]
        assert together["validation"].keys() == one["validation"].keys()


def test_a_diverged_run_fails_alone(quiet_adam):
    """A run whose loss is not finite ends with fit's error; the other run of its pack
    trains on, as it would alone."""
    planned = specs("single")
    profile = get_profile(SHORT)
    data, device = data_for(SHORT), torch.device("cpu")
    runs = [prepare_run(spec, data, profile, device) for spec in planned]
    runs[1].train.images[:] = math.nan
    trainer = Trainer.from_profile(profile, device)
    results = trainer.fit_packed(
        [run.method for run in runs], [run.train for run in runs], runs[0].val, [0, 1]
    )
    assert isinstance(results[1], NonFiniteLossError)
    assert "epoch 0" in str(results[1])
    alone = Trainer.from_profile(profile, device).fit(
        prepare_run(planned[0], data, profile, device).method, runs[0].train, runs[0].val, 0
    )
    np.testing.assert_allclose(
        [row["loss"] for row in results[0].curve],
        [row["loss"] for row in alone.curve],
        atol=TOLERANCE,
    )


def test_fit_packed_refuses_runs_that_cannot_share_a_step():
    profile = get_profile(SHORT)
    device = torch.device("cpu")
    single = [prepare_run(spec, data_for(SHORT), profile, device) for spec in specs("single")]
    trainer = Trainer.from_profile(profile, device)
    other = get_profile("tiny[max_train_cases=8]")
    smaller = prepare_run(specs("single", str(other.name))[0], data_for(SHORT), other, device)
    with pytest.raises(ValueError, match="one dataset and profile"):
        trainer.fit_packed(
            [single[0].method, smaller.method],
            [single[0].train, smaller.train],
            single[0].val,
            [0, 1],
        )
    rmd = prepare_run(specs("rmd")[0], data_for(SHORT), profile, device)
    with pytest.raises(ValueError, match="does not pack exactly"):
        trainer.fit_packed([rmd.method], [rmd.train], rmd.val, [0])
    with pytest.raises(ValueError, match="differ by seed only"):
        train_and_evaluate_packed(
            [*specs("single"), *specs("coteaching")], data_for(SHORT), profile, device
        )


def test_runs_are_grouped_by_everything_but_the_seed():
    """Seeds of one run share packs of at most K; another method, noise ratio or profile
    never does; rmd (its step draws random numbers) is never packed."""
    grid = [
        *specs("single,coteaching,rmd", seeds=(0, 1, 2), noise=(0.0, 0.4)),
        *specs("single", profile="tiny[epochs=2]", seeds=(0, 1)),
    ]
    groups = group_runs(grid, 2)
    assert sorted(spec.run_name for group in groups for spec in group) == sorted(
        spec.run_name for spec in grid
    )
    for group in groups:
        assert 1 <= len(group) <= 2
        first = group[0]
        for spec in group[1:]:
            assert (spec.method, spec.noise_ratio, spec.profile) == (
                first.method,
                first.noise_ratio,
                first.profile,
            )
            assert spec.seed != first.seed
        if first.method == "rmd":
            assert len(group) == 1
    sizes = sorted(len(group) for group in groups if group[0].method == "single")
    assert sizes == [1, 1, 2, 2, 2]  # 3 seeds: 2 + 1 per ratio; 2 seeds of the other profile
    assert all(len(group) == 1 for group in group_runs(grid, 1))


def test_only_methods_that_opt_in_pack():
    """A method packs only when it says its step draws nothing: a plug-in that does not
    say (and may draw from ``state.generator``) trains alone, whatever ``--pack``."""
    from rmdbench.api import Method
    from rmdbench.registry import METHODS

    class Undeclared(Method):
        pass

    assert Undeclared.packs_exactly is False
    exact = {name for name in METHODS.names() if METHODS.get(name).packs_exactly}
    assert {"single", "coteaching", "jocor", "trinet"} <= exact
    assert "rmd" not in exact


@pytest.mark.parametrize(("dropout", "packed"), [(0.0, True), (0.3, False)])
def test_a_backbone_with_dropout_never_packs(dropout, packed):
    """MONAI's dropout in basicunet draws random numbers in every training forward, which
    a pack would draw from one stream for all its runs."""
    pytest.importorskip("monai")
    profile = get_profile("tiny[crop_size=32,epochs=1]", backbone=f"basicunet[dropout={dropout}]")
    grid = plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.4],
        methods=["single"],
        seeds=[0, 1],
        profile=profile,
    )
    sizes = [len(group) for group in group_runs(grid, 2)]
    assert sizes == ([2] if packed else [1, 1])


def test_a_frozen_parameter_stays_frozen_in_a_pack():
    """Unpacked, a parameter with requires_grad False gets no gradient and Adam skips it;
    packed, it must not become trainable either."""
    from rmdbench.training.packing import PackedMethods

    data = data_for(SHORT)
    methods = []
    for spec in specs("single", seeds=(0, 1)):
        run = prepare_run(spec, data, get_profile(SHORT), torch.device("cpu"))
        run.method.networks[0].encoder[0][0].weight.requires_grad_(False)
        methods.append(run.method)
    packed = PackedMethods(methods)
    frozen = [name for name, value in packed.parameters.items() if not value.requires_grad]
    assert len(frozen) == 1 and frozen[0].endswith("encoder.0.0.weight")
    before = packed.parameters[frozen[0]].clone()
    optimiser = torch.optim.Adam(packed.trainable, lr=0.1)
    images = torch.rand(2, 4, 1, 32, 32)
    labels = (torch.rand(2, 4, 1, 32, 32) > 0.5).float()
    loss, *_ = packed.step(images, labels, 0.5)
    loss.sum().backward()
    optimiser.step()
    assert torch.equal(packed.parameters[frozen[0]], before)
    assert all(value.grad is not None for value in packed.trainable)


def test_the_progress_estimate_counts_packed_runs_as_training_at_once():
    from rmdbench.sweep.execute import runs_at_once

    grid = [*specs("single", seeds=(0, 1, 2, 3)), *specs("rmd", seeds=(0, 1))]
    assert runs_at_once(grid, 1, 4) == 2  # 6 runs in 3 packs: [4 single], [rmd], [rmd]
    assert runs_at_once(grid, 2, 1) == 2  # unpacked: the executor's parallelism


def test_a_pack_holds_its_images_once_and_each_run_its_own_labels():
    """On a GPU a pack of 8 would otherwise hold 8 copies of the same images."""
    data = data_for(SHORT)
    first, second = specs("single", seeds=(0, 1))
    device = torch.device("cpu")
    alone = prepare_run(first, data, get_profile(SHORT), device)
    shared = prepare_run(second, data, get_profile(SHORT), device, cases_from=alone)
    assert shared.train.images is alone.train.images
    assert shared.val is alone.val and shared.test_images is alone.test_images
    own = prepare_run(second, data, get_profile(SHORT), device)
    assert torch.equal(shared.train.labels, own.train.labels)  # its own noisy labels
    assert not torch.equal(shared.train.labels, alone.train.labels)
