"""How a concrete search space plugs into the engine.

A `SearchSpaceDefinition` bundles the decisions (`make_space`), the supernet
built for them and the network options a dataset implies. A standalone subnet
is always the supernet sliced (`get_active_subnet`), for export and reload alike. The engine only ever sees this interface;
`search_spaces/` provides the instances.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flax import nnx

from nas.data import INPUT_KINDS, renamed_input_shape
from nas.config import type_ok
from nas.errors import ConfigError, WeftError
from nas.option_bounds import Bounds
from nas.space import Space


@dataclass(frozen=True)
class SearchSpaceDefinition:
    name: str
    make_space: Callable[..., Space]
    build_supernet: Callable[[Space, Mapping, nnx.Rngs], nnx.Module]
    default_options: Mapping[str, Any] = field(default_factory=dict)
    # Network options implied by one example's input shape, e.g. input channels: (H, W, C) for
    # images, (T,) for token windows.
    options_for_inputs: Callable[[tuple[int, ...]], dict] = lambda shape: {}
    # What the supernet reads: "images" (float32 NHWC) or "tokens" (int32 [B, T] byte windows, the
    # next byte as label at every position). A tokens space has a `context` option: the window
    # length T its training data is cut to. `nas train` refuses data of the other kind.
    inputs: str = "images"
    # The supernet's __call__ takes `switch=True`: traced archs run each block at its chosen
    # width only (supernets.dispatch), the fast execution for training and batched evaluation.
    switch_execution: bool = False
    # Hardware cost hook (nas.hardware.cost_model): (options, input_shape) -> CostModel, the layers
    # FLOPs, params and lookup-table latency are counted over. `nas.declared_space` sets it to the
    # cost derived from the network's layers. None: `cost_model` in the sibling module
    # `<module of build_supernet>_cost`, if there is one (a space written by hand).
    cost_model: Callable[[Mapping, tuple], Any] | None = None
    # One example's input where the model is deployed, (H, W, C), when it differs from the training data's:
    # the default input of `nas latency collect|import` and `nas cost` (e.g. MobileNetV3 at 224x224x3, as
    # Once-for-All measures it, while it trains on 28x28x1 Fashion-MNIST). None: the training shape
    # (28x28x1 images; a token space's context).
    deployment_input_shape: tuple[int, ...] | None = None
    # Allowed values of numeric options (nas.option_bounds), checked by `resolve_options`; a declared
    # space reads them from its network's signature.
    option_bounds: Mapping[str, Bounds] = field(default_factory=dict)

    def __post_init__(self) -> None:
        strays = sorted(set(self.option_bounds) - set(self.default_options))
        if strays:
            raise ConfigError(f"space {self.name!r}: bounds for {', '.join(strays)}, which are not options; "
                              f"options: {', '.join(sorted(self.default_options))}")
        for key, bounds in self.option_bounds.items():
            try:
                bounds.check(f"space {self.name!r}", key, self.default_options[key])
            except ConfigError as error:
                raise ConfigError(f"{error} (the space's own default breaks the bounds it declares)") from None
        if self.inputs not in INPUT_KINDS:
            raise ConfigError(f"space {self.name!r}: inputs must be one of {', '.join(INPUT_KINDS)}; "
                              f"got {self.inputs!r}")
        if self.inputs == "tokens" and "context" not in self.default_options:
            raise ConfigError(f"space {self.name!r} reads tokens, so its default_options need 'context' "
                              "(the window length its data is cut to)")

    @property
    def options_for_images(self) -> Callable[[tuple[int, ...]], dict]:
        """Former name of `options_for_inputs` (it serves token windows too)."""
        return self.options_for_inputs

    def resolve_options(self, overrides: Mapping[str, Any] | None = None,
                        input_shape: tuple[int, ...] | None = None, *,
                        image_shape: tuple[int, ...] | None = None) -> dict:
        """Defaults, then what the inputs imply (one example's `input_shape`: (H, W, C) or (T,); `image_shape`
        is its former name, still accepted), then the user's overrides (checked by name and type; an override
        of an option the inputs imply must agree with it); every option is then checked against its declared
        bounds."""
        input_shape = renamed_input_shape(input_shape, image_shape, "resolve_options")
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.default_options))
        if unknown:
            raise ConfigError(f"space {self.name!r}: unknown option(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(sorted(self.default_options))}")
        options = dict(self.default_options)
        derived = self.options_for_inputs(tuple(input_shape)) if input_shape is not None else {}
        options.update(derived)
        for key, value in overrides.items():
            if key in derived and json.dumps(value, default=list) != json.dumps(derived[key], default=list):
                raise ConfigError(f"space {self.name!r}: option {key}={value!r} does not fit the inputs of shape "
                                  f"{tuple(input_shape)}, which give {key}={derived[key]!r}; allowed: "
                                  f"{derived[key]!r}, or leave it out (the input shape is the data's in training, "
                                  "--input-shape's in cost and latency commands)")
            default = self.default_options[key]
            if isinstance(default, tuple) and isinstance(value, list):
                value = tuple(value)
            # The config's rule: an int is a float, but true/false is no count (and would slip past the bounds).
            if default is not None and not type_ok(value, type(default)):
                raise ConfigError(f"space {self.name!r}: option {key!r} must be "
                                  f"{type(default).__name__}, got {value!r}")
            options[key] = value
        for key, bounds in self.option_bounds.items():
            bounds.check(f"space {self.name!r}", key, options[key])
        return options

    def build(self, options: Mapping[str, Any], seed: int = 0) -> tuple[Space, nnx.Module]:
        from supernets.protocol import check_supernet

        with options_that_build(self.name, options):
            space = self.make_space(**options)
            supernet = self.build_supernet(space, options, nnx.Rngs(seed))
        check_supernet(supernet, self.name)
        return space, supernet


@contextlib.contextmanager
def options_that_build(space_name: str, options: Mapping[str, Any]):
    """Turns what a space's layers raise for an option value they cannot build (an even kernel, zero or
    negative channels, a float where a size belongs) into one ConfigError naming the space and its options,
    instead of a traceback from a layer."""
    try:
        yield
    except WeftError:
        raise
    except (ValueError, TypeError, ZeroDivisionError) as error:
        from nas.user_code import where_in_user_code

        given = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise ConfigError(f"space {space_name!r} cannot be built with these options ({given}): "
                          f"{type(error).__name__}: {error or 'no message'} ({where_in_user_code(error)})") from None


def get_definition(name: str) -> SearchSpaceDefinition:
    """A shipped space by name (`mobilenetv3`), or a user's as `package.module:attribute`."""
    if ":" in name:
        from nas.user_code import import_attribute

        definition = import_attribute(name, "space")
        if not isinstance(definition, SearchSpaceDefinition):
            raise ConfigError(f"{name!r} is not a SearchSpaceDefinition (it is a {type(definition).__name__})")
        return definition
    from search_spaces import REGISTRY

    if name not in REGISTRY:
        raise ConfigError(f"unknown space {name!r}; shipped spaces: {', '.join(sorted(REGISTRY))} "
                          "(or give your own as package.module:attribute)")
    return REGISTRY[name]()
