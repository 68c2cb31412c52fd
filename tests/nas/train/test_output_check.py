"""A network's head must give one score per class of its data, or training says so before it starts."""
from __future__ import annotations

import jax.numpy as jnp
import pytest
from flax import nnx

from nas.data import synthetic_dataset
from nas.declared_space import declared_space
from nas.errors import ConfigError
from nas.space import SpaceError
from nas.lowering import split
from nas.train.output_check import check_outputs_match
from supernets.decisions import NestedWidth
from supernets.elastic_dense import ElasticDense
from supernets.norms import ElasticLayerNorm


class FixedHead(nnx.Module):
    """A user's network whose head size is written in its body, not an option."""

    def __init__(self, hidden: int = 16, in_features: int = 16, *, rngs: nnx.Rngs):
        self.width = NestedWidth(widths=(hidden // 2, hidden), name="width")
        self.body = ElasticDense(in_features, self.width, rngs=rngs)
        self.head = ElasticDense(self.width, 7, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None):
        return self.head(nnx.relu(self.body(x.reshape(x.shape[0], -1), arch=arch)), arch=arch)


def parts(definition, options):
    space, supernet = definition.build(options)
    return (space, *split(supernet))


def test_a_head_that_fits_passes_and_one_that_does_not_names_its_option():
    from search_spaces.mlp import DEFINITION

    data = synthetic_dataset(8, 4, image_shape=(4, 4, 1), num_classes=3)
    small = {"max_layers": 2, "max_width": 8, "width_steps": 2, "in_features": 16}
    check_outputs_match(*parts(DEFINITION, DEFINITION.resolve_options({**small, "num_classes": 3})), data,
                        {**small, "num_classes": 3}, "synthetic")
    options = DEFINITION.resolve_options({**small, "num_classes": 2})  # max_layers is 2 as well
    with pytest.raises(ConfigError, match="gives 2 scores per example, but data 'synthetic' has 3 classes; "
                                          "set --option num_classes=3"):
        check_outputs_match(*parts(DEFINITION, options), data, options, "synthetic")


def test_a_head_no_option_sizes_gets_a_plain_hint():
    definition = declared_space("fixed-head", FixedHead)
    options = definition.resolve_options({}, (4, 4, 1))
    data = synthetic_dataset(8, 4, image_shape=(4, 4, 1), num_classes=10)
    with pytest.raises(ConfigError, match="gives 7 scores per example, .* has 10 classes; give the network 10 outputs"):
        check_outputs_match(*parts(definition, options), data, options, "synthetic")


class NarrowSmallestHead(nnx.Module):
    """The head's width is a choice: its smallest subnet gives 5 scores for 10 classes."""

    def __init__(self, in_features: int = 16, *, rngs: nnx.Rngs):
        self.head = ElasticDense(in_features, NestedWidth(widths=(5, 10), name="outputs"), rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None):
        return self.head(x.reshape(x.shape[0], -1), arch=arch)


class NoPooling(nnx.Module):
    """Scores per pixel, not per example."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.head = ElasticDense(1, NestedWidth(widths=(10,), name="outputs"), rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None):
        return self.head(x, arch=arch)


class NormNarrowerThanItsInput(nnx.Module):
    def __init__(self, in_features: int = 16, *, rngs: nnx.Rngs):
        self.width = NestedWidth(widths=(8, 16), name="width")
        self.body = ElasticDense(in_features, self.width, rngs=rngs)
        self.scale = nnx.Param(jnp.ones((8,)))  # sized for the smallest width only
        self.head = ElasticDense(self.width, 10, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None):
        return self.head(self.body(x.reshape(x.shape[0], -1), arch=arch) * self.scale[...], arch=arch)


@pytest.mark.parametrize("model, message", [
    (NarrowSmallestHead, "its smallest subnet gives 5 scores per example, but data 'synthetic' has 10 classes"),
    (NoPooling, r"its largest subnet gives outputs of shape \(1, 4, 4, 10\) for one example; allowed: \(1, 10\)"),
    (NormNarrowerThanItsInput, r"its largest subnet \(width=16\) cannot run on one example of shape \(4, 4, 1\): "
                               r"ValueError: Incompatible shapes .*test_output_check.py, line"),
])
def test_every_endpoint_must_give_one_score_per_class_per_example(model, message):
    with pytest.raises(ConfigError, match=message):
        check_on_ten_classes(model)


def check_on_ten_classes(model) -> None:
    """The output check of `model` as a space, on 4x4 one-channel images of 10 classes."""
    definition = declared_space("outputs", model)
    options = definition.resolve_options({}, (4, 4, 1))
    data = synthetic_dataset(8, 4, image_shape=(4, 4, 1), num_classes=10)
    check_outputs_match(*parts(definition, options), data, options, "synthetic")


class NormWithItsOwnWidth(nnx.Module):
    """The norm declares a width of its own instead of the dense layer's: equal only at the endpoints."""

    def __init__(self, in_features: int = 16, *, rngs: nnx.Rngs):
        self.body = ElasticDense(in_features, NestedWidth(widths=(4, 8), name="body"), rngs=rngs)
        self.norm = ElasticLayerNorm(NestedWidth(widths=(4, 8), name="norm"))
        self.head = ElasticDense(self.body.out_size, 10, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None):
        return self.head(self.norm(self.body(x.reshape(x.shape[0], -1), arch=arch), arch=arch), arch=arch)


class FixedInputAfterANestedWidth(nnx.Module):
    def __init__(self, in_features: int = 16, *, rngs: nnx.Rngs):
        self.body = ElasticDense(in_features, NestedWidth(widths=(4, 8), name="body"), rngs=rngs)
        self.head = ElasticDense(8, 10, rngs=rngs)  # should be self.body.out_size

    def __call__(self, x, *, train: bool = False, arch=None):
        return self.head(self.body(x.reshape(x.shape[0], -1), arch=arch), arch=arch)


@pytest.mark.parametrize("model, message", [
    (NormWithItsOwnWidth, r"its mixed subnet \(body=4;norm=8\): layer ElasticLayerNorm is declared with input size "
                          r"norm = 8 in this arch but gets 4 channels"),
    (FixedInputAfterANestedWidth, r"its smallest subnet \(body=4\): layer ElasticDense is declared with input size 8 "
                                  r"but gets 4 channels"),
])
def test_layers_that_disagree_about_a_width_are_named_before_training(model, message):
    """Both train in the masked lowering (full widths) and would be priced and exported wrongly."""
    with pytest.raises(SpaceError, match=message):
        check_on_ten_classes(model)


class HeadAfterAStack(nnx.Module):
    """The head's input size is the stack's out_size (a Select on the depth), and it is called with the arch."""

    def __init__(self, in_features: int = 16, *, rngs: nnx.Rngs):
        from supernets.decisions import Integer
        from supernets.elastic_stack import ElasticStack

        widths = [NestedWidth(widths=(4, 8), name=f"w{i}") for i in range(2)]
        self.stack = ElasticStack([ElasticDense(in_features if i == 0 else widths[i - 1], widths[i], rngs=rngs)
                                   for i in range(2)], depth=Integer(1, 2, name="depth"))
        self.head = ElasticDense(self.stack.out_size(lambda block: block.out_size), 10, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None):
        h = self.stack(x.reshape(x.shape[0], -1), arch, lambda block, h: block(h, arch=arch))
        return self.head(h, arch=arch)


class ReadsThroughATransform(nnx.Module):
    """Passes the arch through jax.checkpoint (as a scan or remat would), out of the read record's sight."""

    def __init__(self, in_features: int = 16, *, rngs: nnx.Rngs):
        self.width = NestedWidth(widths=(4, 8), name="width")
        self.body = ElasticDense(in_features, self.width, rngs=rngs)
        self.head = ElasticDense(self.width, 10, rngs=rngs)

    def __call__(self, x, *, train: bool = False, arch=None):
        import jax

        def forward(x, arch):
            return self.head(self.body(x.reshape(x.shape[0], -1), arch=arch), arch=arch)
        return jax.checkpoint(forward)(x, arch)


@pytest.mark.parametrize("model", [HeadAfterAStack, ReadsThroughATransform])
def test_legitimate_models_pass_the_check_without_a_warning(model, capsys):
    check_on_ten_classes(model)
    assert "warning" not in capsys.readouterr().err
