"""A user's own space gets one clear error for what it gets wrong: a module that fails to import, a `when=`
that is no condition, a conditional decision read by a layer that always runs, a cost hook that answers
nonsense, an option value its layers cannot take."""
import dataclasses
import math

import numpy as np
import pytest
from flax import nnx

from nas.declared_space import declared_space
from nas.definition import get_definition
from nas.errors import ConfigError
from nas.hardware.cost_model import CostModelError, resolve_cost_model
from nas.space import AtLeast, SpaceError
from supernets import ops
from supernets.decisions import Integer, NestedWidth, OneOf
from supernets.elastic_conv import ElasticConv2d
from supernets.elastic_dense import ElasticDense
from tests.supernets.tiny_cnn import TINY_CNN


def test_a_module_that_fails_on_import_names_the_error_and_its_line(tmp_path, monkeypatch):
    (tmp_path / "broken_space.py").write_text("x = 1\nraise RuntimeError('boom')\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"importing 'broken_space' raised RuntimeError: boom \(.*broken_space.py, "
                                          r"line 2\)"):
        get_definition("broken_space:SPACE")


def test_a_condition_given_as_text_is_refused_where_it_is_written():
    with pytest.raises(SpaceError, match=r"when='n>=2'; allowed: None or AtLeast\(decision, value\)"):
        OneOf((3, 5), when="n>=2")


class AlwaysRunsConditionalKernel(nnx.Module):
    """A kernel choice conditional on `n`, read by a conv that runs whatever `n` is."""

    def __init__(self, in_channels=1, num_classes=10, *, rngs):
        self.n = Integer(1, 3)
        self.conv = ElasticConv2d(in_channels, NestedWidth(widths=(4, 8)), OneOf((3, 5), when=AtLeast(self.n, 2)),
                                  rngs=rngs)
        self.head = ElasticDense(self.conv.out_size, num_classes, rngs=rngs)

    def __call__(self, x, *, train=False, arch=None):
        return self.head(ops.global_avg_pool(self.conv(x, arch=arch)), arch=arch)


def test_a_conditional_decision_read_by_a_layer_that_always_runs_is_named():
    definition = declared_space("always-runs", AlwaysRunsConditionalKernel)
    space, model = definition.build(definition.resolve_options(None, (8, 8, 1)))
    x = np.zeros((1, 8, 8, 1), np.float32)
    model(x, arch=space.largest().to_dict())  # n = 3: the kernel choice is in the arch
    with pytest.raises(SpaceError, match=r"decision 'conv.kernel_choice' is read by a layer that runs in this arch, "
                                         r"but the arch leaves it out \(its condition AtLeast\('n', 2\) does not hold\)"):
        model(x, arch=space.smallest().to_dict())


@pytest.mark.parametrize("answer", [(-100, 5), (math.nan, 5), ("x", 5), (5,)])
def test_a_cost_hook_that_answers_no_counts_is_refused_naming_the_layer(answer):
    def hook(options, input_shape):
        return dataclasses.replace(TINY_CNN.cost_model(options, input_shape), count=lambda config: answer)

    definition = dataclasses.replace(TINY_CNN, cost_model=hook)
    model = resolve_cost_model(definition, definition.resolve_options(None, (28, 28, 1)), (28, 28, 1))
    config = {"type": "conv2d", "h": 28, "w": 28, "in": 1, "out": 8, "kernel": 3, "stride": 2}
    with pytest.raises(CostModelError, match=r"count returned .* for layer config .*allowed: \(multiply-adds, params\), "
                                             "two finite numbers >= 0"):
        model.count(config)


def test_an_option_its_layers_cannot_take_is_one_error_naming_the_options():
    with pytest.raises(ConfigError, match=r"space 'tiny-cnn' cannot be built with these options \(.*num_classes=-3"):
        TINY_CNN.build(TINY_CNN.resolve_options({"num_classes": -3}, (28, 28, 1)))


def test_nas_spaces_gives_a_malformed_spaces_own_error(tmp_path, monkeypatch):
    """Not "built from options it has no default for", which is only for spaces such as lora."""
    from click.testing import CliRunner

    from nas.cli import main

    (tmp_path / "even_kernel.py").write_text(
        "from flax import nnx\nfrom nas.declared_space import declared_space\n"
        "from supernets.decisions import NestedWidth, OneOf\nfrom supernets.elastic_conv import ElasticConv2d\n"
        "class Net(nnx.Module):\n"
        "    def __init__(self, in_channels=1, num_classes=10, *, rngs):\n"
        "        self.conv = ElasticConv2d(in_channels, NestedWidth(widths=(4, 8)), OneOf((3, 4)), rngs=rngs)\n"
        "SPACE = declared_space('even-kernel', Net)\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["spaces", "--space", "even_kernel:SPACE"])
    assert result.exit_code == 2 and "kernel sizes must be odd" in result.output
    assert "no default" not in result.output
    result = CliRunner().invoke(main, ["spaces", "--space", "lora"])
    assert result.exit_code == 2 and "options it has no default for (alpha, base)" in result.output


class IgnoresItsActivation(nnx.Module):
    """Declares an activation choice its forward never reads."""

    def __init__(self, in_channels=1, num_classes=10, *, rngs):
        self.activation = OneOf(("relu", "gelu"))
        self.conv = ElasticConv2d(in_channels, NestedWidth(widths=(4, 8)), OneOf((3,)), rngs=rngs)
        self.head = ElasticDense(self.conv.out_size, num_classes, rngs=rngs)

    def __call__(self, x, *, train=False, arch=None):
        return self.head(ops.global_avg_pool(ops.relu(self.conv(x, arch=arch))), arch=arch)


def test_a_decision_the_forward_never_reads_is_warned_of(capsys):
    from nas.data import synthetic_dataset
    from nas.lowering import split
    from nas.train.output_check import check_outputs_match

    definition = declared_space("ignores", IgnoresItsActivation)
    options = definition.resolve_options(None, (8, 8, 1))
    space, model = definition.build(options)
    check_outputs_match(space, *split(model), synthetic_dataset(8, 4, image_shape=(8, 8, 1)), options, "synthetic")
    warning = capsys.readouterr().err
    assert "never reads decision(s) activation" in warning and "conv.out_size" not in warning


def test_a_stack_that_may_run_no_block_needs_its_input_size():
    from supernets.elastic_stack import ElasticStack

    blocks = [ElasticDense(4, 4, rngs=nnx.Rngs(0)) for _ in range(2)]
    stack = ElasticStack(blocks, depth=Integer(0, 2))
    with pytest.raises(SpaceError, match=r"may be 0, where no block runs .*allowed: out_size\(size_of, before="):
        stack.out_size(lambda block: block.out_size)
    assert stack.out_size(lambda block: block.out_size, before=4) is not None


def test_a_hand_written_arch_given_to_the_model_is_checked():
    """The Python API: a value outside the space, an incomplete arch or a vector are named, not run."""
    space, model = TINY_CNN.build(TINY_CNN.resolve_options({}, (28, 28, 1)))
    x = np.ones((1, 28, 28, 1), np.float32)
    smallest = dict(space.smallest())
    assert model(x, arch=smallest).shape == (1, 10)
    width = "blocks.blocks.0.conv.out_size"
    with pytest.raises(SpaceError, match=f"decision '{width}': value 12 is not allowed; allowed values: 8, 16, 24"):
        model(x, arch={**smallest, width: 12})
    with pytest.raises(SpaceError, match="the arch lacks decision 'blocks.blocks.1.conv.out_size', which this arch "
                                         "runs"):
        model(x, arch={**smallest, "blocks.depth": 3})
    with pytest.raises(SpaceError, match="not a ndarray; allowed: space.from_vector"):
        model(x, arch=space.smallest().to_vector())


def test_load_counter_checks_its_input_shape_as_the_cli_does():
    from nas.hardware.counters import load_counter

    with pytest.raises(ConfigError, match="reads images: .* must be H,W,C of positive ints"):
        load_counter("mlp", input_shape=(28, 28))
    assert load_counter("mlp", input_shape=(28, 28, 1)).count(load_counter("mlp").space.smallest())["macs"] > 0


def test_a_width_set_once_and_tied_into_several_layers_is_read():
    """Layers that each use SameAs(w) read w: no warning that w is never read."""
    import contextlib
    import io

    from nas.data import synthetic_dataset
    from nas.lowering import split
    from nas.train.output_check import check_outputs_match
    from supernets.decisions import SameAs

    class Tied(nnx.Module):
        def __init__(self, in_features=16, *, rngs):
            width = NestedWidth(widths=(4, 8), name="w")
            self.a = ElasticDense(in_features, SameAs(width, name="a_w"), rngs=rngs)
            self.b = ElasticDense(SameAs(width, name="b_w"), 10, rngs=rngs)

        def __call__(self, x, *, train=False, arch=None):
            return self.b(ops.relu(self.a(x.reshape(x.shape[0], -1), arch=arch)), arch=arch)

    definition = declared_space("tied", Tied)
    options = definition.resolve_options(None, (4, 4, 1))
    space, model = definition.build(options)
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        check_outputs_match(space, *split(model), synthetic_dataset(8, 4, image_shape=(4, 4, 1)), options,
                            "synthetic")
    assert "never reads" not in errors.getvalue()


def test_cost_counts_may_be_numpy_or_jax_scalars():
    import jax.numpy as jnp

    def hook(options, input_shape):
        return dataclasses.replace(TINY_CNN.cost_model(options, input_shape),
                                   count=lambda config: (jnp.prod(jnp.array([2, 3])), np.int64(7)))

    definition = dataclasses.replace(TINY_CNN, cost_model=hook)
    model = resolve_cost_model(definition, definition.resolve_options(None, (28, 28, 1)), (28, 28, 1))
    macs, params = model.count({"type": "conv2d"})
    assert int(macs) == 6 and int(params) == 7
