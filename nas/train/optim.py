"""Optimizers as chains of small optax transformations."""
from __future__ import annotations

import jax
import optax

from nas.train.config import TrainConfig
from nas.train.masked_updates import freeze_unused

# Norms' scale/shift and biases, as OFA's "bn#bias"; the switchable scales' tables (multipliers around 1, as
# a norm's scale, which decay would pull toward 0).
_NO_DECAY = ("bias", "scale", "attention_scale", "ffn_scale")


def decay_mask(params):
    """True for leaves that get weight decay (not biases, not norm scales)."""
    def decays(path, _leaf):
        names = {str(getattr(entry, "key", getattr(entry, "name", ""))) for entry in path}
        return not names & set(_NO_DECAY)
    return jax.tree_util.tree_map_with_path(decays, params)


def _warmup_cosine(config: TrainConfig, steps: int):
    warmup = max(min(config.warmup_steps, steps - 1), 0)
    return optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, warmup, max(steps, warmup + 1))


def make_schedule(config: TrainConfig, restarts: list[int] = ()):
    """Warm-up then cosine decay; restarted at each phase start after the first (progressive shrinking)."""
    starts = sorted({0, *(s for s in restarts if 0 < s < config.steps)})
    ends = starts[1:] + [config.steps]
    pieces = [_warmup_cosine(config, end - start) for start, end in zip(starts, ends)]
    return pieces[0] if len(pieces) == 1 else optax.join_schedules(pieces, starts[1:])


def make_optimizer(config: TrainConfig, schedule=None) -> optax.GradientTransformation:
    schedule = schedule if schedule is not None else make_schedule(config)
    if config.optimizer == "adamw":
        optimizer = optax.adamw(schedule, weight_decay=config.weight_decay, mask=decay_mask)
    else:
        optimizer = optax.chain(optax.add_decayed_weights(config.weight_decay, mask=decay_mask),
                                optax.sgd(schedule, momentum=config.momentum, nesterov=True))
    if config.grad_clip is not None:
        optimizer = optax.chain(optax.clip_by_global_norm(config.grad_clip), optimizer)
    return freeze_unused(optimizer) if config.freeze_unused else optimizer
