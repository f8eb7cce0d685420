"""Every registered backbone: logits of the right shape, model augmentation on request."""

import pytest
import torch

from rmdbench.plugins import load_builtins
from rmdbench.registries import BACKBONES

load_builtins()


@pytest.mark.parametrize("name", BACKBONES.names())
def test_backbone_conformance(name):
    torch.manual_seed(0)
    network = BACKBONES.get(name)(1, 1, 4)
    images = torch.rand(2, 1, 32, 32)
    network.train()
    plain = network(images)
    assert plain.shape == (2, 1, 32, 32) and torch.isfinite(plain).all()
    torch.manual_seed(1)
    dropped = network(images, feature_dropout=True)
    assert not torch.allclose(plain, dropped)  # model augmentation changes the output
    network.eval()
    with torch.no_grad():
        assert torch.equal(network(images, feature_dropout=True), network(images))


def test_unet_matches_the_released_parameter_count():
    from rmdbench.backbones.unet2d import UNet2D

    assert sum(p.numel() for p in UNet2D(1, 1, 64).parameters()) == 13_394_177


def test_entry_points_are_loaded(monkeypatch):
    """An installed package's entry point is imported by load_builtins."""
    from importlib import metadata

    from rmdbench import plugins

    loaded = []

    class FakeEntryPoint:
        name, value = "fake", "fake_package.module"

        def load(self):
            loaded.append(self.name)

    def entry_points(group):
        return [FakeEntryPoint()] if group == "rmdbench.methods" else []

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    plugins.load_builtins.cache_clear()
    plugins.load_builtins()
    assert loaded == ["fake"]
