"""MLP space: up to `max_layers` hidden layers whose widths are sorted and nested (SortedNet).

The network declares its decisions (`supernets.decisions`): the stack's `depth` in 1..max_layers and
one nested `width_{i}` per hidden layer; the stack makes layers past the first conditional on the
depth. Hidden layers are Dense -> LayerNorm -> ReLU. Space, cost and export are derived from it.
"""
from __future__ import annotations

from flax import nnx

from nas.declared_space import declared_space
from nas.option_bounds import PositiveInt
from supernets import ops, resort
from supernets.choice import run_per_choice
from supernets.decisions import Integer, NestedWidth, read
from supernets.elastic_dense import ElasticDense
from supernets.elastic_stack import ElasticStack
from supernets.norms import ElasticLayerNorm

NAME = "mlp"


class DenseBlock(nnx.Module):
    """Dense -> LayerNorm -> ReLU at a declared output width."""

    def __init__(self, in_size, out_size, *, layer_norm: bool, rngs: nnx.Rngs):
        self.dense = ElasticDense(in_size, out_size, rngs=rngs)
        self.norm = ElasticLayerNorm(out_size) if layer_norm else None

    def __call__(self, x, *, arch):
        def run(block, h, width):
            h = block.dense(h, width)
            if block.norm is not None:
                h = block.norm(h, width)
            return ops.relu(h)
        # A relaxed width asking for the mixed-op form runs the block once per width.
        return run_per_choice(self, x, run, width=read(self.dense.out_size, arch))


class MLP(nnx.Module):
    """The supernet (called with an `arch`) and, sliced, its standalone subnets (`arch=None`)."""

    def __init__(self, max_layers: PositiveInt = 5, max_width: PositiveInt = 512, width_steps: PositiveInt = 8,
                 in_features: PositiveInt = 784, num_classes: PositiveInt = 10, layer_norm: bool = True, *, rngs: nnx.Rngs):
        blocks, size = [], in_features
        for index in range(max_layers):
            width = NestedWidth(max=max_width, steps=width_steps, name=f"width_{index}")
            blocks.append(DenseBlock(size, width, layer_norm=layer_norm, rngs=rngs))
            size = width
        self.hidden = ElasticStack(blocks, depth=Integer(1, max_layers, name="depth"))
        self.head = ElasticDense(self.hidden.out_size(lambda block: block.dense.out_size), num_classes, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None):
        del train  # no batch statistics in this network
        return self.head(self.hidden(x.reshape(x.shape[0], -1), arch))

    def sort_channels(self) -> None:
        """Each hidden layer's units by importance (L1 norm of the weights reading them), most first.

        The reader of the last layer is the head, of the others the next layer, as in the
        largest subnet, whose function is therefore unchanged. Host arrays only.
        """
        blocks = list(self.hidden.blocks)
        readers = [*(block.dense for block in blocks[1:]), self.head]
        for block, reader in zip(blocks, readers):
            order = resort.descending(resort.l1_importance(reader.kernel[...], axis=0))
            resort.permute_channels(block.dense, order)
            if block.norm is not None:
                resort.permute_channels(block.norm, order)
            resort.permute(reader.kernel, order, axis=0)


DEFINITION = declared_space(NAME, MLP)
