"""Every registered method trains on a tiny dataset; RMD's targets are detached."""

import pytest
import torch

from rmdbench.backbones.unet import UNet2D
from rmdbench.contracts.method import MethodContext, StepState
from rmdbench.plugins import load_builtins
from rmdbench.registry import METHODS
from rmdbench.training.trainer import DeviceData, Trainer

load_builtins()


def _context():
    return MethodContext(build_backbone=lambda: UNet2D(1, 1, 4))


def _batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(4, 1, 16, 16, generator=generator)
    labels = (images > 0.5).float()
    return images, labels


def _train_once(name, seed=0):
    torch.manual_seed(seed)
    method = METHODS.get(name).create({}, _context())
    images, labels = _batch()
    data = DeviceData(images, labels)
    trainer = Trainer(
        epochs=2, batch_size=2, learning_rate=1e-3, eval_batch_size=4, device=torch.device("cpu")
    )
    before = [p.detach().clone() for p in method.parameters()]
    result = trainer.fit(method, data, data, seed=seed)
    return method, before, result


@pytest.mark.parametrize("name", METHODS.names())
def test_method_conformance(name):
    method, before, result = _train_once(name)
    assert result.iterations == 4
    assert all(torch.isfinite(torch.tensor(row["loss"])) for row in result.curve)
    changed = [not torch.equal(a, b) for a, b in zip(before, method.parameters(), strict=True)]
    assert all(changed[:: max(1, len(changed) // 10)])  # every network learns
    images, _ = _batch(1)
    method.eval()
    with torch.no_grad():
        logits = method.predict_logits(images)
    assert logits.shape == (4, 1, 16, 16) and torch.isfinite(logits).all()
    # same seed, same result
    again, _, _ = _train_once(name)
    for a, b in zip(method.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("variant, teacher_gets_gradient", [("paper", False), ("released", True)])
def test_rmd_distillation_targets_detached_only_in_paper_variant(variant, teacher_gets_gradient):
    torch.manual_seed(0)
    method = METHODS.get("rmd").create({"variant": variant}, _context())
    images, _ = _batch()
    weak_1 = torch.randn(4, 1, 16, 16, requires_grad=True)
    weak_2 = torch.randn(4, 1, 16, 16, requires_grad=True)
    for progress in (0.1, 0.5):  # before and after strong augmentation starts
        weak_1.grad = weak_2.grad = None
        state = StepState(progress, torch.Generator().manual_seed(0))
        method.distillation_loss(images, weak_1, weak_2, state).backward()
        for weak in (weak_1, weak_2):
            got = weak.grad is not None and weak.grad.abs().sum().item() > 0
            assert got == teacher_gets_gradient
        assert any(p.grad is not None for p in method.networks[0].parameters())


def test_rmd_reliable_fraction_by_variant():
    method = METHODS.get("rmd").create({}, _context())
    assert method.reliable_fraction(1.0) == pytest.approx(0.8)
    assert method.reliable_fraction(0.5) == pytest.approx(0.4)
    released = METHODS.get("rmd").create({"variant": "released"}, _context())
    assert released.reliable_fraction(1.0) == 1.0
    off = METHODS.get("rmd").create({"reliability": "false"}, _context())
    assert off.reliable_fraction(0.3) == 1.0


@pytest.mark.parametrize(
    "switch",
    [
        "cross_selection",
        "distill",
        "reliability",
        "data_aug",
        "model_aug",
    ],
)
def test_rmd_ablation_switches_train(switch):
    torch.manual_seed(0)
    method = METHODS.get("rmd").create({switch: "false"}, _context())
    images, labels = _batch()
    output = method.training_step(images, labels, StepState(0.5, torch.Generator().manual_seed(0)))
    output.loss.backward()
    assert torch.isfinite(output.loss)


@pytest.mark.parametrize("name", ["single", "rmd"])
def test_bf16_autocast_trains_on_cpu(name):
    torch.manual_seed(0)
    method = METHODS.get(name).create({}, _context())
    images, labels = _batch()
    data = DeviceData(images, labels)
    trainer = Trainer(
        epochs=1,
        batch_size=2,
        learning_rate=1e-3,
        eval_batch_size=4,
        device=torch.device("cpu"),
        precision="bf16",
    )
    result = trainer.fit(method, data, data, seed=0)
    assert all(torch.isfinite(torch.tensor(row["loss"])) for row in result.curve)
    assert trainer.predict(method, images).shape == (4, 16, 16)


def test_unknown_precision_is_a_user_error():
    from rmdbench.errors import UserError

    with pytest.raises(UserError, match="unknown precision"):
        Trainer(
            epochs=1,
            batch_size=2,
            learning_rate=1e-3,
            eval_batch_size=4,
            device=torch.device("cpu"),
            precision="fp8",
        )
