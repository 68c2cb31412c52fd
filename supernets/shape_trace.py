"""The input shape each layer sees, recorded during one shape-only forward pass.

Derived cost (`nas.hardware.derived_cost`) needs each layer's input height and width (convolutions)
or token count (dense layers); they follow from the network's wiring, so they are observed rather
than declared. Recording is active only inside `recording()`; elsewhere `note` is one lookup.
"""
from __future__ import annotations

from supernets.layer_record import LayerRecorder

# The first call's shape, when a layer runs more than once.
_recorder = LayerRecorder("weft_layer_input_shapes", lambda old, x: old if old is not None else tuple(x.shape))
note, recording = _recorder.note, _recorder.recording
