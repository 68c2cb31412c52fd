"""What each layer sees during forward passes, recorded only inside a `recording()` block.

One mechanism for every per-layer observation (input shapes for derived cost, input norms for Wanda):
a layer calls `recorder.note(self, x)`; inside `recorder.recording()` the recorder's `combine(old, x)`
updates that layer's entry (old is None on the layer's first call); elsewhere `note` is one context lookup.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator


class LayerRecorder:
    def __init__(self, name: str, combine: Callable):
        self._entries: contextvars.ContextVar[dict | None] = contextvars.ContextVar(name, default=None)
        self._combine = combine

    def note(self, layer, x) -> None:
        entries = self._entries.get()
        if entries is not None:
            entries[id(layer)] = self._combine(entries.get(id(layer)), x)

    @contextlib.contextmanager
    def recording(self) -> Iterator[dict]:
        """Yields a dict id(layer) -> entry, filled by the forward passes run inside."""
        entries: dict = {}
        token = self._entries.set(entries)
        try:
            yield entries
        finally:
            self._entries.reset(token)
