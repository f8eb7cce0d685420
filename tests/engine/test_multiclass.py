"""Multi-class and 3D training: the CE/softmax versions of every per-pixel rule agree with
hand-computed values, every method trains on 4-class slices and on 3D volumes, and sweeps
run end to end on a prepared ACDC (multi-class) and BraTS (3D) copy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from rmdbench.backbones.unet import UNet2D, UNet3D
from rmdbench.contracts.method import MethodContext
from rmdbench.metrics import dice_per_case
from rmdbench.plugins import load_builtins
from rmdbench.registry import METHODS
from rmdbench.training.losses import (
    categorical_kl,
    labels_from_logits,
    pixel_count,
    pixel_kl,
    pixel_loss,
    pixel_squared_distance,
)
from rmdbench.training.selection import kept_count, smallest_mask
from rmdbench.training.trainer import DeviceData, Trainer
from tests.helpers.prepare import finished_records, run_prepare, tiny_sweep

load_builtins()
pytestmark = pytest.mark.usefixtures("one_thread")


def test_multiclass_pixel_loss_is_per_pixel_cross_entropy():
    logits = torch.randn(2, 4, 3, 5)
    labels = torch.randint(0, 4, (2, 1, 3, 5)).float()
    loss = pixel_loss(logits, labels)
    assert loss.shape == (2, 1, 3, 5)
    expected = F.cross_entropy(logits, labels[:, 0].long(), reduction="none")
    assert torch.allclose(loss[:, 0], expected)


def test_small_loss_selection_drops_the_pixels_whose_label_the_network_rejects():
    """Two pixels confidently predicted as class 2 but labelled 1 are the two dropped."""
    logits = torch.full((1, 3, 2, 3), -4.0)
    logits[0, 1] = 4.0  # everywhere: confident class 1
    logits[0, :, 0, 0] = torch.tensor([-4.0, -4.0, 4.0])  # here: confident class 2
    logits[0, :, 1, 2] = torch.tensor([-4.0, -4.0, 4.0])
    labels = torch.ones(1, 1, 2, 3)
    loss = pixel_loss(logits, labels)
    kept = smallest_mask(loss, kept_count(pixel_count(logits), 4 / 6))
    expected = torch.ones(1, 1, 2, 3, dtype=torch.bool)
    expected[0, 0, 0, 0] = expected[0, 0, 1, 2] = False
    assert torch.equal(kept, expected)


def test_categorical_kl_matches_hand_computed_value_and_is_zero_for_equal_logits():
    target = torch.log(torch.tensor([0.5, 0.25, 0.25])).view(1, 3, 1, 1)
    student = torch.log(torch.tensor([0.25, 0.5, 0.25])).view(1, 3, 1, 1)
    expected = 0.5 * math.log(2) + 0.25 * math.log(0.5)  # sum p log(p/q)
    assert categorical_kl(target, student).item() == pytest.approx(expected, abs=1e-6)
    assert categorical_kl(target, target).abs().max() < 1e-7
    assert pixel_kl(target, student).shape == (1, 1, 1, 1)


def test_reliability_sums_the_squared_difference_over_classes():
    strong = torch.zeros(1, 3, 1, 2)
    target = torch.zeros(1, 3, 1, 2)
    target[0, :, 0, 1] = torch.tensor([1.0, 2.0, 2.0])
    assert torch.equal(pixel_squared_distance(strong, target), torch.tensor([[[[0.0, 9.0]]]]))


def test_labels_are_the_arg_max_class_or_positive_logit():
    multi = torch.tensor([[[[0.1]], [[2.0]], [[-1.0]]]])
    assert labels_from_logits(multi).tolist() == [[[1]]]
    assert labels_from_logits(torch.tensor([[[[0.3, -0.2]]]])).tolist() == [[[1, 0]]]


def test_validation_dice_is_the_mean_over_foreground_classes():
    target = torch.tensor([[[1, 1, 2, 2, 0, 0]]])
    predicted = torch.tensor([[[1, 1, 2, 0, 0, 3]]])
    # class 1: 1.0, class 2: 2*1/(1+2) = 2/3, class 3: 0 (predicted, absent)
    assert dice_per_case(predicted, target, 4).item() == pytest.approx((1 + 2 / 3 + 0) / 3)


def _fit(name: str, images: torch.Tensor, labels: torch.Tensor, network, num_classes: int):
    torch.manual_seed(0)
    context = MethodContext(build_backbone=network, num_classes=num_classes)
    method = METHODS.get(name).create({}, context)
    data = DeviceData(images, labels)
    trainer = Trainer(
        epochs=2, batch_size=2, learning_rate=1e-3, eval_batch_size=4, device=torch.device("cpu")
    )
    result = trainer.fit(method, data, data, seed=0)
    return trainer.predict(method, images), result


@pytest.mark.parametrize("name", sorted(set(METHODS.names()) - {"fast"}))
def test_every_method_trains_on_four_class_slices(name):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(4, 1, 16, 16, generator=generator)
    labels = (images * 4).floor().clamp(max=3)
    predicted, result = _fit(name, images, labels, lambda: UNet2D(1, 4, 2), 4)
    assert predicted.shape == (4, 16, 16) and int(predicted.max()) <= 3
    assert all(np.isfinite(row["loss"]) for row in result.curve)
    assert np.isfinite(result.curve[-1]["val_dsc"])


@pytest.mark.parametrize("name", sorted(set(METHODS.names()) - {"fast"}))
def test_every_method_trains_on_volumes(name):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(4, 1, 16, 16, 16, generator=generator)
    labels = (images > 0.5).float()
    predicted, result = _fit(name, images, labels, lambda: UNet3D(1, 1, 2), 2)
    assert predicted.shape == (4, 16, 16, 16)
    assert all(np.isfinite(row["loss"]) for row in result.curve)


ALL_METHODS = "single,coteaching,jocor,trinet,rmd"


def every_method_on(runner, tmp_path, format_text: str, source):
    """Prepare ``source`` with ``format_text``, then train every method for two epochs on it
    with erosion/dilation noise (it works in 2D and 3D); the finished records."""
    prepared = tmp_path / "prepared"
    result = run_prepare(runner, format_text, source, prepared)
    assert result.exit_code == 0, result.output
    result, out = tiny_sweep(
        runner, tmp_path, prepared, "--methods", ALL_METHODS, "--noise-model", "erosion_dilation",
        "--noise", "0.5", profile="tiny[epochs=2,max_train_cases=8,max_eval_cases=4]",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return finished_records(out), out, prepared


def test_sweep_on_prepared_acdc_trains_every_method_with_per_class_metrics(runner, tmp_path):
    from tests.data.test_format_acdc import make_acdc

    records, out, _ = every_method_on(runner, tmp_path, "acdc[size=32]", make_acdc(tmp_path / "a"))
    assert sorted(r["spec"]["method"] for r in records) == sorted(ALL_METHODS.split(","))
    for record in records:
        assert record["spec"]["backbone"] == "unet2d"
        cases = pd.read_parquet(out / record["run_name"] / "cases.parquet")
        per_class = cases[["dsc_class1", "dsc_class2", "dsc_class3"]].mean(axis=1)
        assert np.allclose(per_class, cases["dsc"])
        predictions = np.load(out / record["run_name"] / "predictions.npz")["predictions"]
        assert set(np.unique(predictions)) <= {0, 1, 2, 3}


def test_sweep_on_prepared_brats_volumes_uses_the_3d_unet(runner, tmp_path):
    from tests.data.test_format_brats import make_brats

    source = make_brats(tmp_path / "b")
    records, out, prepared = every_method_on(runner, tmp_path, "brats[size=32]", source)
    assert len(records) == 5
    for record in records:
        assert record["spec"]["backbone"] == "unet3d"
        assert record["noise"]["n_corrupted"] >= 1 and record["noise"]["mean_noisy_dsc"] < 1
        predictions = np.load(out / record["run_name"] / "predictions.npz")["predictions"]
        assert predictions.ndim == 4 and predictions.shape[1:] == (32, 32, 32)
        cases = pd.read_parquet(out / record["run_name"] / "cases.parquet")
        assert np.isfinite(cases["hd95"]).all()

    refused, _ = tiny_sweep(runner, tmp_path, prepared, "--noise-model", "distortion")
    assert refused.exit_code == 2
    assert "works on 2D masks" in refused.output and "erosion_dilation" in refused.output
