"""The decoder-only LM space: masked, static and sliced lowerings agree on token batches; the model is causal
and its output projection is the (sliced) embedding table."""

import jax.numpy as jnp
import numpy as np
import pytest

from nas.definition import get_definition
from nas.lowering import count_params, slice_subnet, split

from tests.search_spaces import checks

pytestmark = pytest.mark.early  # a minute or more in all: handed to a test worker first (tests/conftest.py)

SMALL = {"embed_dims": [8, 16], "depths": [1, 2], "heads": [1, 2], "ffn_widths": [8, 24], "head_dim": 4,
         "context": 12, "vocab_size": 20}


def tokens(count=4, length=12, vocab=20, seed=3):
    return jnp.asarray(np.random.default_rng(seed).integers(0, vocab, (count, length)), jnp.int32)


def build(options):
    definition = get_definition("transformer_lm")
    return definition.build(definition.resolve_options(options))


def test_space_size_and_tied_parameter_count():
    space, supernet = build({})
    assert space.size() == 3 * (12 ** 2 + 12 ** 3 + 12 ** 4)

    def block(w, h, f):
        inner = 32 * h
        return 4 * w + 3 * (w * inner + inner) + inner * w + w + w * f + f + f * w + w

    def total(w, layers):  # embedding (tied: counted once) + positions + blocks + final LayerNorm
        return 256 * w + 64 * w + sum(block(w, h, f) for h, f in layers) + 2 * w

    assert count_params(split(slice_subnet(supernet, space.largest()))[1]) == total(128, [(4, 512)] * 4)
    assert count_params(split(slice_subnet(supernet, space.smallest()))[1]) == total(64, [(2, 128)] * 2)


def test_lowerings_agree_on_smallest_largest_and_one_random_arch():
    space, graphdef, params, stats = checks.perturbed_supernet("transformer_lm", SMALL, input_shape=None)
    checks.check_agreement(space, graphdef, params, stats, checks.archs_to_check(space, 1), tokens())


def test_switched_execution_runs_each_layer_at_its_heads_and_ffn_width_only():
    import jax

    from nas.lowering import switched_apply

    options = {**SMALL, "depths": [1, 2, 3], "heads": [1, 2, 3]}
    space, graphdef, params, stats = checks.perturbed_supernet("transformer_lm", options, input_shape=None)
    archs = checks.archs_to_check(space, 1, seed=0)  # smallest, largest and one of depth 2
    assert {a["depth"] for a in archs} == {1, 2, 3}
    checks.check_switched_matches_static(space, graphdef, params, stats, archs, tokens())
    # Per layer one switch over its 3 x 2 (heads, FFN width) pairs, and one for each layer depth may skip.
    program = str(jax.make_jaxpr(lambda v: switched_apply(graphdef, params, stats, space, tokens(), v,
                                                          train=True))(archs[2].to_vector()))
    assert program.count("cond[") == 3 + 2, program.count("cond[")
    assert program.count("branches=(") == 5 and program.count("dot_general[") >= 3 * 6 * 6


@pytest.mark.slow
def test_lowerings_agree_on_50_random_archs_plus_smallest_and_largest():
    space, graphdef, params, stats = checks.perturbed_supernet("transformer_lm", SMALL, input_shape=None)
    worst = checks.check_agreement(space, graphdef, params, stats, checks.archs_to_check(space, 50, seed=5),
                                   tokens())
    print(f"transformer_lm: worst |masked or static - sliced| / max(1, |logits|) over 52 archs: {worst:.3g}")


def test_nas_train_on_images_is_refused_with_one_line(tmp_path):
    code, output = checks.cli_result("train", "--space", "transformer_lm", "--data", "synthetic", "--steps", 1,
                                     "--quiet", "--run", tmp_path / "run")
    assert code == 2 and "reads byte sequences" in output and "use --data fortunes" in output
    assert "Traceback" not in output
    assert not (tmp_path / "run").exists()


def test_a_subnet_is_causal():
    space, supernet = build(SMALL)
    subnet = slice_subnet(supernet, space.largest())
    batch = tokens()
    changed = batch.at[:, -1].set((batch[:, -1] + 1) % 20)
    assert float(jnp.max(jnp.abs(subnet(batch)[:, :-1] - subnet(changed)[:, :-1]))) == 0.0
    assert float(jnp.max(jnp.abs(subnet(batch)[:, -1] - subnet(changed)[:, -1]))) > 0.0


def test_the_space_reads_tokens_and_takes_its_context_from_the_data():
    definition = get_definition("transformer_lm")
    assert definition.inputs == "tokens"
    assert definition.resolve_options({}, input_shape=(16,))["context"] == 16


SCALED = {**SMALL, "heads": [1, 2, 3], "switchable_scale": True}  # depth 1-2: the switched depth-3 case is above


def test_switchable_scales_keep_masked_static_switched_and_sliced_in_agreement():
    space, graphdef, params, stats = checks.perturbed_supernet("transformer_lm", SCALED, input_shape=None)
    archs = checks.archs_to_check(space, 2, seed=4)
    checks.check_agreement(space, graphdef, params, stats, archs, tokens())
    checks.check_switched_matches_static(space, graphdef, params, stats, archs, tokens())


def test_each_choice_has_its_own_scale_row_and_the_subnet_keeps_its_own():
    import jax
    from flax import nnx

    from nas.lowering import masked_apply

    space, graphdef, params, stats = checks.perturbed_supernet("transformer_lm", SCALED, input_shape=None)
    arch = space.from_string("embed_dim=8;depth=2;l0.heads=2;l0.ffn_width=24;l1.heads=1;l1.ffn_width=8")
    block = params["blocks"]["blocks"][0]
    assert block["attention_scale"]["table"][...].shape == (3, 16) and block["ffn_scale"]["table"][...].shape == (2, 16)
    # Training this arch moves only its choices' rows, within its width.
    def loss(p):
        return jnp.mean(masked_apply(graphdef, p, stats, space, tokens(), arch.to_vector(), train=True)[0] ** 2)
    grads = jax.grad(loss)(params)["blocks"]["blocks"]
    for layer, (heads_row, ffn_row) in enumerate([(1, 1), (0, 0)]):
        for name, row in (("attention_scale", heads_row), ("ffn_scale", ffn_row)):
            grad = np.asarray(grads[layer][name]["table"][...])
            assert grad[row, :8].any() and not np.delete(grad, row, axis=0).any() and not grad[:, 8:].any()
    # The sliced subnet holds exactly those rows, cut to its width, and they change its output.
    subnet = slice_subnet(nnx.merge(graphdef, params, stats), arch)
    np.testing.assert_array_equal(subnet.blocks.blocks[0].attention_scale.table[...],
                                  block["attention_scale"]["table"][...][1:2, :8])
    np.testing.assert_array_equal(subnet.blocks.blocks[1].ffn_scale.table[...],
                                  params["blocks"]["blocks"][1]["ffn_scale"]["table"][...][0:1, :8])
    unscaled = slice_subnet(nnx.merge(graphdef, params, stats), arch)
    for sliced in unscaled.blocks.blocks[:2]:
        sliced.attention_scale.table.set_value(jnp.ones_like(sliced.attention_scale.table[...]))
    assert float(jnp.max(jnp.abs(subnet(tokens()) - unscaled(tokens())))) > 1e-3
    # Without the option the same archs have no scales: a subnet has 2 x width fewer params per layer.
    plain_space, plain = build({**SCALED, "switchable_scale": False})
    scaled_count = count_params(split(subnet)[1])
    assert scaled_count - count_params(split(slice_subnet(plain, plain_space.from_string(arch.to_string())))[1]) == 2 * 2 * 8
