"""Optimizers as chains of small optax transformations."""
from __future__ import annotations

import jax
import optax

from nas.train.config import TrainConfig
from nas.train.masked_updates import freeze_unused

_NO_DECAY = ("bias", "scale")  # norms' scale/shift and biases, as OFA's "bn#bias"


def decay_mask(params):
    """True for leaves that get weight decay (not biases, not norm scales)."""
    def decays(path, _leaf):
        names = {str(getattr(entry, "key", getattr(entry, "name", ""))) for entry in path}
        return not names & set(_NO_DECAY)
    return jax.tree_util.tree_map_with_path(decays, params)


def make_schedule(config: TrainConfig):
    warmup = min(config.warmup_steps, config.steps - 1)
    return optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, max(warmup, 0),
                                              max(config.steps, warmup + 1))


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    schedule = make_schedule(config)
    if config.optimizer == "adamw":
        optimizer = optax.adamw(schedule, weight_decay=config.weight_decay, mask=decay_mask)
    else:
        optimizer = optax.chain(optax.add_decayed_weights(config.weight_decay, mask=decay_mask),
                                optax.sgd(schedule, momentum=config.momentum, nesterov=True))
    if config.grad_clip is not None:
        optimizer = optax.chain(optax.clip_by_global_norm(config.grad_clip), optimizer)
    return freeze_unused(optimizer) if config.freeze_unused else optimizer
