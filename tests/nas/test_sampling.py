"""Sampling policies: reproducible per step, each samples what its paper prescribes."""
import numpy as np
import pytest

from nas.definition import get_definition
from nas.errors import ConfigError
from nas.space import Choice, Space
from nas.train.config import TrainConfig
from nas.train.fair_sampling import FairSampling
from nas.train.optim import make_schedule
from nas.train.sampling import SandwichSampling, UniformSampling
from nas.train.shrinking import delayed_shrinking, progressive_shrinking
from nas.train.sorted_sampling import SortedSampling


def space_of(name, **options):
    definition = get_definition(name)
    return definition.make_space(**definition.resolve_options(options))


MOBILENET = space_of("mobilenetv3")
MLP = space_of("mlp")


@pytest.mark.parametrize("policy", [UniformSampling(3), SandwichSampling(2), SortedSampling(2),
                                    progressive_shrinking(MOBILENET, 1000), delayed_shrinking(1000)])
def test_archs_depend_only_on_seed_and_step(policy):
    for step in (0, 400, 999):
        a, b = policy.archs(MOBILENET, 7, step), policy.archs(MOBILENET, 7, step)
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.int32 and a.shape[1] == MOBILENET.num_decisions
        for row in a:
            MOBILENET.from_vector(row)  # inside the space


def test_sorted_sub_models_are_nested_and_cover_every_level():
    policy = SortedSampling(num_models=3)
    models = [MLP.from_vector(v) for v in policy.models(MLP)]
    assert len(models) == policy.num_levels(MLP) == max(MLP.choice_counts)
    assert models[0] == MLP.smallest() and models[-1] == MLP.largest()
    for small, large in zip(models, models[1:]):
        for name, value in small.items():
            if name in large:
                assert value <= large[name]
    seen = set()
    for step in range(50):
        archs = policy.archs(MLP, 0, step)
        assert len({tuple(a) for a in archs}) == 3  # distinct levels, never the largest (static)
        seen.update(tuple(a) for a in archs)
    assert len(seen) == policy.num_levels(MLP) - 1
    with pytest.raises(ConfigError, match="sub-models per step"):
        SortedSampling(num_models=99).archs(MLP, 0, 0)


def test_progressive_shrinking_opens_kernel_then_depth_then_expand():
    policy = progressive_shrinking(MOBILENET, 1400)
    names = [p.name for p in policy.phases]
    assert names == ["full", "kernel", "depth-partial", "depth", "expand-partial", "expand"]
    starts = policy.phase_starts()
    assert starts[0] == 0 and starts == sorted(starts) and len(set(starts)) == len(starts)
    largest = MOBILENET.largest()
    assert policy.archs(MOBILENET, 0, 0).shape[0] == 0  # the full network alone (the static teacher)
    for phase_index, check in ((1, lambda a: all(v == largest[k] for k, v in a.items() if "kernel" not in k)),
                               (2, lambda a: all(a[k] in (3, 4) for k in a if k.endswith("depth"))),
                               (4, lambda a: all(a[k] in (4, 6) for k in a if "expand" in k))):
        step = starts[phase_index]
        assert policy.phase(step) == names[phase_index]
        for row in policy.archs(MOBILENET, 0, step):
            assert check(MOBILENET.from_vector(row))
    schedule = make_schedule(TrainConfig(steps=1400, warmup_steps=10), starts)
    assert all(float(schedule(start)) == 0.0 for start in starts)  # each phase warms up again
    assert float(schedule(starts[1] - 1)) < float(schedule(starts[1] + 10))


def test_delayed_shrinking_trains_the_full_net_first_then_ramps_the_subnets_in():
    policy = delayed_shrinking(1000, delay=0.3, ramp_steps=50)
    assert policy.phase(299) == "full" and policy.phase(300) == "shrink"
    assert policy.archs(MOBILENET, 0, 10).shape[0] == 0
    assert policy.archs(MOBILENET, 0, 300).shape[0] == 2
    assert policy.student_weight(300) == pytest.approx(1 / 50) and policy.student_weight(400) == 1.0


def test_fair_sampling_trains_every_choice_exactly_once_per_step():
    space = Space("chain", [Choice(f"layer_{i}", ("skip", "mb3", "mb6")) for i in range(5)])
    archs = FairSampling().archs(space, 0, 3)
    assert archs.shape == (3, 5)
    for column in archs.T:
        assert sorted(column) == [0, 1, 2]
    with pytest.raises(ConfigError, match="single-path"):
        FairSampling().archs(MOBILENET, 0, 0)


def test_sorted_grid_crosses_independent_axes_and_keeps_sub_models_nested():
    lm = space_of("transformer_lm")
    policy = SortedSampling(num_models=4, axes=(("depth",), ("embed_dim", "*ffn_width")))  # heads on no axis
    assert policy.grid_shape(lm) == (3, 4)  # depths 2,3,4 x four FFN widths (the three embeds share them)
    cells = policy.cells(lm)
    models = {cell: lm.from_vector(policy.model(lm, cell)) for cell in cells}
    assert models[cells[-1]] == lm.largest()
    smallest = lm.smallest()
    assert [models[cells[0]][n] for n in ("depth", "embed_dim", "l0.ffn_width")] == [
        smallest[n] for n in ("depth", "embed_dim", "l0.ffn_width")]
    assert len(set(models.values())) == 12
    for (depth, width), arch in models.items():
        assert arch["depth"] == (2, 3, 4)[depth]
        assert arch["l0.heads"] == 4  # on no axis: stays at its largest
        if depth + 1 < 3:
            grown = models[(depth + 1, width)]
            assert grown["embed_dim"] == arch["embed_dim"] and grown["l0.ffn_width"] == arch["l0.ffn_width"]
        if width + 1 < 4:
            wider = models[(depth, width + 1)]
            assert wider["depth"] == arch["depth"] and wider["l0.ffn_width"] > arch["l0.ffn_width"]
    sampled = {tuple(row) for step in range(40) for row in policy.archs(lm, 3, step)}
    assert sampled == {tuple(policy.model(lm, cell)) for cell in cells[:-1]}  # every cell but the static largest


def test_sorted_axes_that_match_nothing_or_overlap_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"no decision of space 'mlp' matches \['nope'\]"):
        SortedSampling(axes=(("nope",),)).cells(MLP)
    with pytest.raises(ConfigError, match="belongs to at most one axis"):
        SortedSampling(axes=(("*",), ("depth",))).cells(MLP)
    with pytest.raises(ConfigError, match="sorted_axes is only for sampling 'sorted'"):
        TrainConfig(space="mlp", sampling="uniform", distillation="none", sorted_axes=("depth",)).check()
    with pytest.raises(ConfigError, match="outside the grid"):
        SortedSampling().model(MLP, 99)
