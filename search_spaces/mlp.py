"""MLP space: up to 5 hidden layers whose widths are sorted and nested (SortedNet).

Decisions: `depth` in 1..max_layers; `width_{i}` (a `Sorted` width, every
smaller width a prefix of a larger) for each hidden layer, layers past the
first conditional on depth. Hidden layers are Dense -> LayerNorm -> ReLU.
"""
from __future__ import annotations

from collections.abc import Mapping

from flax import nnx

from nas.definition import SearchSpaceDefinition
from nas.space import AtLeast, IntRange, Sorted, Space
from supernets import ops, resort
from supernets.build import abstract_from_config
from supernets.choice import run_per_choice
from supernets.elastic_dense import ElasticDense
from supernets.elastic_depth import run_elastic_depth
from supernets.norms import ElasticLayerNorm

NAME = "mlp"
DEFAULT_OPTIONS = {"max_layers": 5, "max_width": 512, "width_steps": 8, "in_features": 784,
                   "num_classes": 10, "layer_norm": True}


def make_space(max_layers=5, max_width=512, width_steps=8, **_network_options) -> Space:
    decisions = [IntRange("depth", 1, max_layers)]
    for layer in range(max_layers):
        when = AtLeast("depth", layer + 1) if layer else None
        decisions.append(Sorted(f"width_{layer}", max=max_width, steps=width_steps, when=when))
    return Space(NAME, decisions, version=1)


class MLP(nnx.Module):
    """One class for the supernet (`arch` given: masked) and standalone subnets (`arch=None`)."""

    def __init__(self, config: Mapping, *, rngs: nnx.Rngs):
        self.config = dict(config)
        widths = [self.config["in_features"], *self.config["hidden"]]
        self.hidden = nnx.List([ElasticDense(i, o, rngs=rngs) for i, o in zip(widths, widths[1:])])
        self.norms = nnx.List([ElasticLayerNorm(o) for o in widths[1:]]) if self.config["layer_norm"] else None
        self.head = ElasticDense(widths[-1], self.config["num_classes"], rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch: Mapping | None = None):
        del train  # no batch statistics in this network
        h = x.reshape(x.shape[0], -1)

        def call_layer(index, layer, h):
            def run(layer, h, width):
                h = layer(h, width)
                if self.norms is not None:
                    h = self.norms[index](h, width)
                return ops.relu(h)
            # A relaxed width asking for the mixed-op form runs the layer once per width.
            return run_per_choice(layer, h, run, width=None if arch is None else arch[f"width_{index}"])

        h = run_elastic_depth(list(self.hidden), h, None if arch is None else arch["depth"], call_layer,
                              min_depth=1)
        return self.head(h)

    def sort_channels(self) -> None:
        """Each hidden layer's units by importance (L1 norm of the weights reading them), most first.

        The reader of the last layer is the head, of the others the next layer, as in the
        largest subnet, whose function is therefore unchanged. Host arrays only.
        """
        readers = [*self.hidden[1:], self.head]
        for index, (layer, reader) in enumerate(zip(self.hidden, readers)):
            order = resort.descending(resort.l1_importance(reader.kernel[...], axis=0))
            resort.permute_channels(layer, order)
            if self.norms is not None:
                resort.permute_channels(self.norms[index], order)
            resort.permute(reader.kernel, order, axis=0)

    def subnet_config(self, arch: Mapping) -> dict:
        return {**self.config, "kind": "subnet",
                "hidden": [arch[f"width_{i}"] for i in range(arch["depth"])]}

    def get_active_subnet(self, arch: Mapping) -> "MLP":
        config = self.subnet_config(arch)
        subnet = abstract_from_config(MLP, config)
        widths = [config["in_features"], *config["hidden"]]
        for index, (i, o) in enumerate(zip(widths, widths[1:])):
            subnet.hidden[index] = self.hidden[index].sliced(i, o)
            if self.norms is not None:
                subnet.norms[index] = self.norms[index].sliced(o)
        subnet.head = self.head.sliced(widths[-1], config["num_classes"])
        return subnet


def build_supernet(space: Space, options: Mapping, rngs: nnx.Rngs) -> MLP:
    max_layers = sum(1 for d in space.free if d.name.startswith("width_"))
    max_width = max(space["width_0"].values)
    return MLP({"kind": "supernet", "in_features": options.get("in_features", 784),
                "hidden": [max_width] * max_layers, "num_classes": options.get("num_classes", 10),
                "layer_norm": options.get("layer_norm", True)}, rngs=rngs)


DEFINITION = SearchSpaceDefinition(
    name=NAME, make_space=make_space, build_supernet=build_supernet, default_options=DEFAULT_OPTIONS,
    options_for_images=lambda shape: {"in_features": shape[0] * shape[1] * shape[2]})
