"""Every registered backbone: logits of the right shape, model augmentation on request."""

import pytest
import torch

from rmdbench.plugins import load_builtins
from rmdbench.registry import BACKBONES

load_builtins()


@pytest.mark.parametrize("name", BACKBONES.names())
def test_backbone_conformance(name):
    torch.manual_seed(0)
    backbone = BACKBONES.get(name)
    network = backbone(1, 3, 4)
    shape = (max(16, backbone.min_crop),) * backbone.spatial_dims  # what it declares it needs
    images = torch.rand(2, 1, *shape)
    network.train()
    plain = network(images)
    assert plain.shape == (2, 3, *shape) and torch.isfinite(plain).all()
    torch.manual_seed(1)
    dropped = network(images, feature_dropout=True)
    assert not torch.allclose(plain, dropped)  # model augmentation changes the output
    network.eval()
    with torch.no_grad():
        assert torch.equal(network(images, feature_dropout=True), network(images))


@pytest.mark.parametrize("shape", [(17, 23), (17, 20, 18)])
def test_unet_keeps_odd_sizes(shape):
    """Crops that do not halve evenly are padded back on the way up (both dims)."""
    from rmdbench.backbones.unet import UNet2D, UNet3D

    network = (UNet2D if len(shape) == 2 else UNet3D)(2, 1, 2)
    assert network(torch.rand(2, 2, *shape)).shape == (2, 1, *shape)


def test_unet_matches_the_released_parameter_count():
    from rmdbench.backbones.unet import UNet2D

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
