"""A space's cost model derived from its network: no per-space cost file.

Every elastic layer built from declared sizes (`supernets.decisions`) says which sizes set its shape
(`cost_sizes`), its exact-shape config at given sizes and input shape (`cost_config`), that config's
multiply-adds and params (`count_cost`) and a standalone layer to time for the lookup table
(`build_for_cost`). Input shapes (a convolution's height and width, a dense layer's token count)
are recorded from one shape-only forward pass. Each layer becomes one `CostLayer` whose decisions are
the ones its sizes name; a size that depends on a depth (the width after an elastic-depth stack)
becomes one `CostLayer` per depth, present at that depth only. So counts, lookup tables and their
relaxed expectations all come from the layers themselves, through `nas.hardware.tables`.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from nas.hardware.cost_model import CostLayer, CostModel, CostModelError
from nas.space import Space
from supernets import shape_trace
from supernets.decisions import In, Select, evaluate, modules_in, sources


def layer_types(model: nnx.Module) -> dict[str, type]:
    """cost type -> layer class, for every costed layer class in `model`."""
    return {type(m).cost_type: type(m) for _, m, _ in modules_in(model) if hasattr(m, "cost_sizes")}


def input_shapes(model: nnx.Module, space: Space, example_shape: tuple, dtype) -> dict[str, tuple]:
    """Path of each costed layer -> its input shape (batch 1), recorded in shape-only forward passes.

    The full-size pass runs every layer an elastic depth can run; a space with op choices also runs
    one fixed arch per choice index (every decision at its k-th value), so that each candidate op's
    layers run once. The layers' input shapes must not depend on which op ran (they don't in a
    single-path space, where every candidate maps the same input shape to the same output shape).
    """
    graphdef, state = nnx.split(model)
    found: dict[str, tuple] = {}
    archs = [None]
    if any(isinstance(c, In) for _, _, conditions in modules_in(model) for c in conditions):
        counts = space.choice_counts
        archs += [dict(space.from_vector([min(k, n - 1) for n in counts])) for k in range(max(counts))]

    def forward(state, x, arch):
        merged = nnx.merge(graphdef, state)
        paths = {id(m): path for path, m, _ in modules_in(merged)}
        with shape_trace.recording() as shapes:
            merged(x, train=False, arch=arch)
        for key, shape in shapes.items():
            if key in paths:
                found.setdefault(paths[key], shape)
        return 0

    for arch in archs:
        jax.eval_shape(lambda s, x, arch=arch: forward(s, x, arch), state,
                       jax.ShapeDtypeStruct((1, *example_shape), dtype))
    return found


def derive_cost_model(model: nnx.Module, space: Space, example_shape: tuple, dtype=jnp.float32) -> CostModel:
    """The cost model of a named (`supernets.decisions.name_decisions`) network."""
    shapes = input_shapes(model, space, tuple(example_shape), dtype)
    layers: list[CostLayer] = []
    for path, module, conditions in modules_in(model):
        if not hasattr(module, "cost_sizes"):
            continue
        if path not in shapes:
            continue  # never called at full size: not part of any subnet's forward pass
        layers.extend(_cost_layers(space, path, module, conditions, shapes[path]))
    types = layer_types(model)

    def count(config: Mapping) -> tuple[int, int]:
        return types[config["type"]].count_cost(config)

    def build(config: Mapping, rngs: nnx.Rngs):
        return types[config["type"]].build_for_cost(config, rngs)

    return CostModel(tuple(layers), count, build)


def _cost_layers(space: Space, path: str, module, conditions: tuple, input_shape: tuple) -> list[CostLayer]:
    sizes = module.cost_sizes()
    selects = {id(s.by): s.by for s in sizes.values() if isinstance(s, Select)}
    if len(selects) > 1:
        raise CostModelError(f"layer {path!r}: its sizes depend on two depths; allowed: at most one Select")
    present = _present_values(space, path, conditions)
    if not selects:
        return [_cost_layer(space, path, module, sizes, input_shape, present)]
    by = next(iter(selects.values()))
    layers = []
    for value in space[by.name].values:
        if present is not None and (present[0] != by.name or value not in present[1]):
            if present[0] != by.name:
                raise CostModelError(f"layer {path!r} sits in a container conditioned on {present[0]!r} and its size "
                                     f"depends on {by.name!r}; allowed: one decision for both")
            continue
        case = {k: dict(s.cases)[value] if isinstance(s, Select) else s for k, s in sizes.items()}
        if any(case_size is None for case_size in case.values()):
            continue  # the stack's input at depth 0: no layer reads it here
        layers.append(_cost_layer(space, f"{path}@{by.name}={value}", module, case, input_shape, (by.name, (value,))))
    return layers


def _present_values(space: Space, path: str, conditions: tuple):
    """(decision, values) under which the enclosing containers run this layer, or None: always."""
    if not conditions:
        return None
    names = {c.source if isinstance(c.source, str) else c.source.name for c in conditions}
    if len(names) > 1:
        raise CostModelError(f"layer {path!r} sits in containers conditioned on {sorted(names)}; allowed: one")
    name = names.pop()
    allowed = space[name].values
    for condition in conditions:
        if isinstance(condition, In):
            allowed = tuple(v for v in allowed if v in condition.values)
        else:
            allowed = tuple(v for v in allowed if v >= condition.min_value)
    return name, allowed


def _cost_layer(space: Space, path: str, module, sizes: dict, input_shape: tuple, present) -> CostLayer:
    names = tuple(dict.fromkeys(d.name for size in sizes.values() for d in sources(size)))
    # Present only for some values of a decision that also sets its size (a candidate op's conv, whose
    # kernel the op sets): the presence goes into the config, None where absent.
    folded = present if present is not None and present[0] in names else None
    if folded is not None:
        present = None
    unknown = [n for n in names if n not in space]
    if unknown:
        raise CostModelError(f"layer {path!r} reads {unknown}, which the space {space.name!r} does not declare")

    def config(*values):
        by_name = dict(zip(names, values))
        if folded is not None and by_name[folded[0]] not in folded[1]:
            return None
        return module.cost_config({k: evaluate(s, by_name) for k, s in sizes.items()}, input_shape)

    return CostLayer(path, names, config, active_if=present)


