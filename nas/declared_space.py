"""A search space from a network that declares its own decisions: the space, cost and export derived.

    TINY_CNN = declared_space("tiny-cnn", TinyCNN)

`TinyCNN(**options, rngs=rngs)` builds the supernet; its keyword defaults are the space's options
(`--option key=value` overrides them) and its `in_channels` / `in_features` / `context` parameters, if
it has them, are filled from the data. The `Space` is named from the model (`supernets.decisions`),
multiply-adds, params and lookup-table latency are counted over its layers
(`nas.hardware.derived_cost`), and a subnet exports by slicing (`supernets.active_subnet`).
"""
from __future__ import annotations

import inspect
import math
import json
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp
from flax import nnx

from nas.data import renamed_argument
from nas.definition import SearchSpaceDefinition, options_that_build
from nas.errors import ConfigError
from nas.option_bounds import Bounds, bounds_in_signature
from nas.space import Space, SpaceError
from supernets.decisions import name_decisions


class _DeclaredNetwork:
    """Builds, names and caches shape-only copies of one network class for each set of options."""

    def __init__(self, name: str, network: Callable[..., nnx.Module], version: int, inputs: str):
        self.name, self.network, self.version, self.inputs = name, network, version, inputs
        self._abstract: dict[str, tuple[Space, nnx.Module]] = {}

    def build(self, options: Mapping, rngs: nnx.Rngs) -> tuple[Space, nnx.Module]:
        with options_that_build(self.name, options):
            model = self.network(**dict(options), rngs=rngs)
        if not isinstance(model, nnx.Module):
            raise ConfigError(f"space {self.name!r}: {self.network!r} returned {type(model).__name__}, not an nnx.Module")
        return name_decisions(model, self.name, self.version), model

    def shape_only(self, options: Mapping) -> tuple[Space, nnx.Module]:
        """(space, shape-only named model) for these options: no weights are initialised."""
        key = json.dumps(dict(options), sort_keys=True, default=list)
        if key not in self._abstract:
            found = {}

            def build():
                found["space"], model = self.build(options, nnx.Rngs(0))
                return model
            model = nnx.eval_shape(build)
            self._abstract[key] = (found["space"], model)
        return self._abstract[key]

    def make_space(self, **options) -> Space:
        return self.shape_only(options)[0]

    def build_supernet(self, space: Space, options: Mapping, rngs: nnx.Rngs) -> nnx.Module:
        built, model = self.build(options, rngs)
        if built.fingerprint() != space.fingerprint():
            raise SpaceError(f"space {self.name!r}: the network declares other decisions than the space it was asked "
                             f"for ({built.fingerprint()} != {space.fingerprint()})")
        return model

    def cost_model(self, options: Mapping, example_shape: tuple):
        from nas.hardware.derived_cost import derive_cost_model

        space, model = self.shape_only(options)
        if self.inputs == "tokens" and not example_shape:  # a sequence model's cost is per window of `context`
            example_shape = (options["context"],)
        return derive_cost_model(model, space, example_shape, jnp.int32 if self.inputs == "tokens" else jnp.float32)


_FROM_DATA = {"in_channels": lambda shape: shape[-1], "in_features": lambda shape: math.prod(shape),
              "context": lambda shape: shape[0]}


def declared_space(name: str, network: Callable[..., nnx.Module], *, version: int = 1, inputs: str = "images",
                   default_options: Mapping[str, Any] | None = None,
                   options_for_inputs: Callable[[tuple], dict] | None = None,
                   switch_execution: bool = False, option_bounds: Mapping[str, Bounds] | None = None,
                   options_for_images=None) -> SearchSpaceDefinition:
    """The engine's view of `network` (a class or function called as `network(**options, rngs=rngs)`).
    An option's bounds come from its parameter's `Annotated[..., Bounds(...)]` (nas.option_bounds), then
    from `option_bounds`, which wins for the options it names. `options_for_images` is the former name of
    `options_for_inputs`."""
    options_for_inputs = renamed_argument(options_for_inputs, options_for_images, "declared_space",
                                          "options_for_inputs", "options_for_images")
    # A class's own __init__ (an nnx.Module's metaclass hides the constructor's signature).
    constructor = network.__init__ if inspect.isclass(network) else network
    parameters = dict(inspect.signature(constructor).parameters)
    parameters.pop("self", None)
    if "rngs" not in parameters:
        raise ConfigError(f"space {name!r}: {network!r} must take a keyword argument rngs (an nnx.Rngs)")
    if default_options is None:
        default_options = {k: p.default for k, p in parameters.items()
                           if k != "rngs" and p.default is not inspect.Parameter.empty}
    if options_for_inputs is None:
        implied = {k: f for k, f in _FROM_DATA.items() if k in default_options and (k != "context" or inputs == "tokens")}
        if inputs == "tokens":
            implied.pop("context", None)  # the context sets the data's window, not the reverse
        options_for_inputs = lambda shape: {k: f(tuple(shape)) for k, f in implied.items()}  # noqa: E731
    # A parameter without a default is no option, so its bounds are the network's own business.
    bounds = {k: v for k, v in bounds_in_signature(constructor).items() if k in default_options}
    bounds.update(option_bounds or {})
    declared = _DeclaredNetwork(name, network, version, inputs)
    return SearchSpaceDefinition(
        name=name, make_space=declared.make_space, build_supernet=declared.build_supernet,
        default_options=dict(default_options), options_for_inputs=options_for_inputs, inputs=inputs,
        switch_execution=switch_execution, cost_model=declared.cost_model,
        option_bounds=bounds)
