"""Packaging: every source package ships in a non-editable install (a package missing from
pyproject.toml works in the editable dev install and breaks every user's); torch is never
pinned (CI pins its CPU build through a constraints file); optional packages are extras;
--version, py.typed, LICENSE, CITATION.cff and CHANGELOG.md."""

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_directory_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    directories = {
        "rmdbench": ROOT / "rmdbench",
        **{name: ROOT / path for name, path in config["package-dir"].items()},
    }
    found = set()
    for package, directory in directories.items():
        for init in directory.rglob("__init__.py"):
            relative = init.parent.relative_to(directory).parts
            found.add(".".join((package, *relative)))
    assert found - listed == set(), "add these to [tool.setuptools] packages"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    """'torch>=2.2' -> 'torch', 'rmdbench[lidc]' -> 'rmdbench'."""
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower()


def test_torch_is_never_pinned_by_the_package():
    """pip must keep the torch a user has (a CUDA build on a GPU machine): no '==' on torch
    in the dependencies or any extra; the CPU pin lives in CI's constraints file only."""
    project = _project()
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    torch = [text for text in requirements if _name(text) == "torch"]
    assert torch == ["torch>=2.2"], torch
    assert "cpu" not in project["optional-dependencies"]
    constraints = (ROOT / "constraints" / "ci-cpu.txt").read_text().split("\n")
    assert "torch==2.13.0" in constraints
    ci = (ROOT / ".ci" / "run").read_text()
    install = next(line for line in ci.splitlines() if line.startswith("pip install"))
    assert "-c constraints/ci-cpu.txt" in install
    extras = set(re.search(r'"\.\[([^\]]+)\]"', install).group(1).split(","))
    assert {"test", "lidc", "slurm", "mlflow"} <= extras, "CI runs every test: every extra"


def test_optional_packages_are_extras_not_dependencies():
    """monai, pylidc, submitit and mlflow live in extras (the tests install them)."""
    project = _project()
    core = {_name(text) for text in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert not core & {"monai", "pylidc", "submitit", "mlflow", "mlflow-skinny"}
    assert [_name(text) for text in extras["monai"]] == ["monai"]
    assert [_name(text) for text in extras["lidc"]] == ["pylidc"]
    assert [_name(text) for text in extras["slurm"]] == ["submitit"]
    assert [_name(text) for text in extras["mlflow"]] == ["mlflow-skinny"]
    assert any(text.startswith("rmdbench[") and "monai" in text for text in extras["test"])


def test_the_command_line_runs_without_any_extra(tmp_path):
    """With monai, pylidc, submitit and mlflow unimportable, the command line still starts,
    lists what is registered: optional packages are imported
    only where their feature is used."""
    code = (
        "import sys\n"
        "for name in ('monai', 'pylidc', 'submitit', 'mlflow'):\n"
        "    sys.modules[name] = None\n"
        "from rmdbench.cli import app\n"
        "app(['list'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "single" in done.stdout and "lidc-phantom" in done.stdout


def test_version_option(runner):
    from rmdbench.cli import app

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"rmdbench {metadata.version('rmdbench')}\n"


def test_typed_marker_ships_with_the_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert (ROOT / "rmdbench" / "py.typed").is_file()
    assert "py.typed" in config["package-data"]["rmdbench"]


def test_licence_citation_and_changelog():
    import yaml

    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "rmdbench developers" in (ROOT / "LICENSE").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["title"] == "rmdbench"
    assert citation["version"] == _project()["version"]
    titles = " ".join(reference["title"] for reference in citation["references"])
    assert "Reliable Mutual Distillation" in titles and "LIDC" in titles
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and f"## [{_project()['version']}]" in changelog
