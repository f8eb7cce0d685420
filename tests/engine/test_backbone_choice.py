"""Choosing a backbone: --backbone (and a profile's backbone field) changes the network a
sweep trains, names the profile, keeps the default U-Net's run names, is listed with its
parameters, and every bad choice is one line, exit 2, nothing written."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest

from rmdbench import run as run_module
from rmdbench.backbones.basicunet import BasicUNetBackbone
from rmdbench.backbones.choice import resolve_backbone
from rmdbench.backbones.unet import UNet2D
from rmdbench.cli import app
from rmdbench.errors import UserError
from rmdbench.profiles import get_profile
from rmdbench.store import SPEC_FILE
from rmdbench.sweep import plan_sweep

TINY = "tiny[epochs=1,max_train_cases=8,max_eval_cases=4]"


@pytest.fixture
def built(monkeypatch) -> list:
    """Every network the runs of this process build (the inline executor trains here)."""
    networks: list = []
    original = run_module.build_backbone

    def recording(*args, **kwargs):
        network = original(*args, **kwargs)
        networks.append(network)
        return network

    monkeypatch.setattr(run_module, "build_backbone", recording)
    return networks


def sweep(runner, tmp_path, *extra: str):
    out = tmp_path / "runs"
    arguments = [
        "sweep", "--dataset", "toy-disks", "--profile", TINY, "--methods", "single",
        "--noise", "0.5", "--device", "cpu", "--out", str(out), *extra,
    ]  # fmt: skip
    return runner.invoke(app, arguments), out


def specs(out) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(out.glob(f"*/{SPEC_FILE}"))]


def test_backbone_option_changes_the_network_and_names_the_profile(
    runner, tmp_path, built, one_thread
):
    result, out = sweep(runner, tmp_path)
    assert result.exit_code == 0, result.output
    assert built and all(type(network) is UNet2D for network in built)
    built.clear()
    result, out = sweep(runner, tmp_path, "--backbone", "basicunet")
    assert result.exit_code == 0, result.output  # basicunet trained its epoch
    assert built and all(type(network) is BasicUNetBackbone for network in built)
    assert "1 runs trained" in " ".join(result.output.split())
    widths = [network.net.conv_0.conv_0.conv.out_channels for network in built]
    assert widths == [4] * len(built)  # (w, w, 2w, 4w, 8w, w) from the tiny width 4
    chosen = [spec for spec in specs(out) if spec["backbone"] == "basicunet"]
    assert len(chosen) == 1 and len(specs(out)) == 2
    assert chosen[0]["profile"]["name"].endswith(",backbone=basicunet]")
    assert chosen[0]["backbone_params"]["norm"] == "instance"


def test_backbone_parameters_reach_the_network(runner, tmp_path, built, one_thread):
    result, out = sweep(
        runner, tmp_path, "--backbone", "basicunet[features=6-6-8-8-8-6,norm=batch]"
    )
    assert result.exit_code == 0, result.output
    network = built[0]
    assert network.net.conv_0.conv_0.conv.out_channels == 6
    assert network.net.down_4.convs.conv_0.conv.out_channels == 8
    (spec,) = specs(out)
    assert spec["backbone_params"]["features"] == [6, 6, 8, 8, 8, 6]


def test_the_default_keeps_the_run_names_of_the_committed_stores():
    """A committed run of the audit, planned again with the default backbone, has the
    same name (its hash is unchanged) once the code fingerprints, which records made
    before them lack, are left out."""
    planned = plan_sweep(
        datasets=["lidc-phantom"],
        noise_models=["distortion"],
        noise_ratios=[0],
        methods=["coteaching"],
        seeds=[0],
        profile=get_profile("quick[epochs=3]"),
    )
    assert [dataclasses.replace(spec, code={}).run_name for spec in planned] == [
        "coteaching-distortion-r0-s0-quick[epochs=3]-9a59a03625bd"
    ]
    assert "backbone" not in planned[0].as_dict()["profile"]
    assert get_profile("quick", backbone="unet") is get_profile("quick")


@pytest.mark.parametrize(
    "spellings",
    [
        (
            "basicunet[features=8-8-16-32-64-8,dropout=0.1]",
            "basicunet[dropout=0.1,features=8-8-16-32-64-8]",
            "basicunet[ dropout=0.10 , features=8:8:16:32:64:8,upsample=deconv ]",
        ),
        ("basicunet", "basicunet[]", "basicunet[dropout=0,norm=instance,features=]"),
    ],
)
def test_one_backbone_is_one_profile_name_and_one_run_however_written(spellings):
    """Options in another order, a default written out, a value spelt otherwise: the same
    network, so the same profile name and the same run (found done, one cell in reports)."""
    profiles = [get_profile("tiny", backbone=text) for text in spellings]
    profiles.append(get_profile(f"tiny[backbone={spellings[-1]}]"))
    assert len({profile.name for profile in profiles}) == 1, [p.name for p in profiles]
    assert len({profile.backbone for profile in profiles}) == 1
    names = {
        spec.run_name
        for profile in profiles
        for spec in plan_sweep(
            datasets=["toy-disks"],
            noise_models=["distortion"],
            noise_ratios=[0.5],
            methods=["single"],
            seeds=[0],
            profile=profile,
        )
    }
    assert len(names) == 1, names


def test_the_canonical_backbone_keeps_what_differs():
    """Dropping defaults never merges two networks: a changed value stays, in full."""
    assert get_profile("tiny", backbone="basicunet[norm=batch,dropout=0]").backbone == (
        "basicunet[norm=batch]"
    )
    precise = get_profile("tiny", backbone="basicunet[dropout=0.123456789]")
    assert precise.backbone == "basicunet[dropout=0.123456789]"
    assert precise.name != get_profile("tiny", backbone="basicunet[dropout=0.123457]").name


def test_the_default_is_the_unet_of_the_data():
    assert resolve_backbone("unet", 2) == ("unet2d", {})
    assert resolve_backbone("unet", 3) == ("unet3d", {})
    assert resolve_backbone("basicunet", 3)[0] == "basicunet"


def test_list_backbones_shows_dims_and_parameters(runner):
    result = runner.invoke(app, ["list", "backbones"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert {"basicunet", "unet2d", "unet3d"} <= set(rows)
    assert "2D or 3D" in rows["basicunet"] and "features=" in rows["basicunet"]
    assert "norm=instance" in rows["basicunet"]
    assert " 3D " in rows["unet3d"] and "none" in rows["unet2d"]
    assert "default (unet)" in result.output and "--backbone NAME[key=value,...]" in result.output


@pytest.mark.parametrize(
    ("backbone", "fragments"),
    [
        ("basicunett", ("unknown backbone 'basicunett'", "did you mean 'basicunet'")),
        ("unet3d", ("backbone 'unet3d' works on 3D data", "toy-disks' is 2D", "unet2d")),
        ("basicunet[width=3]", ("backbone 'basicunet' has no parameter width", "features")),
        ("basicunet[features=1-2]", ("features must be 6 positive widths",)),
        ("unet2d[depth=3]", ("backbone 'unet2d' has no parameters",)),
    ],
)
def test_a_bad_backbone_is_one_line_and_writes_nothing(runner, tmp_path, backbone, fragments):
    result, out = sweep(runner, tmp_path, "--backbone", backbone)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not out.exists()


def test_a_2d_only_backbone_on_volumes_is_refused():
    with pytest.raises(UserError, match="backbone 'unet2d' works on 2D data and dataset 'v'"):
        resolve_backbone("unet2d", 3, "v")


def test_a_crop_too_small_for_basicunet_is_one_line(runner, tmp_path):
    small = runner.invoke(
        app,
        ["sweep", "--dataset", "toy-disks", "--profile", "tiny[crop_size=16]", "--backbone",
         "basicunet", "--dry-run", "--out", str(tmp_path / "small")],
    )  # fmt: skip
    assert small.exit_code == 2 and "crop_size=32 or more" in small.output, small.output


def test_basicunet_without_monai_names_the_install(runner, tmp_path, monkeypatch):
    """monai is optional: choosing basicunet without it is one line naming pip install."""
    for module in ("monai", "monai.networks", "monai.networks.nets"):
        monkeypatch.setitem(sys.modules, module, None)  # importing it now fails
    result, out = sweep(runner, tmp_path, "--backbone", "basicunet")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "rmdbench[monai]" in lines[0], result.output
    assert not out.exists()
    with pytest.raises(UserError, match=r"rmdbench\[monai\]"):
        BasicUNetBackbone(1, 1, 4)


def test_a_sweep_file_and_tune_take_the_backbone(tmp_path):
    from rmdbench.sweep import SweepConfig

    path = tmp_path / "sweep.yaml"
    path.write_text("backbone: basicunet[dropout=0.1]\nprofile: tiny\n")
    config = SweepConfig.load(path)
    profile = get_profile(config.profile, backbone=config.backbone)
    assert profile.backbone == "basicunet[dropout=0.1]"
    assert profile.name == "tiny[backbone=basicunet[dropout=0.1]]"


def test_the_default_unet_refuses_a_crop_its_pooling_cannot_take(runner, tmp_path):
    """Four poolings: 16 px is the smallest crop the U-Net runs on, and a smaller one is
    refused when the sweep is planned, instead of failing every run."""
    import torch

    from rmdbench.backbones.unet import UNet2D
    from rmdbench.cli import app

    network = UNet2D(1, 1, 4).eval()
    assert network(torch.rand(1, 1, 16, 16)).shape == (1, 1, 16, 16)
    with pytest.raises(RuntimeError):
        network(torch.rand(1, 1, 8, 8))
    out = tmp_path / "runs"
    arguments = ["--dataset", "toy-disks", "--methods", "single", "--out", str(out)]
    result = runner.invoke(app, ["sweep", "--profile", "tiny[crop_size=8]", *arguments])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "crop_size=16" in result.output
    assert not out.exists()
