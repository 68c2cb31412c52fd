"""A stack of blocks with a declared depth (NNI's `Repeat`, Once-for-All's elastic depth).

The first `depth` blocks run; the rest pass their input through (`run_elastic_depth` gives every
lowering: static, masked, relaxed). The stack declares that the decisions inside block i, for i at
or past the smallest depth, exist only while depth >= i + 1, so a network never writes those
conditions itself, and a standalone subnet keeps only the blocks its depth runs.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from flax import nnx

from nas.space import AtLeast, SpaceError
from supernets.decisions import Integer, OneOf, Select, evaluate
from supernets.elastic_depth import run_elastic_depth


class ElasticStack(nnx.Module):
    """`blocks` in order, the first `depth` of them active (`depth` None: all of them, always).

    `depth` is an `Integer(lo, hi)` or a `OneOf` of depths, each between 0 and the number of blocks.
    """

    def __init__(self, blocks: Sequence[nnx.Module], depth: Integer | OneOf | None = None):
        if depth is not None and not (
                isinstance(depth, (Integer, OneOf))
                and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= len(blocks) for d in depth.values)):
            raise ValueError(f"depth must be an Integer or a OneOf of ints between 0 and {len(blocks)} (the number "
                             f"of blocks), got {depth!r}")
        self.depth = depth
        self.blocks = nnx.List(blocks)

    @property
    def min_depth(self) -> int:
        return len(self.blocks) if self.depth is None else min(self.depth.values)

    def conditioned_children(self):
        """For `supernets.decisions`: the depth, then each block with the condition under which it exists."""
        yield "depth", self.depth, ()
        for index, block in enumerate(self.blocks):
            condition = (AtLeast(self.depth, index + 1),) if index >= self.min_depth else ()
            yield f"blocks.{index}", block, condition

    def __call__(self, x, arch, call: Callable | None = None, *, switch: bool = False):
        """`call(block, x)` runs one block (default `block(x, arch=arch)`); `switch`: a traced depth skips
        blocks with `lax.switch` instead of computing and discarding them."""
        call = call or (lambda block, h: block(h, arch=arch))
        depth = None if self.depth is None else self.depth.of(arch)
        return run_elastic_depth(list(self.blocks), x, depth, lambda _, block, h: call(block, h),
                                 min_depth=self.min_depth, switch=switch)

    def out_size(self, size_of: Callable[[nnx.Module], object], before=None):
        """The size after the stack, as an expression of the depth: `size_of(block)` of the last block
        run, or `before` (the stack's input size) at depth 0."""
        if self.depth is None:
            return size_of(self.blocks[-1])
        if 0 in self.depth.values and before is None:
            raise SpaceError(f"ElasticStack: its depth {self.depth!r} may be 0, where no block runs and the size after "
                             "it is its input's; allowed: out_size(size_of, before=<the stack's input size>), or a "
                             "depth of at least 1")
        cases = tuple((d, size_of(self.blocks[d - 1]) if d else before) for d in self.depth.values)
        return Select(self.depth, cases)

    def active_blocks(self, values) -> int:
        """How many blocks a fixed arch (decision values by name) runs."""
        return len(self.blocks) if self.depth is None else evaluate(self.depth, values)

    def sort_channels(self) -> None:
        """Each block's own channels by importance (Once-for-All's re-organisation). Every block sorts what
        is private to it (hidden channels, heads); the widths the blocks share stay as they are."""
        for block in self.blocks:
            block.sort_channels()
