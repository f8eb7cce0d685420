"""What every command shares: the consoles, the one-line error exit, the strict command
line (one comma-separated value per list option) and the progress bar."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import track as rich_track
from typer.core import TyperGroup

from rmdbench.params import split_top_level
from rmdbench.progress import Track

try:  # typer >= 0.20 carries its own copy of click
    from typer._click.exceptions import ClickException, NoSuchOption, UsageError
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import ClickException, NoSuchOption, UsageError

console = Console()
error_console = Console(stderr=True)

#: how help text is read: as Markdown, where 'name[key=value,...]', '[D-]HH:MM:SS' and
#: '[default: 0.8]' are text (rich markup, typer's default, reads them as style tags and
#: drops them); the help panels stay (tests/cli/test_help.py checks nothing is lost)
HELP_MARKUP = "markdown"
#: how the metavar of every list option ends ('SEED,...'): the help shows the convention,
#: and the strict command line knows a list option by it
LIST_METAVAR_END = ",..."


#: the categories of characters that are escaped in a refusal: controls (a newline, a
#: carriage return, escape...) and the Unicode line and paragraph separators
UNPRINTED = ("Cc", "Zl", "Zp")


def one_line(text: str) -> str:
    """``text`` with every control character or line separator escaped as Python writes it
    (a newline as the two characters backslash-n): a refusal that echoes a value given
    with a newline in it stays one line, and shows what was given."""
    return "".join(
        repr(char)[1:-1] if unicodedata.category(char) in UNPRINTED else char for char in text
    )


def refuse(message: str) -> None:
    """Print the one line 'error: MESSAGE' on stderr (``one_line``: never two)."""
    error_console.print(
        f"error: {one_line(message)}", markup=False, highlight=False, soft_wrap=True
    )


def fail(message: str) -> typer.Exit:
    """Print the refusal ``message`` as one line and return the exit (code 2) to raise."""
    refuse(message)
    return typer.Exit(code=2)


def usage_message(error: ClickException) -> str:
    """A click/typer parameter error ('--seeds abc') as one line naming the help to read."""
    message = " ".join(error.format_message().split()).rstrip(".")
    context = getattr(error, "ctx", None)
    if isinstance(error, NoSuchOption) and context is not None:
        message = f"unknown option {error.option_name}{closest_option(error.option_name, context)}"
    if context is not None:
        message += f"; see '{context.command_path} --help'"
    return message


@contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """Parameter errors as every other refusal: one line 'error: ...', exit code 2 (not
    typer's boxed usage screen). A bare command still shows its help."""
    try:
        yield
    except ClickException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # not an error: the help screen
            raise
        refuse(usage_message(error))
        raise typer.Exit(code=error.exit_code) from None


def closest_option(name: str, context: Any) -> str:
    """' (did you mean --seeds?)' for '--seed': the command's option spelt most like ``name``
    (difflib), or '' when none is close."""
    names = [
        option
        for param in context.command.params
        for option in (*param.opts, *param.secondary_opts)
        if option.startswith("-")
    ]
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def list_option(
    *names: str, metavar: str, item: Callable[[str], Any] = str, **settings: Any
) -> Any:
    """A multi-valued option: ONE value, comma-separated ('--seeds 0,1,2', '--methods
    single,rmd[distill=false,augmented_views=2]': commas inside brackets stay in the item),
    read into a list of ``item``. One token per option keeps the command line strict: a
    word after it is a stray word, refused, never one more value. Annotate it ``list |
    None``: a bare ``list`` is one token to typer, ``list[str]`` a repeatable option."""

    def parse(text: str) -> list:
        values = split_top_level(text)
        if not values:
            raise typer.BadParameter("no value; give one or more, comma-separated")
        parsed = []
        for value in values:
            try:
                parsed.append(item(value))
            except ValueError:
                raise typer.BadParameter(f"'{value}' is not a {metavar.lower()}") from None
        return parsed

    return typer.Option(*names, parser=parse, metavar=metavar + LIST_METAVAR_END, **settings)


def check_command_line(command: Any, context: Any, args: list[str]) -> None:
    """Refuse, as a usage error, what click would take silently: an option given twice
    (click keeps the last: '--seeds 0 --seeds 1' would run seed 1 only) and a word that no
    argument takes. Unknown options are refused by the parse itself."""
    _, strays, order = command.make_parser(context).parse_args(args=list(args))
    seen: set[str] = set()
    for param in order:
        if param.name in seen:
            raise UsageError(given_twice(param, args), context)
        seen.add(param.name)
    if strays and not context.allow_extra_args:
        words = ", ".join(f"'{word}'" for word in strays)
        message = f"unexpected word{'s' if len(strays) > 1 else ''} {words}"
        raise UsageError(message + list_hint(command, args, strays[0]), context)


def is_list_option(param: Any) -> bool:
    return (param.metavar or "").endswith(LIST_METAVAR_END)


def given_twice(param: Any, args: list[str]) -> str:
    """The refusal of an option given more than once, with the one to write instead."""
    name = param.opts[0]
    if not is_list_option(param):
        return f"{name} is given more than once; give it once"
    values = []
    for index, token in enumerate(args):
        option, equals, value = token.partition("=")
        if option in param.opts and not equals and index + 1 < len(args):
            value = args[index + 1]
        if option in param.opts:
            values.append(value)
    return (
        f"{name} is given more than once; a list is one comma-separated value "
        f"(did you mean {name} {','.join(values)}?)"
    )


def list_hint(command: Any, args: list[str], word: str) -> str:
    """' (did you mean --seeds 0,1?)' when ``word`` follows a list option's value ('--seeds
    0 1', '--seeds=0 1'), else ''."""
    lists = {name for param in command.params if is_list_option(param) for name in param.opts}
    for index in range(1, len(args)):
        if args[index] != word:
            continue
        option, equals, value = args[index - 1].partition("=")
        before = [(option, value)] if equals else []
        if index >= 2:
            before.append((args[index - 2], args[index - 1]))
        for option, value in before:
            if option in lists:
                return f" (did you mean {option} {value},{word}?)"
    return ""


class OneLineErrors(TyperGroup):
    """A command group whose parameter errors, and those of its commands, are one line
    (``one_line_usage_errors``): for ``rmdbench`` run from a shell and for tests that call
    the app through typer's CliRunner alike. Its commands' command lines are strict
    (``check_command_line``)."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra):
        with one_line_usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with one_line_usage_errors():
            return super().invoke(ctx)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not isinstance(command, TyperGroup):
            if not ctx.resilient_parsing:
                context = command.context_class(command, info_name=name, parent=ctx)
                check_command_line(command, context, rest)
        return name, command, rest


def command_group(help: str | None = None) -> typer.Typer:
    """A Typer app as every rmdbench command group is one: help on no arguments, errors
    in one line (``OneLineErrors``, no pretty tracebacks), help text read as Markdown."""
    return typer.Typer(
        help=help,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=HELP_MARKUP,
        cls=OneLineErrors,
    )


def say(text: str) -> None:
    """A plain line, never wrapped (logs and CI read it whole) and never read as markup
    (paths, names and notes hold brackets)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def terminal_track(output: Console | None = None, *, transient: bool = True) -> Track | None:
    """The ``Track`` engine code reports progress through (``rmdbench.progress``): a rich
    progress bar on ``output`` (default: the standard console) when it is a terminal, None
    (no display: logs, pipes, tests) otherwise. A transient bar is erased when done."""
    shown_on = console if output is None else output
    if not shown_on.is_terminal:
        return None

    def track(items: Iterable, description: str = "", total: float | None = None) -> Iterable:
        return rich_track(
            items, description=description, total=total, console=shown_on, transient=transient
        )

    return track
