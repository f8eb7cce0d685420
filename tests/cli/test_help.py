"""Every command's --help, read from the app (``typer.main.get_command``): its help text and
every option's shown as written, brackets included ('name[key=value,...]', '[D-]HH:MM:SS',
'[default: 0.8]': rich markup read them as style tags and dropped them), and the default
of every option that has one."""

from __future__ import annotations

import re

import pytest
import typer

from rmdbench.cli import app

#: wide enough that no help line wraps: each text is found whole
WIDE = 1000
BOX = re.compile(r"[│╭╮╰╯─]")


def every_command() -> dict[tuple[str, ...], object]:
    """Every command and group of the app by its path: (), ('sweep',), ('noise', 'stats')..."""
    found = {}

    def walk(path: tuple[str, ...], command: object) -> None:
        found[path] = command
        for name, child in getattr(command, "commands", {}).items():
            walk((*path, name), child)

    walk((), typer.main.get_command(app))
    return found


COMMANDS = every_command()


def help_screen(runner, path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDE)}, terminal_width=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def flat(text: str) -> str:
    """``text`` without the panels' box lines and with its white space collapsed."""
    return " ".join(BOX.sub(" ", text).split())


def rows(screen: str) -> dict[str, str]:
    """Each option's or argument's row of a help screen (its help and default lines), by
    the first word of the row: '--seeds', 'runs_dir'."""
    found: dict[str, str] = {}
    current = None
    for line in screen.splitlines():
        inside = line.removeprefix("│")
        words = inside.replace("*", " ").split()
        if not line.startswith("│") or not words:
            current = None
            continue
        if len(inside) - len(inside.lstrip(" *")) < 6:  # a new row, not a continuation
            current = words[0]
            found[current] = ""
        if current is not None:
            found[current] += " " + flat(inside)
    return found


def shows_a_default(param) -> bool:
    """Whether typer shows the parameter's default: it has one, and it is not an off flag
    ('--dry-run' given or not)."""
    if param.default is None or param.show_default is False:
        return False
    off_flag = getattr(param, "is_flag", False) and not param.secondary_opts and not param.default
    return not off_flag


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda path: " ".join(path) or "rmdbench")
def test_help_shows_every_help_text_whole(runner, path):
    """The command's help (each paragraph) and each parameter's, character for character."""
    command = COMMANDS[path]
    screen = flat(help_screen(runner, path))
    texts = (command.help or "").partition("\f")[0].split("\n\n")
    texts += [param.help for param in command.params if getattr(param, "help", None)]
    for text in filter(None, texts):
        assert flat(text) in screen, f"lost from 'rmdbench {' '.join(path)} --help': {text!r}"


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda path: " ".join(path) or "rmdbench")
def test_help_shows_every_default(runner, path):
    """Each parameter with a default shows '[default: ...]' in its own row."""
    screen = rows(help_screen(runner, path))
    for param in COMMANDS[path].params:
        if shows_a_default(param) and not param.hidden:
            name = param.opts[0] if param.param_type_name == "option" else param.name
            assert "[default: " in screen[name], f"{' '.join(path)} {name}: {screen[name]!r}"


@pytest.mark.parametrize("command", ["sweep", "tune"])
def test_sweep_options_show_the_sweep_defaults(runner, command):
    """The sweep's options default to None (a flag overrides the sweep file only when
    given); their help states the default, which must be SweepConfig's."""
    from rmdbench.sweep import SweepConfig

    screen = rows(help_screen(runner, (command,)))
    checked = 0
    for key, value in vars(SweepConfig()).items():
        if value in (None, [], False):
            continue
        written = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        row = screen["--" + key.replace("_", "-")]
        assert f"[default: {written}" in row, f"--{key}: {row!r}"
        checked += 1
    assert checked >= 8
