"""One spelling of a method or noise setting, everywhere: ``rmd[distill=false]``.

The sweep's progress lines, its DSC table and every report label a run the same way: the
registered name, then the hyper-parameters that differ from the registered defaults,
written as one would type them on the command line.
"""

from __future__ import annotations

import json

from rmdbench.errors import UserError

#: a default no value equals: a field that only some settings have is always named
NEVER_EQUAL = "\0never-equal"


def format_value(value: object) -> str:
    """A hyper-parameter value as written on the command line (``false``, ``0.8``, ``1-2``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "-".join(format_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def parameter_differences(params: dict, defaults: dict) -> dict:
    """The entries of ``params`` that differ from ``defaults`` (JSON-normalised), sorted."""

    def canonical(value: object) -> str:
        return json.dumps(value, sort_keys=True, default=str)

    differences = {
        key: value
        for key, value in params.items()
        if key not in defaults or canonical(value) != canonical(defaults[key])
    }
    for key, value in defaults.items():  # a field only some settings have
        if value == NEVER_EQUAL and key not in params:
            differences[key] = "unset"
    return dict(sorted(differences.items()))


def label(name: str, differences: dict) -> str:
    """``rmd`` + ``{'distill': False}`` -> ``rmd[distill=false]`` (the sweep's own syntax)."""
    if not differences:
        return name
    body = ",".join(f"{key}={format_value(value)}" for key, value in differences.items())
    return f"{name}[{body}]"


def method_defaults(method: str) -> dict | None:
    """The registered defaults of a method's hyper-parameters; None when the method is not
    registered here (a third-party plug-in that is not installed)."""
    from rmdbench.params import params_dict
    from rmdbench.plugins import load_builtins
    from rmdbench.registry import METHODS

    try:
        load_builtins()
        return params_dict(METHODS.get(method).Params())
    except (UserError, TypeError):
        return None


def method_label(method: str, params: dict) -> str:
    """A run's method as the sweep and the reports print it: ``rmd[distill=false]``."""
    return label(method, parameter_differences(params, method_defaults(method) or {}))
