"""Packaging: every source package ships in a non-editable install (a package missing from
pyproject.toml works in the editable dev install and breaks every user's)."""

import tomllib
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
