"""Choosing a backbone: a profile's ``backbone`` text (``--backbone NAME[key=value,...]``)
resolved against the data, and the network built from what a run spec stores.

The default, ``unet``, is the paper's U-Net in the data's dimensionality (``unet2d`` or
``unet3d``): the network every run has trained since before backbones could be chosen, so
those runs keep their names. Anything else is a registered backbone, checked when a sweep
is planned (name, parameters, dimensionality, optional packages), before anything is
written.
"""

from __future__ import annotations

import dataclasses
import difflib

from rmdbench.backbones.base import Backbone
from rmdbench.errors import UserError
from rmdbench.labels import format_value, label, parameter_differences
from rmdbench.params import build_params, params_dict, parse_component
from rmdbench.plugins import load_builtins
from rmdbench.profiles import DEFAULT_BACKBONE  # the paper's U-Net, 2D or 3D as the data
from rmdbench.registry import BACKBONES, UnknownName

BY_DIMS = {2: "unet2d", 3: "unet3d"}


def default_backbone(spatial_dims: int) -> str:
    """The paper's U-Net, in the dimensionality of the data."""
    return BY_DIMS[3] if spatial_dims == 3 else BY_DIMS[2]


def backbone_class(name: str) -> type[Backbone]:
    """The registered backbone ``name``, or an UnknownName with the close names."""
    if name in BACKBONES:
        return BACKBONES.get(name)
    known = sorted({DEFAULT_BACKBONE, *BACKBONES.names()})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise UnknownName(
        f"unknown backbone '{name}'{hint}; choose one of: {', '.join(known)} "
        "(rmdbench list backbones)",
        BACKBONES.kind,
        name,
    )


def resolve_backbone(
    text: str, spatial_dims: int, dataset: str = "", crop_size: int | None = None
) -> tuple[str, dict]:
    """``'basicunet[features=8-8-16-32-64-8]'`` on data of ``spatial_dims`` -> (registered
    name, resolved parameters as a dict; empty for a backbone without parameters). Refuses
    an unknown name, a bad parameter, a backbone of the wrong dimensionality, a crop
    smaller than it needs (``crop_size``) or one whose package is missing, each as one
    line naming the fix."""
    name, options = parse_component(text)
    if name == DEFAULT_BACKBONE:
        if options:
            raise UserError(
                f"backbone '{DEFAULT_BACKBONE}' has no parameters (its width is the profile's "
                "base_width); write --backbone unet"
            )
        name = default_backbone(spatial_dims)
        check_crop(name, BACKBONES.get(name), crop_size)
        return name, {}
    chosen = backbone_class(name)
    if chosen.Params is None:
        if options:
            raise UserError(
                f"backbone '{name}' has no parameters, got {', '.join(sorted(options))}; "
                f"write --backbone {name}"
            )
        params: dict = {}
    else:
        params = params_dict(build_params(chosen.Params, options, f"backbone '{name}'"))
    check_fits(name, chosen, spatial_dims, dataset)
    check_crop(name, chosen, crop_size)
    chosen.check_available()
    return name, params


def canonical_backbone(text: str) -> str:
    """A backbone choice written one way, so one network is one profile name and one run
    identity however it was asked for: options sorted, parameters at their default left
    out, values spelt as the labels of methods spell them (``rmdbench.labels``):
    ``basicunet[norm=batch, dropout=0.10]`` and ``basicunet[dropout=0.1,norm=batch,
    upsample=deconv]`` are both ``basicunet[dropout=0.1,norm=batch]``. A name that is not
    registered here (a plug-in a dry run does not load), or parameters the backbone
    refuses, keep their text with the options sorted: ``resolve_backbone`` refuses them,
    in one line, when the sweep is planned."""
    name, options = parse_component(text)
    load_builtins()
    if not options or name == DEFAULT_BACKBONE or name not in BACKBONES:
        return label(name, dict(sorted(options.items())))
    chosen = BACKBONES.get(name)
    if chosen.Params is None:
        return label(name, dict(sorted(options.items())))
    try:
        given = params_dict(build_params(chosen.Params, options, f"backbone '{name}'"))
    except UserError:
        return label(name, dict(sorted(options.items())))
    differing = parameter_differences(given, _defaults(chosen.Params))
    return label(name, {key: _exact(value) for key, value in differing.items()})


def _defaults(params_class: type) -> dict:
    """The parameters a backbone takes when none is given; {} when some are required (then
    every parameter is written out)."""
    try:
        return params_dict(params_class())
    except (TypeError, ValueError, UserError):
        return {}


def _exact(value: object) -> object:
    """A float as written by the labels (``0.1``) when that reads back as the same number,
    else in full: two values never share one name (``{:g}`` keeps six digits)."""
    if isinstance(value, float) and float(format_value(value)) != value:
        return repr(value)
    return value


def check_crop(name: str, chosen: type[Backbone], crop_size: int | None) -> None:
    """A crop smaller than the backbone's pooling can take is refused when the sweep is
    planned, not by every run failing in its first forward pass."""
    if crop_size is not None and crop_size < chosen.min_crop:
        raise UserError(
            f"backbone '{name}' needs crops of at least {chosen.min_crop} px and the profile's "
            f"crop_size is {crop_size}; give the profile crop_size={chosen.min_crop} or more"
        )


def check_fits(name: str, chosen: type[Backbone], spatial_dims: int, dataset: str) -> None:
    """A 2D-only backbone on volumes (or a 3D one on slices) is refused, naming those that
    fit."""
    if spatial_dims in chosen.dims():
        return
    able = [entry.name for entry in BACKBONES if spatial_dims in entry.factory.dims()]
    data = f"dataset '{dataset}'" if dataset else "the data"
    raise UserError(
        f"backbone '{name}' works on {' or '.join(f'{d}D' for d in chosen.dims())} data and "
        f"{data} is {spatial_dims}D; choose one of: {', '.join([DEFAULT_BACKBONE, *able])}"
    )


def build_backbone(
    name: str,
    params: dict,
    *,
    in_channels: int,
    out_channels: int,
    base_width: int,
    spatial_dims: int,
) -> Backbone:
    """The network a run spec names (``spec.backbone``, ``spec.backbone_params``), for data
    of ``spatial_dims`` (checked again here: a spec written by hand, or a plug-in)."""
    chosen = backbone_class(name)
    check_fits(name, chosen, spatial_dims, "")
    resolved = None
    if chosen.Params is not None:
        resolved = build_params(chosen.Params, params or {}, f"backbone '{name}'")
    return chosen.build(
        in_channels, out_channels, base_width, spatial_dims=spatial_dims, params=resolved
    )


def describe_parameters(chosen: type[Backbone]) -> str:
    """Its parameters and their defaults, for ``rmdbench list backbones``:
    ``features=(), dropout=0.0, ...``; a backbone without any says how wide it is."""
    if chosen.Params is None:
        return "none (width: the profile's base_width)"
    return ", ".join(f"{item.name}={_shown(item)}" for item in dataclasses.fields(chosen.Params))


def _shown(item: dataclasses.Field) -> str:
    if item.default is not dataclasses.MISSING:
        value = item.default
    elif item.default_factory is not dataclasses.MISSING:
        value = item.default_factory()
    else:
        return "(required)"
    if isinstance(value, tuple):
        return "-".join(map(str, value)) or "(from base_width)"
    return str(value)
