"""bf16 only where the device computes it natively, and losses in fp32 under autocast."""

import pytest
import torch

from rmdbench.backbones.unet import UNet2D
from rmdbench.cli import app
from rmdbench.contracts.method import MethodContext, StepState
from rmdbench.errors import PrecisionUnsupported
from rmdbench.plugins import load_builtins
from rmdbench.profiles import get_profile
from rmdbench.registry import METHODS
from rmdbench.training import precision
from rmdbench.training.losses import pixel_kl, pixel_loss

load_builtins()
CPU = torch.device("cpu")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\nflags : x\n")
    assert precision.cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512f", "avx512_bf16"}
    assert precision.cpu_flags(tmp_path / "absent") == set()


@pytest.mark.parametrize(
    "flags, native",
    [
        ({"avx2", "avx512f"}, False),
        ({"avx512_bf16"}, True),
        ({"amx_bf16", "avx2"}, True),
        (set(), False),
    ],
)
def test_native_bf16_needs_avx512_bf16_or_amx(flags, native):
    assert precision.cpu_has_native_bf16(flags) is native
    if native:
        precision.check_precision("bf16", CPU, flags)
    else:
        with pytest.raises(PrecisionUnsupported, match="use --precision fp32"):
            precision.check_precision("bf16", CPU, flags)
    precision.check_precision("fp32", CPU, flags)  # fp32 is never refused


def test_precision_option_names_the_profile_like_its_field():
    assert get_profile("quick", "bf16").name == "quick[precision=bf16]"
    assert get_profile("quick", "bf16") == get_profile("quick[precision=bf16]")
    assert get_profile("quick[epochs=3]", "fp32").name == "quick[epochs=3]"


@pytest.mark.parametrize("command", ["sweep", "bench"])
def test_bf16_on_a_cpu_without_it_is_one_line_exit_2_nothing_written(
    runner, tmp_path, monkeypatch, command
):
    monkeypatch.setattr(precision, "cpu_flags", lambda *_: {"avx2"})
    out = tmp_path / "out"
    arguments = ["--profile", "tiny", "--precision", "bf16", "--device", "cpu", "--out", str(out)]
    if command == "sweep":
        arguments += ["--dataset", "toy-disks", "--methods", "single"]
    else:
        arguments += ["--methods", "single", "--iterations", "1"]
    result = runner.invoke(app, [command, *arguments])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "AVX512_BF16" in lines[0] and "--precision fp32" in lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_bf16_where_native_plans_the_runs_of_the_bf16_profile(runner, tmp_path, monkeypatch):
    """--precision bf16 plans the runs quick[precision=bf16] names: not the fp32 ones."""
    monkeypatch.setattr(precision, "cpu_flags", lambda *_: {"avx512_bf16"})
    base = ["sweep", "--dataset", "toy-disks", "--methods", "single", "--device", "cpu"]
    base += ["--dry-run", "--out", str(tmp_path / "out")]

    def planned_run(*arguments):
        result = runner.invoke(app, [*base, *arguments])
        assert result.exit_code == 0, result.output
        return result.output.strip().splitlines()[-2].split()[-2]  # the plan's run column

    bf16 = planned_run("--profile", "tiny", "--precision", "bf16")
    assert bf16 == planned_run("--profile", "tiny[precision=bf16]")
    assert bf16 != planned_run("--profile", "tiny")


@pytest.mark.parametrize("name", METHODS.names())
def test_losses_stay_fp32_under_bf16_autocast(name):
    """The networks run in bf16, every loss term a method returns is fp32."""
    torch.manual_seed(0)
    method = METHODS.get(name).create({}, MethodContext(build_backbone=lambda: UNet2D(1, 1, 4)))
    images = torch.rand(2, 1, 16, 16)
    labels = (images > 0.5).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = method.training_step(images, labels, StepState(0.5, torch.Generator()))
        assert method.networks[0](images).dtype == torch.bfloat16  # autocast is on
    assert output.loss.dtype == torch.float32
    assert all(term.dtype == torch.float32 for term in output.named_terms().values())


def test_pixel_losses_compute_bf16_logits_in_fp32():
    """A bf16 logit map gives the loss of its fp32 value, not a bf16-rounded loss."""
    logits = torch.tensor([[[[8.0, -3.0, 0.1, 20.0]]]]).to(torch.bfloat16)
    labels = torch.tensor([[[[0.0, 1.0, 1.0, 1.0]]]])
    loss = pixel_loss(logits, labels)
    assert loss.dtype == torch.float32
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits.float(), labels, reduction="none"
    )
    assert torch.equal(loss, expected)
    assert pixel_kl(logits, logits.float() + 1).dtype == torch.float32
