"""Shared by the space tests: the lowering-agreement helpers, and a CLI round trip.

Test modules import shared helpers as `tests.<folder>.<module>` (the repository root is on the path).
"""
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from click.testing import CliRunner
from flax import nnx

from nas import preprocessing
from nas.cli import main
from nas.definition import get_definition
from nas.evaluate import make_masked_logits
from nas.export import load_export, load_stablehlo
from nas.lowering import (masked_apply, param_usage, slice_subnet, split, standalone_apply, static_apply,
                          switched_apply)
from nas.run_dir import RunDir
from nas.train.loop import restore_trained

# float32: 1e-5 absolute for logits of magnitude <= 1, relative beyond (train-mode BN on perturbed
# weights gives logits of magnitude ~10, where reduction-order rounding alone reaches ~1e-5).
TOLERANCE = 1e-5
IMAGE_SHAPE = (28, 28, 1)


def perturbed_supernet(space_name, options, seed=0, input_shape=IMAGE_SHAPE):
    """A supernet whose weights and BN statistics are off their init, so agreement means something; drawn
    with numpy: eager `jax.random` compiles one program per leaf shape, tens of seconds for a cell space."""
    definition = get_definition(space_name)
    space, supernet = definition.build(definition.resolve_options(options, input_shape), seed=seed)
    graphdef, params, stats = split(supernet)
    rng = np.random.default_rng(seed)
    params = moved_off_init(params, rng, 0.05)
    stats = moved_off_init(stats, rng, 0.2, positive=True)
    return space, graphdef, params, stats


def moved_off_init(tree, rng, scale, *, positive=False):
    """Every leaf plus `scale` x standard-normal noise (its absolute value with `positive`, for BN
    statistics), drawn with numpy from `rng` in leaf order."""
    def move(leaf):
        noise = scale * rng.normal(size=leaf.shape)
        return jnp.asarray(leaf + np.asarray(np.abs(noise) if positive else noise, leaf.dtype), leaf.dtype)
    return jax.tree.map(move, tree)


def archs_to_check(space, count, seed=1):
    rng = np.random.default_rng(seed)
    return [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(count)]


def batch_of(count, seed=2):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(count, *IMAGE_SHAPE)), jnp.float32)


def check_agreement(space, graphdef, params, stats, archs, batch):
    """Masked, static and sliced logits agree in eval and train mode, and so do the BN statistics; the
    largest difference relative to max(1, |logits|). Weights and batch go to jit as arguments: closed over,
    XLA constant-folds whole convolutions and pooling windows, which made a compile take minutes."""
    masked = jax.jit(lambda p, s, x, v: tuple(masked_apply(graphdef, p, s, space, x, v, train=t)
                                              for t in (False, True)))
    worst = 0.0
    for arch in archs:
        (masked_eval, _), (masked_train, masked_stats) = masked(params, stats, batch, arch.to_vector())
        static = jax.jit(lambda p, s, x: tuple(static_apply(graphdef, p, s, x, arch, train=t)[0]
                                               for t in (False, True)))(params, stats, batch)
        sub_graphdef, sub_params, sub_stats = split(slice_subnet(nnx.merge(graphdef, params, stats), arch))
        (sliced_eval, _), (sliced_train, sliced_stats) = jax.jit(
            lambda p, s, x: tuple(standalone_apply(sub_graphdef, p, s, x, train=t) for t in (False, True)))(
            sub_params, sub_stats, batch)
        stats_from_masked = split(slice_subnet(nnx.merge(graphdef, params, masked_stats), arch))[2]
        for got, want, what in ((masked_eval, sliced_eval, "eval logits"), (masked_train, sliced_train, "train logits"),
                                (static[0], sliced_eval, "static eval logits"),
                                (static[1], sliced_train, "static train logits")):
            difference = float(jnp.max(jnp.abs(got - want)))
            scale = max(1.0, float(jnp.max(jnp.abs(want))))
            assert difference <= TOLERANCE * scale, f"{arch}: {what} differ by {difference:.3g} (scale {scale:.3g})"
            worst = max(worst, difference / scale)
        for got, want in zip(jax.tree.leaves(stats_from_masked), jax.tree.leaves(sliced_stats)):
            assert float(jnp.max(jnp.abs(got - want))) <= TOLERANCE, f"{arch}: BN statistics differ"
    return worst


def jitted_gradients(apply):
    """jit(grad) of sum(logits^2) through `apply(params, *args) -> (logits, stats)`, with (logits, stats) as
    aux; arguments after the params (an arch vector) are traced, so one compile serves every value."""
    def loss(params, *args):
        logits, new_stats = apply(params, *args)
        return jnp.sum(jnp.square(logits)), (logits, new_stats)
    return jax.jit(jax.grad(loss, has_aux=True))


def gradients(apply, params):
    return jitted_gradients(apply)(params)


def check_switched_matches_static(space, graphdef, params, stats, archs, batch) -> None:
    """Switched execution computes the static (sliced-in-jit) subnet: logits, BN statistics and gradients
    to float32 rounding, and no gradient on the slices the arch does not read."""
    # The arch vector is an argument, as in training: one compile serves every arch.
    switched_gradients = jitted_gradients(
        lambda params, vector: switched_apply(graphdef, params, stats, space, batch, vector, train=True))
    for arch in archs:
        usage = param_usage(graphdef, params, stats, arch)
        grads_s, (logits_s, stats_s) = switched_gradients(params, arch.to_vector())
        grads_t, (logits_t, stats_t) = gradients(lambda p: static_apply(
            graphdef, p, stats, batch, arch, train=True), params)
        scale = max(1.0, float(jnp.max(jnp.abs(logits_t))))
        assert float(jnp.max(jnp.abs(logits_s - logits_t))) <= 1e-5 * scale, f"{arch}: logits differ"
        for got, want in zip(jax.tree.leaves(stats_s), jax.tree.leaves(stats_t)):
            assert float(jnp.max(jnp.abs(got - want))) <= 1e-5, f"{arch}: BN statistics differ"
        grad_scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(grads_t))
        for got, want, used in zip(jax.tree.leaves(grads_s), jax.tree.leaves(grads_t), usage):
            assert float(jnp.max(jnp.abs(got - want))) <= 1e-5 * grad_scale, f"{arch}: gradients differ"
            assert not np.any(np.asarray(got)[~used]), f"{arch}: unused slices got gradient"


def cli_result(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def cli(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def train_export_reload(space: str, options: dict, arch: dict, tmp_path: Path) -> float:
    """`nas train` (3 synthetic steps) then `nas export` of `arch`; the reloaded export must match the supernet.

    Returns the largest |export - supernet| over a batch of test images.
    """
    run, out = tmp_path / "run", tmp_path / "export"
    option_args = [a for key, value in options.items() for a in ("--option", f"{key}={json.dumps(value)}")]
    cli("train", "--space", space, *option_args, "--data", "synthetic", "--limit-train", 256, "--batch-size", 32,
        "--warmup-steps", 1, "--steps", 3, "--quiet", "--run", run)
    assert json.loads((run / "summary.json").read_text())["steps"] == 3
    cli("export", "--run", run, "--arch", json.dumps(arch), "--out", out)
    exported = load_export(out)
    assert exported.info["arch"] == arch
    session, state = restore_trained(RunDir.open(run))
    images = session.dataset.test.inputs[:32]
    vector = session.space.validate(arch).to_vector()
    # The export carries BN statistics recalibrated for the subnet; compare against the supernet with those.
    stats = _recalibrated_stats(session, state, vector)
    supernet_logits = make_masked_logits(session.graphdef, session.space)(state.params, stats, images, vector)
    difference = float(jnp.max(jnp.abs(exported.logits(images) - supernet_logits)))
    raw = preprocessing.invert(exported.info["preprocessing"], images)  # model.stablehlo reads raw inputs
    np.testing.assert_allclose(load_stablehlo(out)(raw), exported.logits(images), atol=1e-5)
    return difference


def _recalibrated_stats(session, state, vector):
    from nas.evaluate import make_recalibrate

    calibration = session.dataset.train.inputs[:session.config.calibration_images]
    return make_recalibrate(session.graphdef, session.space)(state.params, state.stats, calibration, vector)
