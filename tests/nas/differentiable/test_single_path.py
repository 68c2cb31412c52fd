"""Single-Path NAS: indicators from ring sizes and thresholds run the chosen arch exactly, gradients reach the
thresholds (and the weights, through the rings), the latency term waits for the warm-up, a stopped search
resumes to identical thresholds, and a space with op types is refused by name."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.differentiable import arch_params
from nas.differentiable import single_path as sp
from nas.differentiable.search_run import DifferentiableConfig, search, setup
from nas.differentiable.superposition import superposed_apply
from nas.errors import ConfigError
from nas.hardware.counters import load_counter
from nas.hardware.flops_proxy import FlopsProxy
from nas.hardware.predictor_io import save_predictor
from nas.lowering import masked_apply
from nas.train.losses import cross_entropy

from tests.search_spaces import checks

IMAGE_SHAPE = (28, 28, 1)
SPACES = {
    "mlp": {"max_layers": 3, "max_width": 32, "width_steps": 4},
    "mobilenetv3": {"width_mult": 0.25, "kernels": (3, 5), "expands": (3, 6), "depths": (1, 2)},
}
MLP_RUN = {"max_layers": 2, "max_width": 16, "width_steps": 2}


def build(space_name):
    space, graphdef, params, stats = checks.perturbed_supernet(space_name, SPACES[space_name], input_shape=IMAGE_SHAPE)
    return space, graphdef, params, stats, sp.nested_rings(graphdef, params, stats, space)


def images(count, seed=2):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(count, *IMAGE_SHAPE)), jnp.float32)


def thresholds_choosing(space, arch, rms):
    """Thresholds 1 below the rings the arch keeps and 1 above the first it drops (0/1 indicators)."""
    vector = space.to_vector(arch)
    position = {d.name: p for p, d in enumerate(space.free)}
    return {name: jnp.asarray([r - 1.0 if j < vector[position[name]] else r + 1.0
                               for j, r in enumerate(np.asarray(values))], jnp.float32)
            for name, values in rms.items()}


@pytest.mark.parametrize("space_name", [pytest.param(name, marks=pytest.mark.slow) if name == "mobilenetv3" else name
                                        for name in SPACES])
def test_one_hot_thresholds_run_exactly_the_masked_lowering_of_the_arch_they_choose(space_name):
    space, graphdef, params, stats, rings = build(space_name)
    rms = jax.jit(rings.rms)(params)
    batch = images(4)
    masked = jax.jit(lambda p, s, x, v: [masked_apply(graphdef, p, s, space, x, v, train=t) for t in (False, True)])

    @jax.jit
    def single(p, s, x, thresholds):
        probs = sp.choice_probabilities(space, sp.indicators(rings.rms(p), thresholds))
        return probs, [superposed_apply(graphdef, p, s, space, x, probs, train=t) for t in (False, True)]

    rng = np.random.default_rng(1)
    for arch in [space.smallest(), space.largest(), space.sample(rng), space.sample(rng)]:
        thresholds = thresholds_choosing(space, arch, rms)
        assert sp.derived_arch(space, rms, thresholds) == arch
        probs, got = single(params, stats, batch, thresholds)
        for name, want in arch_params.one_hot(space, arch).items():  # exactly one-hot, not merely close
            np.testing.assert_array_equal(np.asarray(probs[name]), np.asarray(want), err_msg=name)
        for (got_logits, got_stats), (want_logits, want_stats) in zip(got, masked(params, stats, batch,
                                                                                arch.to_vector())):
            np.testing.assert_allclose(got_logits, want_logits, atol=1e-4, rtol=1e-4)
            for a, b in zip(jax.tree.leaves(got_stats), jax.tree.leaves(want_stats)):
                np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_rings_are_the_weights_each_larger_choice_adds():
    space, graphdef, params, stats, rings = build("mlp")
    # width_0 in 8, 16, 24, 32 of a 784 -> 32 dense layer: each step adds 8 columns of the kernel (784 x 8 entries)
    # and their 8 rows of the next layer's kernel (32 x 8: the next layer at its largest width).
    assert [ring.size for ring in rings.rings["width_0"]] == [784 * 8 + 8 * 32] * 3
    kernel = np.asarray(params["hidden"]["blocks"][0]["dense"]["kernel"][...])
    following = np.asarray(params["hidden"]["blocks"][1]["dense"]["kernel"][...])
    want = np.sqrt((np.sum(kernel[:, 8:16] ** 2) + np.sum(following[8:16] ** 2)) / (784 * 8 + 8 * 32))
    np.testing.assert_allclose(np.asarray(rings.rms(params)["width_0"])[0], want, rtol=1e-5)


def mlp_predictor(path, options):
    counter = load_counter("mlp", options, IMAGE_SHAPE)
    return save_predictor(path, FlopsProxy(counter), space_spec="mlp", options=options, input_shape=IMAGE_SHAPE,
                          batch=1, device={}, device_fingerprint="test")


def test_gradients_reach_every_threshold_and_the_weights_through_their_rings(tmp_path):
    space, graphdef, params, stats, rings = build("mlp")
    from nas.hardware.predictor_io import load_predictor

    counter = load_counter("mlp", SPACES["mlp"], IMAGE_SHAPE)
    predictor, _ = load_predictor(mlp_predictor(tmp_path / "flops.json", SPACES["mlp"]), counter)
    penalty = sp.LogLatencyPenalty(predictor, space, weight=1.0)
    labels = jnp.arange(4) % 10

    def loss(p, thresholds, latency_only=False):
        probs = sp.choice_probabilities(space, sp.indicators(rings.rms(p), thresholds))
        latency, _ = penalty(probs)
        if latency_only:
            return latency
        logits, _ = superposed_apply(graphdef, p, stats, space, images(4), probs, train=True)
        return cross_entropy(logits, labels) + latency

    thresholds = sp.init_thresholds(rings)  # every ring kept: every indicator on the path of the gradient
    grads, latency_grads, weight_grads = jax.jit(lambda p, t: (
        jax.grad(loss, argnums=1)(p, t), jax.grad(lambda t: loss(p, t, latency_only=True))(t),
        jax.grad(lambda p: loss(p, t, latency_only=True))(p)))(params, thresholds)
    for name, values in grads.items():
        assert np.all(np.isfinite(values)) and np.all(np.asarray(values) != 0), (name, values)
    # log(latency) falls as a threshold rises past its ring: every threshold's gradient from it is negative.
    assert all(np.all(np.asarray(v) < 0) for v in latency_grads.values())
    # The weights decide: the latency term alone moves the ring weights (shrinks them), and only them.
    kernel = np.asarray(weight_grads["hidden"]["blocks"][0]["dense"]["kernel"][...])
    weights = np.asarray(params["hidden"]["blocks"][0]["dense"]["kernel"][...])
    assert np.all(kernel[:, :8] == 0)               # width_0's smallest choice is no ring of width_0
    assert np.all(np.sign(kernel[:, 8:]) == np.sign(weights[:, 8:]))  # descent shrinks each ring entry


def test_a_space_with_op_types_is_refused_naming_the_decision():
    space, graphdef, params, stats = checks.perturbed_supernet("nb201", {"channels": 4, "cells_per_stage": 1},
                                                               input_shape=IMAGE_SHAPE)
    with pytest.raises(ConfigError, match=r"decision 'node1\.from0' is not nested .*single-path needs nested "
                                          r"decisions"):
        sp.nested_rings(graphdef, params, stats, space)


def run_config(**changes):
    settings = dict(space="mlp", space_options=MLP_RUN, method="single-path", steps=6, warmup_steps=2, batch_size=8,
                    data="synthetic", limit_train=64, checkpoint_every=2, log_every=1, threshold_learning_rate=0.05)
    return DifferentiableConfig(**{**settings, **changes})


def test_warmup_holds_the_thresholds_and_a_strong_latency_term_then_shrinks_the_arch(tmp_path):
    predictor = str(mlp_predictor(tmp_path / "flops.json", MLP_RUN))
    config = run_config(latency_predictor=predictor, latency_weight=100.0, steps=12)
    built = setup(config)
    space = built.session.space
    rng = np.random.default_rng(0)
    batch = (jnp.asarray(rng.normal(size=(8, *IMAGE_SHAPE)), jnp.float32), jnp.arange(8) % 10)
    state, first = built.state, built.state.alpha
    for step in range(config.steps):
        state, metrics = built.step(state, *batch, *batch, jax.random.key(step), np.int32(step))
        if step < config.warmup_steps:
            assert all(np.array_equal(state.alpha[n], first[n]) for n in first), "thresholds moved in the warm-up"
    assert not all(np.array_equal(state.alpha[n], first[n]) for n in first)
    arch = sp.derived_arch(space, metrics["ring_rms"], state.alpha)
    assert arch != space.largest()
    latency = built.penalty.predictor(jnp.asarray(np.stack([arch.to_vector(), space.largest().to_vector()])))
    assert float(latency[0]) < float(latency[1])


def thresholds_of(run):
    return json.loads((run / "thresholds.json").read_text())


def test_a_stopped_search_resumes_to_the_thresholds_of_an_uninterrupted_one(tmp_path):
    predictor = str(mlp_predictor(tmp_path / "flops.json", MLP_RUN))
    config = run_config(latency_predictor=predictor, latency_weight=5.0)
    straight = search(config, tmp_path / "straight", progress=False)
    assert search(config, tmp_path / "stopped", progress=False, stop_at=3) is None
    resumed = search(config, tmp_path / "stopped", progress=False)
    assert thresholds_of(tmp_path / "stopped") == thresholds_of(tmp_path / "straight")  # floats, bit for bit
    assert {k: v for k, v in resumed.items() if k != "search_seconds"} == \
        {k: v for k, v in straight.items() if k != "search_seconds"}
    assert resumed["method"] == "single-path" and "predicted_latency_ms" in resumed
    assert resumed["arch_string"] == thresholds_of(tmp_path / "straight")["arch"]
    lines = [json.loads(line) for line in (tmp_path / "stopped" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert lines[-1]["arch"] == resumed["arch_string"] and "thresholds" in lines[-1] and "alpha" not in lines[-1]
    # The warm-up's lines show the thresholds held at 0.
    assert all(v == 0.0 for values in lines[1]["thresholds"].values() for v in values)


def test_other_methods_keep_their_run_record_without_single_path_settings(tmp_path):
    from nas.differentiable.search_run import SINGLE_PATH_FIELDS, _search_record

    assert not set(SINGLE_PATH_FIELDS) & set(_search_record(DifferentiableConfig(method="gdas")))
    record = _search_record(run_config(warmup_steps=None, steps=10))
    assert {k: record[k] for k in SINGLE_PATH_FIELDS} == {"threshold_learning_rate": 0.05, "warmup_steps": None,
                                                          "indicator_dropout": 0.4}
    assert run_config(warmup_steps=None, steps=10).warmup() == 5  # the default: half the steps


@pytest.mark.parametrize("arguments, names", [
    (["--space", "nb201", "--option", "channels=4", "--option", "cells_per_stage=1"],
     "decision 'node1.from0' is not nested"),
    (["--indicator-dropout", "1"], "indicator_dropout must be in [0, 1), got 1.0"),
    (["--threshold-lr", "0"], "threshold_learning_rate must be > 0"),
    (["--warmup-steps", "4", "--latency-predictor", "P"], "warmup_steps 4 leaves none of the 4 steps"),
    (["--warmup-steps", "4"], "warmup_steps 4 leaves none of the 4 steps to train the thresholds"),
])
def test_bad_single_path_input_gets_one_line_exit_2_and_writes_nothing(tmp_path, arguments, names):
    predictor = mlp_predictor(tmp_path / "flops.json", MLP_RUN)
    arguments = [str(predictor) if a == "P" else a for a in arguments]
    run = tmp_path / "run"
    space = [] if arguments[0] == "--space" else ["--space", "mlp", "--option", "max_layers=2", "--option",
                                                  "max_width=16", "--option", "width_steps=2"]
    result = CliRunner().invoke(main, ["search-differentiable", "--method", "single-path", *space, "--data",
                                       "synthetic", "--steps", "4", "--run", str(run), *arguments])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: "), result.output
    assert names in result.output
    assert not run.exists()
