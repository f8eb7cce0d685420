"""Errors a user can cause: the CLI turns them into one line and exit code 2."""


class UserError(Exception):
    """Bad input or a missing resource; the message names the problem and the fix."""
