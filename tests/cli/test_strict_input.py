"""Hardening: strict input, plug-in code only when asked, outputs checked before the work,
noise severities that fit the crop. Every refusal is one line 'error: ...', exit code 2,
and nothing written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rmdbench.cli import app
from rmdbench.cli.noise import noise_app
from rmdbench.errors import OptionError, UserError
from rmdbench.noise import NoiseFitError
from rmdbench.outputs import OutputError, check_writable_dir, check_writable_file
from rmdbench.params import build_params
from rmdbench.plugins import load_builtins
from rmdbench.registry import DATASETS, METHODS, NOISE_MODELS, Registry, RegistryError

TOY = ["--dataset", "toy-disks", "--profile", "tiny"]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def refused(result, *fragments: str) -> str:
    """The one line of a refusal: exit code 2, a single line starting 'error: ', holding
    every fragment."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output
    return lines[0]


def sweep_args(out: Path, *arguments: str) -> list[str]:
    return ["sweep", *TOY, "--device", "cpu", "--out", str(out), *arguments]


# 1. plug-in code only when asked -------------------------------------------------------


def marker_plugin(folder: Path, name: str) -> tuple[Path, Path]:
    """A plug-in file that leaves a marker file when its code runs and registers method
    ``name`` (unique per test: a registration lasts for the process)."""
    marker = folder / f"{name}.ran"
    plugin = folder / f"{name.replace('-', '_')}.py"
    plugin.write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('ran')\n"
        "from rmdbench.api import METHODS\n"
        "from rmdbench.methods.single import Single\n"
        f"@METHODS.register({name!r})\n"
        "class Marked(Single):\n"
        "    pass\n"
    )
    return plugin, marker


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_sweep_file_plugin_key_needs_allow_plugins(runner, tmp_path, dry_run):
    name = f"marked-file-{len(dry_run)}"
    plugin, marker = marker_plugin(tmp_path, name)
    config = tmp_path / "sweep.yaml"
    config.write_text(f"plugin: [{plugin}]\nmethods: [{name}]\n")
    out = tmp_path / "runs"
    result = runner.invoke(app, sweep_args(out, "--config", str(config), *dry_run))
    refused(result, "--allow-plugins", str(config))
    assert not marker.exists()  # the file's code never ran
    assert not out.exists()
    assert name not in METHODS


@pytest.mark.parametrize("permission", ["--allow-plugins", "--plugin"])
def test_dry_run_runs_no_plugin_code(runner, tmp_path, permission):
    """Neither a sweep file's plug-in (allowed) nor one on the command line runs under
    --dry-run; the plan says what it cannot resolve and what to do."""
    name = f"marked-dry{permission.replace('-', '_')}"
    plugin, marker = marker_plugin(tmp_path, name)
    out = tmp_path / "runs"
    if permission == "--allow-plugins":
        config = tmp_path / "sweep.yaml"
        config.write_text(f"plugin: [{plugin}]\nmethods: [{name}]\n")
        arguments = ["--config", str(config), "--allow-plugins"]
    else:
        arguments = ["--plugin", str(plugin), "--methods", name]
    result = runner.invoke(app, sweep_args(out, *arguments, "--dry-run"))
    refused(result, "--dry-run runs no plug-in code", f"method '{name}'", str(plugin))
    assert not marker.exists()
    assert not out.exists()


def test_dry_run_with_a_plugin_plans_the_built_in_grid(runner, tmp_path):
    """A plug-in that the grid does not need is not run, and the plan is made."""
    plugin, marker = marker_plugin(tmp_path, "marked-unused")
    out = tmp_path / "runs"
    result = runner.invoke(
        app, sweep_args(out, "--plugin", str(plugin), "--methods", "single", "--dry-run")
    )
    assert result.exit_code == 0, result.output
    assert "sweep plan" in result.output
    assert not marker.exists() and not out.exists()


# 2. strict input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments, fragments",
    [
        (["--noise", ""], ["'--noise': no value"]),
        (["--methods", ""], ["'--methods': no value"]),
        (["--methods", ","], ["'--methods': no value"]),
        (["--noise-model", ""], ["'--noise-model': no value"]),
        (["--dataset", ""], ["'--dataset': no value"]),
        (["--seeds", "abc"], ["'--seeds'", "'abc' is not a seed", "--help"]),
        (["--seeds", "0,1.5"], ["'1.5' is not a seed"]),
        (["--noise", "0 0.4"], ["'0 0.4' is not a noise ratio", "e.g. --noise 0,0.4,0.8"]),
        (["--workers", "many"], ["'--workers'"]),
        (["--checkpoint-every", "1.5"], ["'--checkpoint-every'"]),
    ],
)
def test_empty_or_unparsable_option_is_refused(runner, tmp_path, arguments, fragments):
    out = tmp_path / "runs"
    dataset = [] if "--dataset" in arguments else ["--dataset", "toy-disks"]
    base = ["sweep", "--profile", "tiny", "--device", "cpu", "--out", str(out), *dataset]
    refused(runner.invoke(app, [*base, *arguments]), *fragments)
    assert not out.exists()  # no plan written, no run store


def test_parameter_errors_of_every_command_are_one_line(runner, tmp_path):
    refused(runner.invoke(app, ["bench", "--iterations", "few"]), "'--iterations'")
    refused(runner.invoke(app, ["nosuch"]), "No such command 'nosuch'")
    refused(
        runner.invoke(noise_app, ["preview", "--out", str(tmp_path / "x.png")]), "--noise-model"
    )
    refused(runner.invoke(app, ["noise", "stats", "--seed", "x"]), "'--seed'")
    assert not list(tmp_path.iterdir())


# the command line: one form of list, nothing it does not understand ---------------------


def list_options() -> list[tuple[tuple[str, ...], object]]:
    """Every multi-valued option of every command, read from the app: (command path, option)."""
    from tests.helpers.fuzz import commands

    found = [
        (path, param)
        for path, command in commands().items()
        for param in command.params
        if (param.metavar or "").endswith(",...")
    ]
    assert {("sweep", "--seeds"), ("tune", "--noise"), ("report", "--filter")} <= {
        (" ".join(path), param.opts[0]) for path, param in found
    }
    return found


def test_every_list_option_is_one_comma_separated_value():
    """No option is repeatable (click's multiple) and no command takes extra words: a list
    is one value, '1,2', whatever the command."""
    from tests.helpers.fuzz import commands

    for path, command in commands().items():
        assert not command.allow_extra_args, path
        assert not [param.name for param in command.params if param.multiple], path
    for path, param in list_options():
        context = commands()[path].make_context(
            path[-1], [param.opts[0], "1,2"], resilient_parsing=True
        )
        assert [str(item) for item in context.params[param.name]] == ["1", "2"], path
        context = commands()[path].make_context(
            path[-1], [param.opts[0], "3"], resilient_parsing=True
        )
        assert [str(item) for item in context.params[param.name]] == ["3"], path


def test_a_list_option_given_twice_or_spaced_is_refused_naming_the_comma_form(runner):
    """'--seeds 0 --seeds 1' (click kept the last) and '--seeds 0 1' (1 was a stray word,
    or for --noise one more ratio): refused for every list option, naming 'OPTION 0,1'."""
    from tests.helpers.fuzz import commands

    for path, param in list_options():
        option = param.opts[0]
        arguments = ["x" for item in commands()[path].params if item.param_type_name == "argument"]
        twice = runner.invoke(app, [*path, *arguments, option, "0", option, "1"])
        refused(twice, f"{option} is given more than once", f"did you mean {option} 0,1?")
        spaced = runner.invoke(app, [*path, *arguments, option, "0", "1"])
        refused(spaced, "unexpected word '1'", f"did you mean {option} 0,1?")


def test_the_issue_line_is_refused_and_its_comma_form_planned_as_written(runner, tmp_path):
    """'--noise 0.4 --seeds 0 1' planned r = 0.4 and r = 1 with seed 0; now it is refused,
    and '--noise 0.4 --seeds 0,1' plans r = 0.4 with seeds 0 and 1, nothing else."""
    out = tmp_path / "runs"
    base = sweep_args(out, "--methods", "single", "--dry-run", "--noise", "0.4")
    refused(runner.invoke(app, [*base, "--seeds", "0", "1"]), "unexpected word '1'")
    planned = runner.invoke(app, [*base, "--seeds", "0,1"])
    assert planned.exit_code == 0, planned.output
    assert "sweep plan · 2 runs" in planned.output
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in planned.output.splitlines()
        if line.startswith("│")
    ]
    assert sorted((row[4], row[5]) for row in rows) == [("0.4", "0"), ("0.4", "1")]
    assert not out.exists()


@pytest.mark.parametrize(
    "arguments, fragments",
    [
        (["--seed", "1"], ["unknown option --seed (did you mean --seeds?)"]),
        (["--nosie", "0.8"], ["unknown option --nosie (did you mean --noise?)"]),
        (["--method", "rmd"], ["unknown option --method (did you mean --methods?)"]),
        (["--seeds=1", "--bogus-flag"], ["unknown option --bogus-flag", "--help"]),
        (["stray"], ["unexpected word 'stray'"]),
        (["--noise", "0.4", "0.8", "1"], ["unexpected words '0.8', '1'", "--noise 0.4,0.8?"]),
        (["--seeds=0", "1"], ["unexpected word '1' (did you mean --seeds 0,1?)"]),
        (["--profile", "quick"], ["--profile is given more than once; give it once"]),
        (["--dry-run", "--dry-run"], ["--dry-run is given more than once"]),
    ],
)
def test_what_the_sweep_does_not_understand_is_one_line(runner, tmp_path, arguments, fragments):
    """An unknown option names the closest one; a stray word or an option given twice is
    refused before anything is planned (TOY already gives --profile)."""
    out = tmp_path / "runs"
    refused(runner.invoke(app, sweep_args(out, "--dry-run", *arguments)), *fragments)
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["bench", "--methods", "single", "rmd"], ["did you mean --methods single,rmd?"]),
        (["report", "runs", "extra"], ["unexpected word 'extra'"]),
        (["report", "--metric", "dsc", "--metric", "iou"], ["did you mean --metric dsc,iou?"]),
        (["noise", "stats", "--sed", "1"], ["did you mean --seed?"]),
        (["noise", "preview", "--noise", "0.4", "0.8"], ["did you mean --noise 0.4,0.8?"]),
        (["list", "methods", "--plugin", "a.py", "b.py"], ["did you mean --plugin a.py,b.py?"]),
        (["data", "info", "a", "b"], ["unexpected word 'b'"]),
        (["status", "runs", "--out", "x"], ["unknown option --out"]),
    ],
)
def test_every_command_refuses_what_it_does_not_understand(runner, tmp_path, argv, fragments):
    refused(runner.invoke(app, argv), *fragments)


def test_help_still_works(runner):
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and "sweep" in top.output
    sweep = runner.invoke(app, ["sweep", "--help"])
    assert sweep.exit_code == 0 and "--allow-plugins" in sweep.output


@pytest.mark.parametrize(
    "file_text, fragments",
    [
        (
            "methods: [single]\nseeds: [0]\nmethods: [rmd]\n",
            ["sets 'methods' twice (lines 1 and 3)"],
        ),
        ("methods:\n  rmd: {distill: true, distill: false}\n", ["sets 'distill' twice"]),
        ("seeds: []\n", ["'seeds' is empty"]),
        ("methods: []\n", ["'methods' is empty"]),
        ("noise: ''\n", ["'noise' is empty"]),
        ("methods:\n  rmd: {distill: 3}\n", ["parameter 'distill' expects true or false, got 3"]),
        ("methods:\n  rmd: {augmented_views: 2.5}\n", ["'augmented_views' expects an integer"]),
        ("methods:\n  rmd: {augmented_views: true}\n", ["'augmented_views' expects an integer"]),
        ("methods:\n  coteaching: {forget_rate: true}\n", ["'forget_rate' expects a number"]),
        ("methods:\n  rmd: {variant: 3}\n", ["'variant' must be one of paper, released, got 3"]),
        ("noise_model:\n  bias: {direction: [erode]}\n", ["'direction' must be one of"]),
        ("noise_model:\n  erosion_dilation: {radius: [1, 2.5]}\n", ["'radius' expects an integer"]),
        ("noise_model:\n  mixed: {models: 3}\n", ["'models' expects text, got 3"]),
    ],
)
def test_bad_sweep_file_is_refused_before_anything_is_written(
    runner, tmp_path, file_text, fragments
):
    config = tmp_path / "sweep.yaml"
    config.write_text(file_text)
    out = tmp_path / "runs"
    refused(
        runner.invoke(app, sweep_args(out, "--config", str(config), "--noise", "0.5")), *fragments
    )
    assert not out.exists()


def test_non_utf8_sweep_file_is_one_line(runner, tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_bytes("methods: [single]\n# café\n".encode("latin-1"))
    out = tmp_path / "runs"
    refused(runner.invoke(app, sweep_args(out, "--config", str(config))), "not UTF-8", "line 2")
    assert not out.exists()


def test_yaml_merge_keys_may_still_be_overridden(tmp_path):
    """The duplicate-key check is about one mapping: '<<: *base' then a key is allowed."""
    from rmdbench.sweep import read_sweep_file

    config = tmp_path / "sweep.yaml"
    config.write_text(
        "methods:\n  - rmd: &base {distill: true, forget_rate: 0.1}\n"
        "  - rmd: {<<: *base, forget_rate: 0.2}\n"
    )
    assert read_sweep_file(config)["methods"] == [
        ("rmd", {"distill": True, "forget_rate": 0.1}),
        ("rmd", {"distill": True, "forget_rate": 0.2}),
    ]


def test_build_params_checks_values_that_are_not_text():
    """YAML, JSON and Python values are checked against the field type, not passed on."""
    load_builtins()
    rmd = METHODS.get("rmd").Params
    resolved = build_params(rmd, {"distill": False, "forget_rate": 0, "augmented_views": 2}, "rmd")
    assert resolved.distill is False and resolved.forget_rate == 0.0
    assert isinstance(resolved.forget_rate, float)  # an integer for a float: one hash
    erosion = NOISE_MODELS.get("erosion_dilation").Params
    assert build_params(erosion, {"radius": [2, 3]}, "e").radius == (2, 3)  # JSON lists
    assert build_params(erosion, {"radius": 2}, "e").radius == (2, 2)  # one value: low = high
    for field, value in [
        ("distill", 1),
        ("distill", "maybe"),
        ("distill", None),
        ("augmented_views", True),
        ("augmented_views", 2.0),
        ("forget_rate", False),
        ("variant", "paperish"),
    ]:
        with pytest.raises(UserError, match=f"parameter '{field}'"):
            build_params(rmd, {field: value}, "method 'rmd'")


def test_a_grid_without_runs_is_refused_by_the_engine():
    from rmdbench.profiles import get_profile
    from rmdbench.sweep import plan_sweep

    axes = dict(datasets=["toy-disks"], noise_models=["distortion"], noise_ratios=[0.5], seeds=[0])
    with pytest.raises(OptionError, match="no methods given") as caught:
        plan_sweep(**axes, methods=[], profile=get_profile("tiny"))
    assert caught.value.option == "methods"
    with pytest.raises(OptionError, match="no noise ratios given"):
        plan_sweep(
            **{**axes, "noise_ratios": [""]}, methods=["single"], profile=get_profile("tiny")
        )


# 3. plug-ins fail early and clearly ----------------------------------------------------


@pytest.mark.parametrize(
    "source, entry, fragments",
    [
        (
            "from rmdbench.api import METHODS\nMETHODS.register('{name}')(3)\n",
            "method",
            ["must be a subclass of Method, got int 3"],
        ),
        (
            "from rmdbench.api import METHODS, Method\n"
            "@METHODS.register('{name}')\nclass NotData(Method):\n    Params = dict\n",
            "method",
            ["must set Params to a dataclass"],
        ),
        (
            "from rmdbench.api import NOISE_MODELS\nNOISE_MODELS.add('{name}', int)\n",
            "noise model",
            ["must be a subclass of NoiseModel"],
        ),
        (
            "from rmdbench.api import NOISE_MODELS, NoiseModel\n"
            "@NOISE_MODELS.register('{name}')\nclass NoParams(NoiseModel):\n    pass\n",
            "noise model",
            ["must set Params to a dataclass"],
        ),
        (
            "from rmdbench.api import BACKBONES\n"
            "@BACKBONES.register('{name}')\nclass Plain:\n    pass\n",
            "backbone",
            ["must be a subclass of Backbone"],
        ),
        (
            "from rmdbench.api import DATASET_FORMATS\nDATASET_FORMATS.add('{name}', object())\n",
            "dataset format",
            ["must be a subclass of DatasetFormat"],
        ),
        (
            "from rmdbench.api import DATASETS\nDATASETS.add('{name}', 5)\n",
            "dataset",
            ["must be a function"],
        ),
    ],
)
def test_plugin_registering_the_wrong_kind_is_refused_on_load(
    runner, tmp_path, source, entry, fragments
):
    name = f"wrong-{tmp_path.name}"  # a registration would last for the process
    plugin = tmp_path / "wrong_kind.py"
    plugin.write_text(source.format(name=name))
    result = runner.invoke(app, ["list", "--plugin", str(plugin)])
    refused(result, str(plugin), f"{entry} '{name}'", *fragments)


def test_a_refused_plugin_file_leaves_nothing_registered(runner, tmp_path):
    plugin = tmp_path / "half_good.py"
    plugin.write_text(
        "from rmdbench.api import METHODS\nfrom rmdbench.methods.single import Single\n"
        "@METHODS.register('half-good')\nclass Good(Single):\n    pass\n"
        "METHODS.register('half-bad')(3)\n"
    )
    refused(runner.invoke(app, ["list", "--plugin", str(plugin)]), "method 'half-bad'")
    assert "half-good" not in METHODS and "half-bad" not in METHODS


def test_plugin_calling_sys_exit_is_one_line_exit_2(runner, tmp_path):
    plugin = tmp_path / "exits.py"
    plugin.write_text("import sys\nsys.exit(3)\n")
    refused(runner.invoke(app, ["list", "--plugin", str(plugin)]), str(plugin), "sys.exit(3)")
    out = tmp_path / "runs"
    result = runner.invoke(app, sweep_args(out, "--plugin", str(plugin), "--methods", "single"))
    refused(result, "called sys.exit(3)")
    assert not out.exists()


def test_registry_check_runs_for_every_registration():
    registry = Registry("thing", lambda factory: None if factory == "ok" else "is not ok")
    registry.add("good", "ok")
    with pytest.raises(RegistryError, match="thing 'bad' is not ok"):
        registry.add("bad", "no")
    assert registry.names() == ["good"]
    with pytest.raises(RegistryError, match="must be a function"):
        DATASETS.add("not-callable", 3)


# 4. outputs checked before the work ----------------------------------------------------


def test_output_checks_write_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    nested = tmp_path / "a" / "b"
    assert check_writable_dir(nested, "report") == nested
    assert check_writable_file(nested / "fig.png", "figure") == nested / "fig.png"
    assert not (tmp_path / "a").exists()  # judged, not created
    for call in (
        lambda: check_writable_dir(blocker, "report"),
        lambda: check_writable_dir(blocker / "sub", "report"),
        lambda: check_writable_file(blocker / "fig.png", "figure"),
        lambda: check_writable_file(tmp_path, "figure"),
    ):
        with pytest.raises(OutputError, match="--out"):
            call()


@pytest.mark.skipif(IS_ROOT, reason="root may write into any folder")
def test_unwritable_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(OutputError, match="not writable"):
            check_writable_dir(locked / "report", "report")
        with pytest.raises(OutputError, match="not writable"):
            check_writable_file(locked / "fig.png", "figure")
    finally:
        locked.chmod(stat.S_IRWXU)


def test_unwritable_folder_is_one_line_before_the_work(runner, tmp_path, monkeypatch):
    """The same refusal when the permission check says no (as root it never does)."""
    import rmdbench.noise_stats
    import rmdbench.outputs

    monkeypatch.setattr(rmdbench.outputs, "_writable", lambda folder: False)
    monkeypatch.setattr(rmdbench.noise_stats, "load_dataset", _never)
    base = ["noise", "preview", "--noise-model", "distortion", "--dataset", "toy-disks"]
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "new" / "fig.png")])
    refused(result, f"{tmp_path} is not writable", "--out")
    assert not (tmp_path / "new").exists()


def _never(*args, **kwargs):
    raise AssertionError("the work started before the output was checked")


def test_noise_preview_checks_out_before_loading_data(runner, tmp_path, monkeypatch):
    import rmdbench.noise_stats

    monkeypatch.setattr(rmdbench.noise_stats, "load_dataset", _never)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    base = ["noise", "preview", "--noise-model", "distortion", "--dataset", "toy-disks"]
    refused(runner.invoke(app, [*base, "--out", str(blocker / "fig.png")]), "is a file", "--out")
    refused(runner.invoke(app, [*base, "--out", str(tmp_path)]), "--out")  # a folder
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]


def test_bench_checks_out_before_timing(runner, tmp_path, monkeypatch):
    import rmdbench.bench

    monkeypatch.setattr(rmdbench.bench, "run_bench", _never)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, ["bench", "--iterations", "1", "--out", str(blocker)])
    refused(result, "is a file", "--out")


def test_sweep_checks_out_before_building_datasets(runner, tmp_path, monkeypatch):
    import rmdbench.sweep

    monkeypatch.setattr(rmdbench.sweep, "prepare_datasets", _never)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, sweep_args(blocker / "runs", "--methods", "single"))
    refused(result, "is a file", "--out")


# 5. noise severities in range ----------------------------------------------------------


@pytest.mark.parametrize(
    "noise_model, fragment",
    [
        ("erosion_dilation[radius=99999]", "radius=99999 is larger than the 32 px crop"),
        ("erosion_dilation[radius=1-33]", "radius=33"),
        ("bias[radius=40]", "radius=40"),
        ("affine[shift=1-500]", "shift=500"),
        ("boundary[amplitude=64]", "amplitude=64"),
        ("distortion[points=100000]", "points=100000"),
        ("mixed[models=distortion+erosion_dilation[radius=999]]", "radius=999"),
    ],
)
def test_severity_beyond_the_crop_is_refused_at_plan_time(runner, tmp_path, noise_model, fragment):
    out = tmp_path / "runs"
    result = runner.invoke(
        app, sweep_args(out, "--noise-model", noise_model, "--methods", "single", "--noise", "0.5")
    )
    refused(result, fragment)
    assert not out.exists()


def test_severity_up_to_the_crop_is_planned():
    from rmdbench.profiles import get_profile
    from rmdbench.sweep import plan_sweep

    plan = dict(datasets=["toy-disks"], noise_ratios=[0.5], methods=["single"], seeds=[0])
    specs = plan_sweep(
        **plan, noise_models=["erosion_dilation[radius=32]"], profile=get_profile("tiny")
    )
    assert list(specs[0].noise_params["radius"]) == [32, 32]
    with pytest.raises(NoiseFitError) as caught:
        plan_sweep(**plan, noise_models=["bias[radius=33]"], profile=get_profile("tiny"))
    assert (caught.value.parameter, caught.value.value, caught.value.crop_size) == (
        "radius",
        33,
        32,
    )


def test_report_checks_out_before_reading_the_store(runner, tmp_path, monkeypatch):
    """A report --out that is a file is one line and exit 2, before any table is built."""
    import rmdbench.reports.report as report_module

    def never(*args, **kwargs):
        raise AssertionError("the report was built before its output was checked")

    monkeypatch.setattr(report_module, "build_report", never)
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["report", str(tmp_path), "--out", str(blocker)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "is a file" in lines[0]


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_a_file_in_place_of_the_store_or_the_cache_is_one_line_before_planning(
    runner, tmp_path, monkeypatch, dry_run
):
    """--out or the dataset cache being a file: one line, exit 2, before any progress line
    (a dry run too: it would plan a store that cannot exist)."""
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    base = ["sweep", "--dataset", "toy-disks", "--profile", "tiny", "--methods", "single"]
    result = runner.invoke(app, [*base, "--noise", "0", "--out", str(blocker), *dry_run])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "is a file" in lines[0]
    monkeypatch.setenv("RMDBENCH_CACHE_DIR", str(blocker))
    out = tmp_path / "runs"
    result = runner.invoke(app, [*base, "--noise", "0", "--out", str(out), *dry_run])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "RMDBENCH_CACHE_DIR" in lines[0] and not out.exists()
