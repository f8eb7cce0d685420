"""``rmdbench noise preview`` and ``rmdbench noise stats`` on the toy dataset, and their bad
input (one line, exit code 2)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rmdbench.cli.noise import noise_app
from rmdbench.data.base import SegmentationData
from rmdbench.data.toy import load_toy_disks
from rmdbench.plugins import load_builtins
from rmdbench.registry import DATASETS, NOISE_MODELS, Entry

TOY = ["--dataset", "toy-disks", "--crop-size", "32"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    load_builtins()
    return CliRunner()


@pytest.fixture
def bare_dataset(monkeypatch: pytest.MonkeyPatch) -> str:
    """toy-disks without per-reader masks, registered for one test only."""

    def load(*, crop_size: int = 32, cache_dir=None, progress=None) -> SegmentationData:
        toy = load_toy_disks(crop_size=crop_size)
        return SegmentationData(
            name="bare-disks",
            images=toy.images,
            masks=toy.masks,
            spacing=toy.spacing,
            patient_ids=toy.patient_ids,
            split=toy.split,
            case_ids=toy.case_ids,
        )

    monkeypatch.setitem(DATASETS._entries, "bare-disks", Entry("bare-disks", load, "test"))
    return "bare-disks"


def read_csv(output: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(output))


def test_stats_csv_has_every_model_preset_and_the_readers(runner: CliRunner) -> None:
    result = runner.invoke(noise_app, ["stats", *TOY, "--format", "csv"])
    assert result.exit_code == 0, result.output
    frame = read_csv(result.output)
    expected = {(n, p) for n in NOISE_MODELS.names() for p in NOISE_MODELS.get(n).presets}
    assert expected <= set(zip(frame["noise_model"], frame["severity"], strict=True))
    n_train = int((load_toy_disks(crop_size=32).split == "train").sum())
    noise = frame[frame["noise_model"] != "real readers"]
    assert (noise["cases"] == n_train).all()
    assert noise["dsc_mean"].between(0, 1).all() and (noise["hd95_mean_mm"] >= 0).all()
    readers = frame[frame["noise_model"] == "real readers"].set_index("severity")
    assert readers.loc["reader vs consensus", "cases"] == 4 * n_train
    assert readers.loc["reader vs reader", "cases"] == 6 * n_train  # 4 readers: 6 pairs
    assert 0.5 < readers.loc["reader vs reader", "dsc_median"] < 1
    mild, severe = (
        noise.set_index(["noise_model", "severity"]).loc[("erosion_dilation", p), "dsc_mean"]
        for p in ("mild", "severe")
    )
    assert mild > severe


def test_stats_markdown_for_chosen_models(runner: CliRunner) -> None:
    result = runner.invoke(
        noise_app,
        [
            "stats",
            *TOY,
            "--format",
            "md",
            "--noise-model",
            "erosion_dilation[radius=2-3],bias",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("|")]
    assert lines[0].split("|")[1].strip() == "noise_model"
    body = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[2:]]
    rows = {(row[0], row[1]) for row in body}
    assert ("erosion_dilation", "radius=2-3") in rows
    assert {("bias", preset) for preset in NOISE_MODELS.get("bias").presets} <= rows
    assert ("real readers", "reader vs consensus") in rows
    assert not any(row[0] == "affine" for row in body)
    assert "ratio 1, seed 0" in result.output


def test_stats_terminal_table(runner: CliRunner) -> None:
    result = runner.invoke(noise_app, ["stats", *TOY, "--noise-model", "reader"])
    assert result.exit_code == 0, result.output
    assert "realised noise" in result.output and "farthest" in result.output


def test_stats_skips_reader_models_on_a_dataset_without_readers(
    runner: CliRunner, bare_dataset: str
) -> None:
    result = runner.invoke(noise_app, ["stats", "--dataset", bare_dataset, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "skipped reader[default]: this dataset has no per-reader masks" in result.output
    explicit = runner.invoke(
        noise_app, ["stats", "--dataset", bare_dataset, "--noise-model", "reader"]
    )
    assert explicit.exit_code == 2
    assert explicit.output.strip().startswith("error: ") and "lidc-phantom" in explicit.output
    assert len(explicit.output.strip().splitlines()) == 1


def test_preview_per_ratio_writes_a_small_png(runner: CliRunner, tmp_path) -> None:
    out = tmp_path / "figures" / "preview.png"
    arguments = ["preview", *TOY, "--noise-model", "affine", "--noise", "0.2,0.8"]
    result = runner.invoke(noise_app, [*arguments, "--cases", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) < 200_000


def test_preview_per_preset(runner: CliRunner, tmp_path) -> None:
    out = tmp_path / "presets.png"
    result = runner.invoke(
        noise_app, ["preview", *TOY, "--noise-model", "erosion_dilation", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_preview_cases_show_the_nesting() -> None:
    from rmdbench.noise import selection_order
    from rmdbench.noise_stats import preview_cases, resolve_severities

    data = load_toy_disks(crop_size=32)
    severity = resolve_severities("bias", every_preset=False)[0]
    order = selection_order(data, "bias", severity.key, 0)
    shown = preview_cases(data, order, 4)
    positions = sorted(int(np.flatnonzero(order == index)[0]) for index in shown)
    assert len(shown) == 4 and positions[0] < len(order) / 4 < positions[-1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["stats", *TOY, "--format", "xml"], "unknown --format 'xml'"),
        (["stats", *TOY, "--noise-model", "nosuch"], "unknown noise model 'nosuch'"),
        (["stats", *TOY, "--noise-model", "bias[radius=3-1]"], "radius range 3-1"),
        (["stats", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
        (["preview", *TOY, "--noise-model", "bias", "--noise", "1.5"], "outside [0, 1]"),
        (["preview", *TOY, "--noise-model", "bias", "--noise", "lots"], "not a noise ratio"),
        (["preview", *TOY, "--noise-model", "bias[nosuch=1]"], "no parameter nosuch"),
        (["preview", *TOY, "--noise-model", "bias", "--cases", "0"], "--cases 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    runner: CliRunner, tmp_path, arguments: list[str], message: str
) -> None:
    out = ["--out", str(tmp_path / "p.png")] if arguments[0] == "preview" else []
    result = runner.invoke(noise_app, [*arguments, *out])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_preview_rejects_an_unknown_figure_format(runner: CliRunner, tmp_path) -> None:
    out = tmp_path / "figure.txt"
    result = runner.invoke(noise_app, ["preview", *TOY, "--noise-model", "bias", "--out", str(out)])
    assert result.exit_code == 2 and "use a .png" in result.output
    assert not out.exists()


def test_preview_and_stats_seed_the_noise_as_a_sweep_run_does() -> None:
    from rmdbench.noise_stats import resolve_severities
    from rmdbench.profiles import get_profile
    from rmdbench.sweep import plan_sweep

    text = "bias[preset=under,radius=2-3]"
    (spec,) = plan_sweep(
        datasets=["toy-disks"],
        noise_models=[text],
        noise_ratios=[0.5],
        methods=["single"],
        seeds=[0],
        profile=get_profile("tiny"),
    )
    (severity,) = resolve_severities(text, every_preset=True)
    assert severity.key == spec.severity_key and severity.label == "preset=under,radius=2-3"
