"""The command line: parse, call the engine, print. The only package that imports typer
or rich; engine errors (``rmdbench.errors.UserError``) become one line and exit 2 here."""

from rmdbench.cli.app import app, main

__all__ = ["app", "main"]
