"""The lora space: elastic adapters on a frozen, trained transformer_lm (Shears / LoNAS).

A tiny base is pretrained on one collection of a generated fortune corpus and adapted on the other.
Checked: the grouped rank decisions; every base weight frozen (bit for bit after training with
weight decay); masked == merged (or kept-apart, sparse) export to 1e-5 on every arch tried; Wanda's
ratio exact; derived cost counts the adapters; training resumes bit-identically.
"""
from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nas.checkpoint import flatten
from nas.definition import get_definition
from nas.errors import ConfigError
from nas.hardware.counters import CostCounter
from nas.hardware.cost_model import resolve_cost_model
from nas.lowering import param_usage, slice_subnet, split
from nas.run_dir import RunDir
from nas.train.config import TrainConfig
from nas.train.loop import restore_trained, train
from supernets import wanda
from supernets.elastic_dense import ElasticDense
from supernets.elastic_lora import ElasticLoRADense, LoRADense

from tests.nas import fortune_corpus as corpus

CONTEXT = 16
BASE_OPTIONS = {"embed_dims": [16, 24], "depths": [2], "heads": [1, 2], "ffn_widths": [16, 32], "head_dim": 8,
                "context": CONTEXT}
SMALL = dict(data="fortunes", batch_size=8, limit_train=64, calibration_images=16, eval_batch_size=64,
             warmup_steps=1, log_every=1)


def trained_base(tmp_path_factory, name: str, options: dict):
    """A transformer_lm pretrained 2 steps on collection set0 (set1 is held out for adaptation), yielded with
    WEFT_FORTUNES pointing at its corpus (the adapters calibrate on it)."""
    root = tmp_path_factory.mktemp(name)
    corpus.write_corpus(root / "fortunes", count=160, files=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEFT_FORTUNES", str(root / "fortunes"))
        config = TrainConfig(space="transformer_lm", space_options=options, collections=("set0",), steps=2,
                             checkpoint_every=2, **SMALL)
        train(config, root / "base", progress=False)
        yield root / "base"


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    yield from trained_base(tmp_path_factory, "lora", BASE_OPTIONS)


@pytest.fixture(scope="module")
def scaled_base_run(tmp_path_factory):
    """The same base trained with switchable scaling (a per-choice scale on each residual branch)."""
    yield from trained_base(tmp_path_factory, "lora-scaled", {**BASE_OPTIONS, "switchable_scale": True})


def leaf_names(tree) -> dict:
    """{each leaf's own name (kernel, lora_a, ...): that leaf}; equal names keep the last."""
    return {[part for part in path.split("/") if part != "value"][-1]: leaf for path, leaf in flatten(tree).items()}


def build(base_run, **options):
    definition = get_definition("lora")
    resolved = definition.resolve_options({"base": str(base_run), "context": CONTEXT, "ranks": [2, 4, 6], **options})
    return definition.build(resolved, seed=1) + (resolved,)


def with_trained_adapters(model, seed=0):
    """B off zero everywhere, as after training (at init every adapter adds exactly nothing)."""
    rng = np.random.default_rng(seed)
    for _, layer in nnx.iter_modules(model):
        if isinstance(layer, ElasticLoRADense):
            layer.lora_b.set_value(jnp.asarray(0.3 * rng.normal(size=layer.lora_b.shape), jnp.float32))
    return model


def test_groups_declare_one_rank_per_layer_and_only_adapters_are_parameters(base_run):
    space, model, _ = build(base_run)
    assert [d.name for d in space] == [f"l{i}.{g}_rank" for i in (0, 1) for g in ("qkv", "up", "down")]
    block = model.blocks[0]
    assert block.attention.query.rank is block.attention.key.rank is block.attention.value.rank  # one decision for q, k and v
    _, params, stats = split(model)
    assert set(leaf_names(params)) == {"lora_a", "lora_b"}
    assert {"table", "kernel", "scale"} <= set(leaf_names(stats))
    with pytest.raises(ConfigError, match="group 'qx' is not one of"):
        build(base_run, groups=["qx"])
    with pytest.raises(ConfigError, match="context 32 differs from the base's 16"):
        build(base_run, context=32)


@pytest.mark.parametrize("run", ["base_run", "scaled_base_run"])
def test_untrained_adapters_compute_the_base_model(run, request):
    base_run = request.getfixturevalue(run)
    space, model, _ = build(base_run)
    session, state = restore_trained(RunDir.open(base_run))
    if run == "scaled_base_run":  # the base's scales moved off one, so the adapters must apply them
        table = np.asarray(state.params["blocks"]["blocks"][0]["attention_scale"]["table"][...])
        assert np.abs(table - 1).max() > 1e-4
    tokens = jnp.asarray(np.random.default_rng(0).integers(0, 256, (2, CONTEXT)), jnp.int32)
    base_arch = session.space.largest()
    expected = nnx.merge(session.graphdef, state.params, state.stats)(tokens, arch=dict(base_arch))
    np.testing.assert_allclose(model(tokens, arch=dict(space.smallest())), expected, atol=1e-5)


def masked_and_exported(space, model, arch, tokens):
    graphdef, params, stats = split(model)
    masked = jax.jit(lambda p, s, v: nnx.merge(graphdef, p, s)(tokens, arch=space.values(v)))(
        params, stats, arch.to_vector())
    subnet = slice_subnet(model, arch)
    return masked, subnet, subnet(tokens)


@pytest.mark.parametrize("options", [{}, {"sparsity": 0.5, "ffn_fractions": [0.5, 1.0], "groups": ["qkvo", "up"]}])
def test_the_exported_subnet_equals_the_adapter_model_on_every_arch_tried(base_run, options):
    space, model, _ = build(base_run, **options)
    with_trained_adapters(model)
    tokens = jnp.asarray(np.random.default_rng(1).integers(0, 256, (3, CONTEXT)), jnp.int32)
    rng = np.random.default_rng(2)
    for arch in [space.largest(), space.smallest(), *(space.sample(rng) for _ in range(3))]:
        masked, subnet, exported = masked_and_exported(space, model, arch, tokens)
        np.testing.assert_allclose(exported, masked, atol=1e-5, rtol=0)
        first = subnet.blocks[0]
        if options:  # sparse base: adapters kept apart, the base's zeros kept; the FFN width is the arch's
            assert type(first.attention.query) is LoRADense and type(first.ffn_out) is ElasticDense  # no adapter on down
            assert first.ffn_in.kernel.shape[1] == dict(arch)["l0.ffn_width"]
            assert wanda.sparsity(first.attention.query.kernel[...]) == 0.5
            assert first.attention.query.lora_a.shape[1] == dict(arch)["l0.qkvo_rank"]
        else:
            assert type(first.attention.query) is ElasticDense  # merged into the base kernel


def test_wanda_sparsifies_every_projection_of_the_base_exactly(base_run):
    _, model, _ = build(base_run, sparsity=0.5)
    for block in model.blocks:
        for layer in block.projections():
            kernel = np.asarray(layer.kernel[...])
            np.testing.assert_array_equal((kernel == 0).sum(axis=0), kernel.shape[0] // 2)


def test_derived_cost_counts_the_adapters_beside_the_base(base_run):
    space, _, options = build(base_run)
    counter = CostCounter(space, resolve_cost_model(get_definition("lora"), options, (CONTEXT,)))
    lm = get_definition("transformer_lm")
    base_options = lm.resolve_options(BASE_OPTIONS)
    base = CostCounter(lm.make_space(**base_options), resolve_cost_model(lm, base_options, (CONTEXT,)))
    base_cost = base.count(base.space.largest())
    embed, inner, hidden = 24, 16, 32  # the base's largest: 2 heads of 8
    per_rank = 3 * (embed + inner) + (embed + hidden) + (hidden + embed)  # q, k, v; up; down: in + out each
    for arch, rank in ((space.smallest(), 2), (space.largest(), 6)):
        cost = counter.count(arch)
        assert cost["params"] - base_cost["params"] == 2 * per_rank * rank  # two layers
        assert cost["macs"] - base_cost["macs"] == CONTEXT * 2 * per_rank * rank


def test_param_usage_marks_the_active_ranks_of_the_adapters(base_run):
    space, model, _ = build(base_run)
    graphdef, params, stats = split(model)
    arch = space.validate({**dict(space.largest()), "l0.qkv_rank": 2})
    usage = param_usage(graphdef, params, stats, arch)
    layer = model.blocks[0].attention.query
    leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    index = next(i for i, leaf in enumerate(leaves) if leaf is layer.lora_a[...])
    assert usage[index][:, :2].all() and not usage[index][:, 2:].any()


def adapter_config(base_run, steps=4, **extra):
    return TrainConfig(space="lora", space_options={"base": str(base_run), "context": CONTEXT, "ranks": [2, 4, 6]},
                       collections=("set1",), steps=steps, checkpoint_every=2, optimizer="adamw", learning_rate=0.01,
                       weight_decay=0.1, distillation="none", **SMALL, **extra)


def test_training_moves_only_the_adapters_and_resumes_bit_identically(base_run, tmp_path, monkeypatch):
    monkeypatch.setenv("WEFT_FORTUNES", str(base_run.parent / "fortunes"))
    config = adapter_config(base_run)
    train(config, tmp_path / "whole", progress=False)
    train(config, tmp_path / "parts", progress=False, stop_at=2)
    train(config, tmp_path / "parts", progress=False)
    session, whole = restore_trained(RunDir.open(tmp_path / "whole"))
    _, parts = restore_trained(RunDir.open(tmp_path / "parts"))
    for a, b in zip(jax.tree.leaves((whole.params, whole.stats)), jax.tree.leaves((parts.params, parts.stats))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The frozen base, bit for bit (weight decay 0.1 would have moved any parameter), and adapters that learned.
    _, fresh, _ = build(base_run)
    for a, b in zip(jax.tree.leaves(whole.stats), jax.tree.leaves(split(fresh)[2])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert any(np.abs(np.asarray(leaf)).max() > 0 for name, leaf in leaf_names(whole.params).items()
               if name == "lora_b")


def test_a_base_pretrained_on_another_corpus_still_serves_the_adapters(base_run, tmp_path):
    """Its weights are all the adapters take: the base's own data need not be the one they train on (its
    restore for search or export is still refused)."""
    import json
    import shutil

    from nas.errors import RunDirError

    moved = tmp_path / "base"
    shutil.copytree(base_run, moved)
    record = json.loads((moved / "config.json").read_text())
    record["data_fingerprints"] = {**record["data_fingerprints"], "train": "0" * 16}
    (moved / "config.json").write_text(json.dumps(record))
    space, _, _ = build(moved)
    assert space.num_decisions == 6
    with pytest.raises(RunDirError, match="its train split differs"):
        restore_trained(RunDir.open(moved))
