"""The layering of the source tree, checked on every import statement (AST, no import).

- the engine (``rmdbench/`` outside ``cli/``) never imports a plug-in folder
  (``rmdbench.methods``, ``rmdbench.noise_models``), ``rmdbench.reports`` or the CLI;
- plug-in folders (and the example plug-in) import rmdbench only through ``rmdbench.api``,
  never another plug-in folder;
- ``reports/`` reads what the engine stored; it imports no plug-in folder and no CLI;
- only ``rmdbench/cli/`` imports typer or rich.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGES = ("rmdbench.methods", "rmdbench.noise_models")
#: folder on disk -> the package its modules are installed as
FOLDERS = {
    "rmdbench": "rmdbench",
    "methods": "rmdbench.methods",
    "noise_models": "rmdbench.noise_models",
    "reports": "rmdbench.reports",
    "examples": "examples",
}


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT)
    package = FOLDERS[relative.parts[0]]
    parts = [*package.split("."), *relative.parts[1:]]
    parts[-1] = parts[-1].removesuffix(".py")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement of ``path`` names, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(path: Path) -> list[str]:
    """The import statements of one source file that break the layering."""
    own = module_name(path)
    found: list[str] = []
    for line, target in imported_modules(path):
        if any(item.startswith(f"{path.relative_to(ROOT)}:{line} ") for item in found):
            continue  # one problem per statement
        where = f"{path.relative_to(ROOT)}:{line} imports {target}"
        top = target.split(".")[0]
        if top in ("typer", "rich") and not within(own, "rmdbench.cli"):
            found.append(f"{where} (only rmdbench/cli/ may use typer or rich)")
        if not within(target, "rmdbench"):
            continue
        plugin = next((p for p in PLUGIN_PACKAGES if within(own, p)), None)
        if plugin or own.startswith("examples"):
            if not (within(target, plugin or "-") or within(target, "rmdbench.api")):
                found.append(f"{where} (a plug-in imports rmdbench only through rmdbench.api)")
        elif within(own, "rmdbench.reports"):
            if any(within(target, p) for p in (*PLUGIN_PACKAGES, "rmdbench.cli")):
                found.append(f"{where} (reports read the run store, not plug-ins or the CLI)")
        elif not within(own, "rmdbench.cli"):
            forbidden = (*PLUGIN_PACKAGES, "rmdbench.reports", "rmdbench.cli")
            if any(within(target, p) for p in forbidden):
                found.append(f"{where} (the engine never imports plug-ins, reports or the CLI)")
    return found


def source_files() -> list[Path]:
    return sorted(path for folder in FOLDERS for path in (ROOT / folder).rglob("*.py"))


def test_the_source_tree_keeps_its_layers():
    found = [problem for path in source_files() for problem in violations(path)]
    assert found == [], "\n".join(dict.fromkeys(found))


@pytest.mark.parametrize(
    ("folder", "statement", "why"),
    [
        ("rmdbench", "import rmdbench.reports", "engine never imports"),
        ("rmdbench", "from rmdbench.methods.rmd import Rmd", "engine never imports"),
        ("rmdbench", "from rich.console import Console", "typer or rich"),
        ("methods", "from rmdbench.noise_models import mixed", "only through rmdbench.api"),
        ("methods", "from rmdbench.training.losses import pixel_loss", "only through rmdbench.api"),
        ("noise_models", "from ..methods import rmd", "only through rmdbench.api"),
        ("reports", "from rmdbench.cli.common import say", "reports read"),
        ("reports", "import typer", "typer or rich"),
    ],
)
def test_a_broken_layer_is_caught(tmp_path, monkeypatch, folder, statement, why):
    """The check itself can fail: each forbidden import, put in a module of that folder."""
    path = ROOT / folder / "_layer_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: statement + "\n")
    problems = violations(path)
    assert len(problems) >= 1 and why in problems[0]


@pytest.mark.parametrize(
    ("folder", "statement"),
    [
        ("methods", "from rmdbench.api import METHODS"),
        ("methods", "from .coteaching import cross_small_loss"),
        ("rmdbench", "from rmdbench.registry import METHODS"),
        ("reports", "from rmdbench.metrics import CONVENTIONS"),
        ("rmdbench/cli", "from rich.table import Table"),
    ],
)
def test_allowed_imports_pass(monkeypatch, folder, statement):
    path = ROOT / folder / "_layer_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: statement + "\n")
    assert violations(path) == []
