"""The NAS-Bench-201 cell space: 15,625 archs, the benchmark's arch strings and parameter counts, and lowerings
that agree (masked: every op computed and the chosen one kept; sliced: only the chosen op)."""

import jax
import numpy as np
import pytest

from nas.definition import get_definition
from nas.errors import WeftError
from nas.lowering import count_params, slice_subnet, split, switched_apply
from search_spaces.nb201 import EDGES, NB201StringError, edge_name, from_nb201_string, to_nb201_string

from tests.search_spaces import checks

SMALL = {"channels": 4, "cells_per_stage": 1}
# The best CIFAR-10 cell of NAS-Bench-201 (Dong & Yang, 2020), as the benchmark writes it.
BEST_CIFAR10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def build(options=None, image_shape=(32, 32, 3)):
    definition = get_definition("nb201")
    return definition.build(definition.resolve_options(options or {}, image_shape))


def test_space_has_15625_archs_and_every_arch_string_round_trips():
    space, _ = build(SMALL)
    assert space.size() == 5 ** 6 == 15_625
    strings = set()
    for arch in space.enumerate():
        text = to_nb201_string(arch)
        assert from_nb201_string(space, text) == arch, text
        strings.add(text)
    assert len(strings) == 15_625


def test_a_published_arch_string_reads_to_its_edges():
    space, _ = build(SMALL)
    arch = from_nb201_string(space, BEST_CIFAR10)
    assert arch[edge_name(3, 0)] == "skip_connect"
    assert all(arch[edge_name(j, i)] == "nor_conv_3x3" for j, i in EDGES if (j, i) != (3, 0))
    assert to_nb201_string(arch) == BEST_CIFAR10
    assert to_nb201_string(space.largest()).count("nor_conv_3x3") == 6
    assert to_nb201_string(space.smallest()).count("skip_connect") == 6


@pytest.mark.parametrize("text, fragments", [
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", ["'conv_5x5'", "allowed ops", "avg_pool_3x3",
                                                            "nor_conv_1x1", "skip_connect"]),
    ("|none~0|+|none~0|none~1|", ["2 node groups", "exactly 3"]),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", ["node 2 has 1 inputs", "exactly 2"]),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", ["token 'none~1'", "allowed: op~0"]),
    ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", ["must start and end with '|'"]),
])
def test_malformed_arch_strings_name_the_bad_part_and_what_is_allowed(text, fragments):
    space, _ = build(SMALL)
    with pytest.raises(NB201StringError) as error:
        from_nb201_string(space, text)
    message = str(error.value)
    assert isinstance(error.value, WeftError) and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_parameter_counts_equal_the_benchmark():
    space, supernet = build()  # C = 16, N = 5, CIFAR-10: the benchmark's 1.53 MB and 0.07 MB
    assert count_params(split(supernet)[1]) == 1_531_546  # the supernet is the all-3x3 network
    assert count_params(split(slice_subnet(supernet, space.largest()))[1]) == 1_531_546
    assert count_params(split(slice_subnet(supernet, space.smallest()))[1]) == 73_306
    one_by_one = space.validate({edge_name(j, i): "nor_conv_1x1" for j, i in EDGES})
    per_cell = sum(6 * (c * c + 2 * c) for c in (16, 32, 64)) * 5
    assert count_params(split(slice_subnet(supernet, one_by_one))[1]) == 73_306 + per_cell


def test_the_1x1_conv_is_the_centre_of_the_3x3_and_shares_its_batch_norm():
    space, supernet = build(SMALL)
    arch = space.validate({edge_name(j, i): "nor_conv_1x1" for j, i in EDGES})
    subnet = slice_subnet(supernet, arch)
    edge, sub_edge = supernet.stages[1][0].edges[4], subnet.stages[1][0].edges[4]
    assert sub_edge.conv.kernel[...].shape == (1, 1, 8, 8)
    np.testing.assert_array_equal(sub_edge.conv.kernel[...][0, 0], edge.conv.kernel[...][1, 1])
    np.testing.assert_array_equal(sub_edge.bn.scale[...], edge.bn.scale[...])
    pooled = space.validate({**arch, edge_name(1, 0): "avg_pool_3x3"})
    assert slice_subnet(supernet, pooled).stages[0][0].edges[0].conv is None  # a weightless op keeps no weights


def test_lowerings_agree_on_the_largest_arch_and_one_using_every_op():
    space, graphdef, params, stats = checks.perturbed_supernet("nb201", SMALL)
    every_op = from_nb201_string(space, "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|"
                                        "nor_conv_3x3~1|nor_conv_1x1~2|")
    checks.check_agreement(space, graphdef, params, stats, [space.largest(), every_op], checks.batch_of(8))


@pytest.mark.slow
def test_lowerings_agree_on_50_random_archs_plus_smallest_and_largest():
    space, graphdef, params, stats = checks.perturbed_supernet("nb201", SMALL)
    worst = checks.check_agreement(space, graphdef, params, stats, checks.archs_to_check(space, 50, seed=5),
                                   checks.batch_of(8))
    print(f"nb201: worst |masked or static - sliced| / max(1, |logits|) over 52 archs: {worst:.3g}")


@pytest.mark.slow
def test_cli_trains_and_the_export_reloads_and_matches(tmp_path):
    space, _ = build(SMALL)
    arch = dict(from_nb201_string(space, "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|"
                                         "nor_conv_3x3~1|nor_conv_1x1~2|"))
    assert checks.train_export_reload("nb201", SMALL, arch, tmp_path) <= 1e-4


def test_switched_execution_runs_the_static_subnet_in_logits_statistics_and_gradients():
    # `nas train --execution switch`: each edge runs only its chosen op, one compile for all archs.
    space, graphdef, params, stats = checks.perturbed_supernet("nb201", SMALL)
    every_op = from_nb201_string(space, "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+"
                                        "|none~0|skip_connect~1|nor_conv_3x3~2|")
    batch = checks.batch_of(4)
    checks.check_switched_matches_static(space, graphdef, params, stats, [every_op], batch)
    # ... and it does switch: one conditional per edge, not every op computed and one kept.
    program = jax.make_jaxpr(lambda v: switched_apply(graphdef, params, stats, space, batch, v, train=True))(
        every_op.to_vector())
    assert str(program).count("cond[") == len(EDGES) * SMALL["cells_per_stage"] * 3
