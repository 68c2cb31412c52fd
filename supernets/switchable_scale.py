"""Switchable scaling (NASViT, Gong et al. 2022): a learned per-channel scale for each choice of a size.

A residual branch whose size is a decision (attention heads, FFN width) adds differently sized
contributions to the residual stream for each choice, through weights every choice shares. The scale
gives each choice its own per-channel factor on the branch's output (initialised to one), so each can
correct the size of what it adds without pulling the shared weights toward it.

`choices` is the decision (or a fixed size) whose value picks the row; `width` the channels (a prefix
of the largest). Masked lowering: the row is picked by a traced value, so only that row gets a
gradient, and channels past the active width stay zero. `sliced`/`active` keep the chosen row cut to
the width: a subnet trains and exports with its own scale, as a LayerScale. The scale can be folded
into the branch's output projection, so cost models count the arch without it.
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from supernets.build import abstract, with_values
from supernets.decisions import evaluate, largest, possible_values
from supernets.dispatch import choice_index


class SwitchableScale(nnx.Module):
    def __init__(self, choices, width, *, rngs: nnx.Rngs | None = None):
        del rngs  # initialised to one
        self.choices, self.width = choices, width
        self.table = nnx.Param(jnp.ones((len(possible_values(choices)), largest(width))))

    def __call__(self, y, choice=None):
        """`y` [..., channels] times the row of `choice` (a value of `choices`, traced or not; None: the
        largest), cut to y's channels."""
        if choice is None:
            choice = largest(self.choices)
        # A static choice: its row directly, and a clear error for an undeclared one.
        row = self._row(choice) if isinstance(choice, int) else choice_index(choice, possible_values(self.choices))
        return y * self.table[...][row][:y.shape[-1]]

    def _row(self, choice: int) -> int:
        values = possible_values(self.choices)
        if choice not in values:
            raise ValueError(f"switchable scale: choice {choice} is not one of the declared values {list(values)}")
        return values.index(choice)

    def sliced(self, choice: int, width: int) -> "SwitchableScale":
        index = self._row(choice)
        layer = abstract(SwitchableScale, choice, width)
        return with_values(layer, table=self.table[...][index:index + 1, :width])

    def active(self, values) -> "SwitchableScale":
        """The scale of a fixed arch (decision values by name)."""
        return self.sliced(evaluate(self.choices, values), evaluate(self.width, values))


def scaled(y, scale: SwitchableScale | None, choice=None):
    """`y` times `scale`'s row of `choice` (None: the largest); `y` as is where a block has no scales."""
    return y if scale is None else scale(y, choice)
