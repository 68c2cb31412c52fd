"""AutoFormer-like Vision Transformer on image patches (Fashion-MNIST: 7 x 7 patches of 4 x 4).

Patches -> Dense to the embedding width -> [class token; patches] + position
embedding -> `depth` pre-LN transformer blocks -> LayerNorm -> class token ->
classifier. The network declares its decisions (`supernets.decisions`), AutoFormer's
scaled to a small CPU budget: `embed_dim` (nested: every width a prefix of the larger
ones, shared by all layers), `depth`, and per layer `l{i}.heads` (the first h heads of
head_dim each) and `l{i}.mlp_ratio` (FFN width = ratio x embed_dim, a `Product` of the
two decisions); the stack makes the layers past the smallest depth conditional on it.
Space, cost and export are derived from the network.
"""
from __future__ import annotations

from flax import nnx

from nas.declared_space import declared_space
from nas.errors import ConfigError
from nas.option_bounds import NonNegativeInts, PositiveInt, PositiveInts, PositiveNumbers
from supernets.decisions import NestedWidth, OneOf, Product
from supernets.elastic_dense import ElasticDense
from supernets.elastic_embedding import ElasticClassToken, ElasticPositions
from supernets.elastic_stack import ElasticStack
from supernets.norms import ElasticLayerNorm
from supernets.transformer_block import ElasticTransformerBlock

NAME = "vit"


def patchify(images, patch: int):
    """[B, H, W, C] -> [B, (H/p)(W/p), p*p*C], row-major patches."""
    b, h, w, c = images.shape
    x = images.reshape(b, h // patch, patch, w // patch, patch, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // patch) * (w // patch), patch * patch * c)


class VisionTransformer(nnx.Module):
    def __init__(self, embed_dims: PositiveInts = (32, 48, 64), depths: NonNegativeInts = (2, 3, 4), heads: PositiveInts = (2, 3, 4),
                 mlp_ratios: PositiveNumbers = (2, 3, 4), head_dim: PositiveInt = 16, patch_size: PositiveInt = 4,
                 image_size: PositiveInt = 28, in_channels: PositiveInt = 1, num_classes: PositiveInt = 10, *, rngs: nnx.Rngs):
        if image_size % patch_size:
            raise ConfigError(f"space 'vit': image size {image_size} is not a multiple of patch_size {patch_size}; "
                              f"allowed: a patch_size dividing {image_size}")
        self.patch_size = patch_size
        # Names as the space has always had them, so runs and results made before stay valid.
        embed = NestedWidth(widths=tuple(embed_dims), name="embed_dim")
        self.patch_embed = ElasticDense(patch_size * patch_size * in_channels, embed, rngs=rngs)
        self.class_token = ElasticClassToken(embed, rngs=rngs)
        self.position = ElasticPositions((image_size // patch_size) ** 2 + 1, embed, rngs=rngs)
        blocks = [ElasticTransformerBlock(embed, OneOf(tuple(heads), name=f"l{i}.heads"), head_dim,
                                          Product(OneOf(tuple(mlp_ratios), name=f"l{i}.mlp_ratio"), embed), rngs=rngs)
                  for i in range(max(depths))]
        self.blocks = ElasticStack(blocks, depth=OneOf(tuple(depths), name="depth"))
        self.norm = ElasticLayerNorm(embed)
        self.head = ElasticDense(embed, num_classes, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None):
        del train  # no batch statistics, no dropout
        h = self.class_token(self.patch_embed(patchify(x, self.patch_size), arch=arch), arch=arch)
        h = h + self.position(h.shape[1], arch=arch)
        h = self.blocks(h, arch)
        return self.head(self.norm(h, arch=arch)[:, 0], arch=arch)

    def sort_channels(self) -> None:
        """Each block's heads and FFN units by importance (`ElasticTransformerBlock.sort_channels`; `--resort`)."""
        self.blocks.sort_channels()


def _options_for_inputs(shape) -> dict:
    if shape[0] != shape[1]:
        raise ConfigError(f"space 'vit': images must be square, got {shape[0]}x{shape[1]}")
    return {"image_size": shape[0], "in_channels": shape[-1]}


DEFINITION = declared_space(NAME, VisionTransformer, options_for_inputs=_options_for_inputs)
