"""One clear error when a network's output does not fit its data's labels.

Nothing else would say so: cross-entropy takes a label beyond the logits without complaint, so a 5-class head
on 10-class data, or a 100-token vocabulary on byte data, trains to a meaningless score.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax

from nas.data import Dataset
from nas.errors import ConfigError
from nas.lowering import static_apply
from nas.space import Space


def check_outputs_match(space: Space, graphdef, params, stats, dataset: Dataset, options: Mapping,
                        data_name: str) -> None:
    """Raises ConfigError unless the largest subnet gives one score per class of `dataset` (shapes only:
    nothing is computed)."""
    example = jax.ShapeDtypeStruct((1, *dataset.train.inputs.shape[1:]), dataset.train.inputs.dtype)
    logits = jax.eval_shape(lambda p, s, x: static_apply(graphdef, p, s, x, space.largest(), train=False)[0],
                            params, stats, example)
    scores = logits.shape[-1]
    if scores == dataset.num_classes:
        return
    # Name the option that sizes the head: the one int option holding the wrong count, or among several the
    # one named for classes, a vocabulary or outputs.
    sizing = [key for key, value in options.items() if type(value) is int and value == scores]
    if len(sizing) > 1:
        sizing = [key for key in sizing if any(word in key.lower() for word in ("class", "vocab", "output"))]
    fix = (f"set --option {sizing[0]}={dataset.num_classes}" if len(sizing) == 1
           else f"give the network {dataset.num_classes} outputs")
    per = "position" if dataset.inputs == "tokens" else "example"
    raise ConfigError(f"space {space.name!r} gives {scores} scores per {per}, but data {data_name!r} has "
                      f"{dataset.num_classes} classes; {fix}")
