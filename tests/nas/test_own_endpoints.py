"""Few-shot with own endpoints: every supernet trains its own largest and smallest, not only the two owning
the space's ends."""
import jax
import numpy as np
import pytest

from nas.errors import ConfigError
from nas.run_dir import RunDir
from nas.train.config import TrainConfig
from nas.train.loop import build_session, restore_trained, train
from nas.train.own_endpoints import OwnEndpoints
from nas.train.sampling import SandwichSampling

CONFIG = dict(space="mlp", space_options={"max_layers": 4, "max_width": 32, "width_steps": 4}, supernet="few-shot",
              split_decision="depth", experts=4, sampling="sandwich", num_random=0, distillation="none",
              data="synthetic", limit_train=128, batch_size=16, steps=2, checkpoint_every=2)


def copy_slices(run):
    """Per parameter of the supernet, its 4 copies' values (copy k lives under supernets/k/)."""
    _, state = restore_trained(RunDir.open(run))
    by_name = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state.params)[0]:
        keys = [str(getattr(entry, "key", getattr(entry, "idx", entry))) for entry in path]
        copy = int(keys[keys.index("supernets") + 1])
        by_name.setdefault("/".join(keys[keys.index("supernets") + 2:]), {})[copy] = np.asarray(leaf)
    return [[copies[k] for k in range(4)] for copies in by_name.values()]


def test_middle_supernets_train_only_with_their_own_endpoints(tmp_path):
    train(TrainConfig(**CONFIG), tmp_path / "plain", progress=False)
    train(TrainConfig(**CONFIG, own_endpoints=True), tmp_path / "own", progress=False)
    plain, own = copy_slices(tmp_path / "plain"), copy_slices(tmp_path / "own")
    assert plain and len(plain) == len(own)
    # Without: supernets 1 and 2 (depths 2 and 3) never train, so they stay equal (both the initial copy).
    assert all(np.array_equal(leaf[1], leaf[2]) for leaf in plain)
    assert not all(np.array_equal(leaf[0], leaf[1]) for leaf in plain)
    # With: each trains its own depth's ends, so they move apart.
    assert not all(np.array_equal(leaf[1], leaf[2]) for leaf in own)


def test_the_wrapper_adds_each_end_once_beside_the_static_ones():
    session = build_session(TrainConfig(**CONFIG))
    base = SandwichSampling(1)
    policy = OwnEndpoints.around(base, session.space, session.supernet.endpoints())
    assert len(policy.extra) == 6 and policy.num_archs == base.num_archs + 6  # 4 pairs less the 2 static ends
    archs = policy.archs(session.space, 0, 5)
    assert archs.shape == (7, session.space.num_decisions) and archs.dtype == np.int32
    depths = sorted(session.space.from_vector(v)["depth"] for v in archs[1:])
    assert depths == [1, 2, 2, 3, 3, 4]
    np.testing.assert_array_equal(archs[:1], base.archs(session.space, 0, 5))


def test_without_the_smallest_each_supernet_adds_its_own_largest_only():
    session = build_session(TrainConfig(**CONFIG))
    base = SandwichSampling(1, smallest=False)
    policy = OwnEndpoints.around(base, session.space, session.supernet.endpoints())
    assert len(policy.extra) == 3  # the largest of depths 1, 2, 3 (depth 4's is the static largest)
    largest_of = {pair[0].to_string() for pair in session.supernet.endpoints()}
    assert {session.space.from_vector(np.array(v)).to_string() for v in policy.extra} < largest_of


@pytest.mark.parametrize("bad", [dict(supernet="single", split_decision=None, experts=None),
                                 dict(sampling="uniform", num_random=1)])
def test_own_endpoints_outside_a_few_shot_sandwich_is_one_clear_error(bad):
    with pytest.raises(ConfigError, match="own_endpoints gives each few-shot supernet its own sandwich"):
        TrainConfig(**{**CONFIG, **bad}, own_endpoints=True).check()
