"""K runs packed into one vmapped step equal the K runs trained one by one."""

import pytest
import torch

from rmdbench.backbones.unet import UNet2D
from rmdbench.contracts.method import MethodContext, StepState
from rmdbench.plugins import load_builtins
from rmdbench.registry import METHODS
from rmdbench.training.packing import PackedMethods

load_builtins()
RUNS, STEPS = 3, 3


def _methods(name):
    return [
        METHODS.get(name).create(
            {}, MethodContext(build_backbone=lambda: UNet2D(1, 1, 4), init_seed=seed)
        )
        for seed in range(RUNS)
    ]


def _batches():
    """Different images and labels for each run and step: [STEPS, RUNS, N, 1, 16, 16]."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(STEPS, RUNS, 4, 1, 16, 16, generator=generator)
    labels = (images + 0.3 * torch.rand(images.shape, generator=generator) > 0.6).float()
    return images, labels


def _train_unpacked(method, images, labels):
    method.train()
    optimiser = torch.optim.SGD(method.parameters(), lr=0.1)
    losses = []
    for step in range(STEPS):
        progress = 0.5 + step / 10
        output = method.training_step(images[step], labels[step], StepState(progress, None))
        optimiser.zero_grad()
        output.loss.backward()
        optimiser.step()
        losses.append(output.loss.detach())
    return torch.stack(losses)


def _train_packed(methods, images, labels):
    for method in methods:
        method.train()
    packed = PackedMethods(methods)
    optimiser = torch.optim.SGD(packed.parameters.values(), lr=0.1)
    losses = []
    for step in range(STEPS):
        loss, _ = packed.training_step(images[step], labels[step], 0.5 + step / 10)
        optimiser.zero_grad()
        loss.sum().backward()
        optimiser.step()
        losses.append(loss.detach())
    return torch.stack(losses, dim=1), packed.unpack()


EXACT = [name for name in METHODS.names() if METHODS.get(name).packs_exactly]


def test_packed_runs_equal_unpacked_runs():
    """Three steps give the same losses, weights and BatchNorm statistics packed and
    unpacked. ``single`` only, with SGD: a packed convolution sums in another order, and
    over several steps that float noise can move a pixel across a selection threshold
    (co-teaching's kept set) or, under Adam, become a full step in the zero gradient of a
    bias before BatchNorm; the one-step test below covers every exact method."""
    name = "single"
    images, labels = _batches()
    unpacked = _methods(name)
    expected = torch.stack(
        [_train_unpacked(method, images[:, k], labels[:, k]) for k, method in enumerate(unpacked)]
    )
    losses, packed = _train_packed(_methods(name), images, labels)
    torch.testing.assert_close(losses, expected, rtol=1e-4, atol=1e-5)
    for alone, together in zip(unpacked, packed, strict=True):
        for (key, a), (_, b) in zip(
            alone.state_dict().items(), together.state_dict().items(), strict=True
        ):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=f"{name}: {key}")


@pytest.mark.parametrize("name", EXACT)
def test_packed_step_gives_each_run_its_own_gradient(name):
    """One packed step: each run's loss and gradient equal its unpacked step's."""
    images, labels = _batches()
    unpacked, together = _methods(name), _methods(name)
    packed = PackedMethods(together)
    loss, _ = packed.training_step(images[0], labels[0], 0.5)
    loss.sum().backward()
    for k, method in enumerate(unpacked):
        method.train()
        alone = method.training_step(images[0, k], labels[0, k], StepState(0.5, None)).loss
        alone.backward()
        torch.testing.assert_close(loss[k], alone, rtol=1e-5, atol=1e-6)
        for key, parameter in method.named_parameters():
            stacked = packed.parameters[f"method.{key}"].grad[k]
            torch.testing.assert_close(stacked, parameter.grad, rtol=1e-3, atol=1e-5)


def test_packed_runs_stay_separate():
    """Run k's loss moves only run k's parameters: a zero loss for run 1 leaves it as is."""
    methods = _methods("single")
    packed = PackedMethods(methods)
    images, labels = _batches()
    loss, _ = packed.training_step(images[0], labels[0], 0.5)
    (loss * torch.tensor([1.0, 0.0, 1.0])).sum().backward()
    for stacked in packed.parameters.values():
        assert stacked.grad[1].abs().sum() == 0
        assert stacked.grad[0].abs().sum() > 0 or stacked.grad[2].abs().sum() >= 0


def test_packing_refuses_different_methods_or_parameters():
    context = MethodContext(build_backbone=lambda: UNet2D(1, 1, 4))
    with pytest.raises(ValueError, match="same parameters"):
        PackedMethods(
            [
                METHODS.get("coteaching").create({}, context),
                METHODS.get("coteaching").create({"forget_rate": 0.1}, context),
            ]
        )
    with pytest.raises(ValueError, match="same parameters"):
        PackedMethods([METHODS.get("single").create({}, context), *_methods("trinet")[:1]])


def test_rmd_packs_with_its_own_draws_per_run():
    """RMD packs (its strong views drawn per run from one packed stream): finite losses,
    and the same batch gives different losses in different runs' slices."""
    assert not METHODS.get("rmd").packs_exactly
    methods = _methods("rmd")
    images, labels = _batches()
    same = images[0, :1].expand(RUNS, -1, -1, -1, -1)
    same_labels = labels[0, :1].expand(RUNS, -1, -1, -1, -1)
    for method in methods:
        method.load_state_dict(methods[0].state_dict())
    loss, terms = PackedMethods(methods).training_step(same, same_labels, 0.6)
    assert torch.isfinite(loss).all() and loss.shape == (RUNS,)
    assert set(terms) >= {"supervised"}
    assert len(set(loss.tolist())) > 1  # identical weights and batch, different draws


def test_bench_reports_the_floor_and_packed_runs(tmp_path):
    """bench: FLOPs per iteration, GFLOP/s and their share of the matmul peak, and one
    packed row per method and K."""
    from rmdbench.bench import plan_bench, run_bench

    names, profile, settings = plan_bench(["single,coteaching"], "tiny", iterations=1, pack=[2, 1])
    settings = type(settings)(warmup=0, iterations=1, profiled_iterations=1, pack=settings.pack)
    report = run_bench(names, profile, torch.device("cpu"), settings)
    single, coteaching = report["results"]
    assert single["flops_per_iteration"] > 0
    # two networks, twice the arithmetic: the counter sees the method, not the clock
    assert coteaching["flops_per_iteration"] == 2 * single["flops_per_iteration"]
    assert report["matmul_peak_gflops"] > 0
    assert 0 < single["peak_share"] == single["achieved_gflops"] / report["matmul_peak_gflops"]
    assert [(row["method"], row["runs"]) for row in report["packed"]] == [
        ("single", 1),
        ("single", 2),
        ("coteaching", 1),
        ("coteaching", 2),
    ]
    assert all(row["gain_vs_unpacked"] > 0 for row in report["packed"])


def test_bench_pack_zero_is_one_line_exit_2(runner, tmp_path):
    from rmdbench.cli import app

    out = tmp_path / "bench"
    result = runner.invoke(
        app,
        ["bench", "--profile", "tiny", "--methods", "single", "--pack", "1,0", "--out", str(out)],
    )
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "--pack" in result.output
    assert not any(out.glob("*.json")) if out.exists() else True


def test_bench_refuses_a_profile_whose_backbone_it_would_not_build():
    from rmdbench.bench import plan_bench
    from rmdbench.errors import UserError

    with pytest.raises(UserError, match="bench times the paper's U-Net"):
        plan_bench(None, "tiny[backbone=basicunet]")
