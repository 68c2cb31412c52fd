"""AutoFormer-like Vision Transformer on image patches (Fashion-MNIST: 7 x 7 patches of 4 x 4).

Patches -> Dense to the embedding width -> [class token; patches] + position
embedding -> `depth` pre-LN transformer blocks -> LayerNorm -> class token ->
classifier. Decisions (AutoFormer's, scaled to a small CPU budget):
`embed_dim` (Sorted: every width a prefix of the larger ones, shared by all
layers), `depth`, and per layer `l{i}.heads` (the first h heads of head_dim
each) and `l{i}.mlp_ratio` (FFN width = ratio x embed_dim), the layers past the
smallest depth conditional on depth.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from flax import nnx

from nas.definition import SearchSpaceDefinition
from nas.errors import ConfigError
from nas.space import AtLeast, Choice, Sorted, Space
from supernets import init
from supernets.build import abstract_from_config, with_values
from supernets.elastic_dense import ElasticDense
from supernets.elastic_depth import run_elastic_depth
from supernets.masks import mask_last_axis, static_width
from supernets.norms import ElasticLayerNorm
from supernets.transformer_block import ElasticTransformerBlock

NAME = "vit"
DEFAULT_OPTIONS = {"embed_dims": (32, 48, 64), "depths": (2, 3, 4), "heads": (2, 3, 4), "mlp_ratios": (2, 3, 4),
                   "head_dim": 16, "patch_size": 4, "image_size": 28, "in_channels": 1, "num_classes": 10}


def make_space(embed_dims=(32, 48, 64), depths=(2, 3, 4), heads=(2, 3, 4), mlp_ratios=(2, 3, 4),
               **_network_options) -> Space:
    decisions = [Sorted("embed_dim", widths=tuple(embed_dims)), Choice("depth", tuple(depths))]
    for layer in range(max(depths)):
        when = AtLeast("depth", layer + 1) if layer + 1 > min(depths) else None
        decisions.append(Choice(f"l{layer}.heads", tuple(heads), when=when))
        decisions.append(Choice(f"l{layer}.mlp_ratio", tuple(mlp_ratios), when=when))
    return Space(NAME, decisions, version=1)


def supernet_config(embed_dims=(32, 48, 64), depths=(2, 3, 4), heads=(2, 3, 4), mlp_ratios=(2, 3, 4), head_dim=16,
                    patch_size=4, image_size=28, in_channels=1, num_classes=10) -> dict:
    if image_size % patch_size:
        raise ConfigError(f"space 'vit': image size {image_size} is not a multiple of patch_size {patch_size}; "
                          f"allowed: a patch_size dividing {image_size}")
    embed = max(embed_dims)
    return {"kind": "supernet", "image_size": image_size, "in_channels": in_channels, "patch_size": patch_size,
            "num_classes": num_classes, "embed_dim": embed, "head_dim": head_dim,
            "layers": [{"heads": max(heads), "hidden": max(mlp_ratios) * embed}] * max(depths)}


def patchify(images, patch: int):
    """[B, H, W, C] -> [B, (H/p)(W/p), p*p*C], row-major patches."""
    b, h, w, c = images.shape
    x = images.reshape(b, h // patch, patch, w // patch, patch, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // patch) * (w // patch), patch * patch * c)


class VisionTransformer(nnx.Module):
    def __init__(self, config: Mapping, *, rngs: nnx.Rngs):
        self.config = dict(config)
        c = self.config
        embed, patch = c["embed_dim"], c["patch_size"]
        tokens = (c["image_size"] // patch) ** 2 + 1
        self.patch_embed = ElasticDense(patch * patch * c["in_channels"], embed, rngs=rngs)
        self.class_token = nnx.Param(init.uniform(rngs, (embed,), 0.02 * 3 ** 0.5))
        self.position = nnx.Param(init.uniform(rngs, (tokens, embed), 0.02 * 3 ** 0.5))
        self.blocks = nnx.List([ElasticTransformerBlock(embed, layer["heads"], c["head_dim"], layer["hidden"],
                                                        rngs=rngs) for layer in c["layers"]])
        self.norm = ElasticLayerNorm(embed)
        self.head = ElasticDense(embed, c["num_classes"], rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch: Mapping | None = None):
        del train  # no batch statistics, no dropout
        width = None if arch is None else arch["embed_dim"]
        columns = static_width(width, self.config["embed_dim"])
        h = self.patch_embed(patchify(x, self.config["patch_size"]), width)
        cls = mask_last_axis(self.class_token[...][:columns], width)
        h = jnp.concatenate([jnp.broadcast_to(cls, (h.shape[0], 1, columns)), h], axis=1)
        h = h + mask_last_axis(self.position[...][:, :columns], width)

        def call_block(index, block, h):
            if arch is None:
                return block(h)
            heads = arch[f"l{index}.heads"]
            return block(h, width=width, heads=heads, hidden=arch[f"l{index}.mlp_ratio"] * width)

        h = run_elastic_depth(list(self.blocks), h, None if arch is None else arch["depth"], call_block,
                              min_depth=1)
        return self.head(self.norm(h, width)[:, 0])

    def subnet_config(self, arch: Mapping) -> dict:
        width = arch["embed_dim"]
        layers = [{"heads": arch[f"l{i}.heads"], "hidden": arch[f"l{i}.mlp_ratio"] * width}
                  for i in range(arch["depth"])]
        return {**self.config, "kind": "subnet", "embed_dim": width, "layers": layers}

    def get_active_subnet(self, arch: Mapping) -> "VisionTransformer":
        config = self.subnet_config(arch)
        width = config["embed_dim"]
        subnet = abstract_from_config(VisionTransformer, {**config, "layers": []})
        subnet.config = config
        subnet.patch_embed = self.patch_embed.sliced(self.patch_embed.in_features, width)
        with_values(subnet, class_token=self.class_token[...][:width], position=self.position[...][:, :width])
        subnet.blocks = nnx.List([self.blocks[i].sliced(width, layer["heads"], layer["hidden"])
                                  for i, layer in enumerate(config["layers"])])
        subnet.norm = self.norm.sliced(width)
        subnet.head = self.head.sliced(width, config["num_classes"])
        return subnet


def build_supernet(space: Space, options: Mapping, rngs: nnx.Rngs) -> VisionTransformer:
    return VisionTransformer(supernet_config(**{k: options[k] for k in DEFAULT_OPTIONS if k in options}), rngs=rngs)


def _options_for_images(shape) -> dict:
    if shape[0] != shape[1]:
        raise ConfigError(f"space 'vit': images must be square, got {shape[0]}x{shape[1]}")
    return {"image_size": shape[0], "in_channels": shape[-1]}


DEFINITION = SearchSpaceDefinition(
    name=NAME, make_space=make_space, build_supernet=build_supernet, default_options=DEFAULT_OPTIONS,
    options_for_images=_options_for_images)
