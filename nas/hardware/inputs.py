"""The input a cost or latency is counted for: one example's shape, by what the space reads.

Image spaces read float32 (H, W, C) images; token spaces (`SearchSpaceDefinition.inputs ==
"tokens"`) read int32 windows of T byte tokens, T being the space's `context` option. The
shape travels as one tuple, (H, W, C) or (T,), like `Dataset.input_shape`; its length tells
the kind, so collections and predictor files written before token spaces still read.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp

from nas.errors import ConfigError

# Fashion-MNIST, the data every image space trains on by default.
DEFAULT_IMAGE_SHAPE = (28, 28, 1)
OPTION = "--input-shape/--image-shape"


def deployment_shape(definition) -> tuple[int, ...] | None:
    """The input the space declares it is deployed at (`SearchSpaceDefinition.deployment_input_shape`),
    None when it declares none (then the training shape is the default)."""
    shape = getattr(definition, "deployment_input_shape", None)
    return tuple(shape) if shape is not None else None


def input_kind(shape) -> str:
    return "tokens" if len(tuple(shape)) == 1 else "images"


def describe(shape) -> str:
    """'images of 28x28x1' or 'windows of 64 tokens', for one-line errors."""
    shape = tuple(shape)
    if input_kind(shape) == "tokens":
        return f"windows of {shape[0]} tokens"
    return f"images of {'x'.join(map(str, shape))}"


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        return ()


def input_shape(definition, text: str | None = None, overrides: Mapping | None = None,
                default: tuple | None = None) -> tuple[int, ...]:
    """One example's input shape for `definition`'s space, from a command-line `text`.

    Without `text`: for a token space, the window length the options give (`--option context=T`,
    else `default` when it is a token shape, else the space's default context); for an image
    space, `default` when it is an image shape, else 28,28,1.
    """
    overrides = dict(overrides or {})
    if definition.inputs == "tokens":
        context = overrides.get("context")
        if context is not None and (type(context) is not int or context < 1):
            raise ConfigError(f"--option context must be the window length, a positive int; got {context!r}")
        if text is None:
            if context is not None:
                return (context,)
            if default is not None and input_kind(default) == "tokens":
                return tuple(default)
            return (int(definition.default_options["context"]),)
        shape = _ints(text)
        if len(shape) != 1 or shape[0] < 1:
            raise ConfigError(f"space {definition.name!r} reads token windows: {OPTION} is the window length T, "
                              f"one positive int (e.g. {definition.default_options['context']}), got {text!r}")
        if context is not None and context != shape[0]:
            raise ConfigError(f"{OPTION} {shape[0]} and --option context={context} disagree; allowed: one of them, "
                              "or the same window length in both")
        return shape
    if text is None:
        return tuple(default) if default is not None and input_kind(default) == "images" else DEFAULT_IMAGE_SHAPE
    shape = _ints(text)
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"space {definition.name!r} reads images: {OPTION} must be H,W,C of positive ints "
                          f"(e.g. {','.join(map(str, DEFAULT_IMAGE_SHAPE))}), got {text!r}")
    return shape


def check_input_kind(definition, shape, overrides: Mapping | None = None) -> tuple[int, ...]:
    """`shape` as a tuple, if it is an input of the kind `definition`'s space reads (and, for
    tokens, of the window length an overriding `context` option gives)."""
    shape = tuple(int(x) for x in shape)
    wanted = (1,) if definition.inputs == "tokens" else (3,)
    if len(shape) not in wanted or min(shape) < 1:
        allowed = "(T,), the token window length" if definition.inputs == "tokens" else "(H, W, C) of positive ints"
        raise ConfigError(f"space {definition.name!r} reads {definition.inputs}, not input shape {shape}; "
                          f"allowed: {allowed}")
    context = dict(overrides or {}).get("context")
    if definition.inputs == "tokens" and context is not None and context != shape[0]:
        raise ConfigError(f"input shape {shape} and option context={context} disagree; allowed: the same window "
                          "length in both")
    return shape


def example_input(shape, batch: int):
    """Zeros of a batch of `shape` inputs: int32 tokens [batch, T] or float32 images [batch, H, W, C]."""
    dtype = jnp.int32 if input_kind(shape) == "tokens" else jnp.float32
    return jnp.zeros((batch, *shape), dtype)
