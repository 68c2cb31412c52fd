"""Weights that training never moves: a frozen base model under adapters (Shears, LoNAS).

`Frozen` is a variable type apart from `nnx.Param`. The engine splits a model into
`(graphdef, params, stats)` with `nnx.Param` and `nnx.BatchStat` (`nas.lowering.split`); the
optimizer sees `params` only, and `stats` is state the step threads through unchanged
unless a layer writes it (batch norm). A frozen weight is such state: it subclasses
`nnx.BatchStat`, so it travels with the statistics (checkpointed, restored, sliced, exported)
and is never differentiated, decayed or given momentum; no layer writes it.
So "frozen" is a property of the variable's type, not of an optimizer mask that could miss it.
"""
from __future__ import annotations

from flax import nnx


class Frozen(nnx.BatchStat):
    """A weight held fixed: read by the forward pass, never updated by training."""
