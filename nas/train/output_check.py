"""One clear error when a network's output does not fit its data's labels.

Nothing else would say so: cross-entropy takes a label beyond the logits without complaint, so a 5-class head
on 10-class data, or a 100-token vocabulary on byte data, trains to a meaningless score.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping

import jax
import numpy as np
from flax import nnx

from nas.data import Dataset
from nas.errors import ConfigError, WeftError
from nas.user_code import where_in_user_code
from nas.space import Space, SpaceError, Tie


def check_outputs_match(space: Space, graphdef, params, stats, dataset: Dataset, options: Mapping,
                        data_name: str) -> None:
    """Raises ConfigError unless the largest and the smallest subnets each give one score per class of
    `dataset` for every label (shapes only: nothing is computed)."""
    example = jax.ShapeDtypeStruct((1, *dataset.train.inputs.shape[1:]), dataset.train.inputs.dtype)
    wanted = (1, *dataset.train.labels.shape[1:], dataset.num_classes)
    per = "position" if dataset.inputs == "tokens" else "example"
    offered, read = set(), set()
    for which, arch in endpoints_and_a_mix(space):
        values = ReadRecorder(arch)
        offered |= set(values)
        try:
            logits = jax.eval_shape(lambda p, s, x: nnx.merge(graphdef, p, s, copy=True)(x, train=False, arch=values),
                                    params, stats, example)
            read |= values.read
        except SpaceError as error:  # the model's own declarations disagree: which subnet, and where
            raise SpaceError(f"space {space.name!r}: its {which} subnet ({arch.to_string()}): {error} "
                             f"({where_in_user_code(error)})") from None
        except WeftError:
            raise
        except Exception as error:  # noqa: BLE001 - a model that cannot run its own subnet: say which and where
            message = (str(error).strip().splitlines() or [""])[0][:300]
            raise ConfigError(f"space {space.name!r}: its {which} subnet ({arch.to_string()}) cannot run on one "
                              f"example of shape {example.shape[1:]}: {type(error).__name__}: {message} "
                              f"({where_in_user_code(error)})") from None
        if tuple(logits.shape) == wanted:
            continue
        scores = logits.shape[-1]
        if scores != dataset.num_classes:
            raise ConfigError(f"space {space.name!r}: its {which} subnet gives {scores} scores per {per}, but data "
                              f"{data_name!r} has {dataset.num_classes} classes; {_fix(options, scores, dataset)}")
        raise ConfigError(f"space {space.name!r}: its {which} subnet gives outputs of shape {tuple(logits.shape)} "
                          f"for one example; allowed: {wanted} (one score per class for each "
                          f"{'position' if dataset.inputs == 'tokens' else 'example'}: pool or flatten before the head)")
    # A tie read is its source read (a width set once, used by several layers). A model that passes the arch on
    # as a copy reads nothing this can see: then nothing is said.
    read |= {d.source for d in space.decisions if isinstance(d, Tie) and d.name in read}
    unread = sorted(offered - read) if read else []
    if unread:  # a warning, not an error: a decision may matter only in training (a dropout rate, say)
        print(f"warning: space {space.name!r}: the model's forward never reads decision(s) {', '.join(unread)}: "
              "archs that differ only there are one network (a search spends trials on copies); read each "
              "declared decision in the layer it sizes, or remove it", file=sys.stderr)


class ReadRecorder(dict):
    """A fixed arch that records which decisions the model reads."""

    def __init__(self, arch) -> None:
        super().__init__(dict(arch))
        self.read: set[str] = set()

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)


def _flatten_recorder(recorder: ReadRecorder):
    """Passed through a JAX transform (jax.checkpoint, a scan), the arch leaves this record's sight: every
    decision counts as read, and the transform gets a plain dict back."""
    recorder.read.update(recorder)
    keys = tuple(recorder)
    return tuple(dict.__getitem__(recorder, key) for key in keys), keys


jax.tree_util.register_pytree_node(ReadRecorder, _flatten_recorder, lambda keys, values: dict(zip(keys, values)))


def endpoints_and_a_mix(space: Space) -> list[tuple[str, object]]:
    """The largest and smallest archs, and one that mixes them (decisions alternately at their smallest and
    largest value), where two declared widths that should be one differ."""
    archs = [("largest", space.largest()), ("smallest", space.smallest())]
    mixed = space.from_vector(np.array([0 if p % 2 == 0 else len(d) - 1 for p, d in enumerate(space.free)], np.int32))
    return archs + ([("mixed", mixed)] if all(mixed != arch for _, arch in archs) else [])


def _fix(options: Mapping, scores: int, dataset: Dataset) -> str:
    """Name the option that sizes the head: the one int option holding the wrong count, or among several the
    one named for classes, a vocabulary or outputs."""
    sizing = [key for key, value in options.items() if type(value) is int and value == scores]
    if len(sizing) > 1:
        sizing = [key for key in sizing if any(word in key.lower() for word in ("class", "vocab", "output"))]
    return (f"set --option {sizing[0]}={dataset.num_classes}" if len(sizing) == 1
            else f"give the network {dataset.num_classes} outputs (in every subnet)")
