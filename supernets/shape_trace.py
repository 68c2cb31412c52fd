"""The input shape each layer sees, recorded during one shape-only forward pass.

Derived cost (`nas.hardware.derived_cost`) needs each layer's input height and width (convolutions)
or token count (dense layers); they follow from the network's wiring, so they are observed rather
than declared. Recording is active only inside `recording()`; elsewhere `note` is one lookup.
"""
from __future__ import annotations

import contextlib
import contextvars

_shapes: contextvars.ContextVar[dict | None] = contextvars.ContextVar("weft_layer_input_shapes", default=None)


def note(layer, x) -> None:
    """Record `x.shape` as `layer`'s input shape (the first call's, when a layer runs more than once)."""
    shapes = _shapes.get()
    if shapes is not None:
        shapes.setdefault(id(layer), tuple(x.shape))


@contextlib.contextmanager
def recording():
    """Yields a dict id(layer) -> input shape, filled by the forward passes run inside."""
    shapes: dict = {}
    token = _shapes.set(shapes)
    try:
        yield shapes
    finally:
        _shapes.reset(token)
