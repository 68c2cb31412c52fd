"""The supernet contract: shipped networks satisfy it, a network that breaks it is refused where it is built."""
import pytest
from flax import nnx

from nas.definition import get_definition
from nas.errors import ConfigError
from nas.train.attentive_sampling import AttentiveSampling, LossAwareSampling
from nas.train.sampling import SamplingPolicy, SandwichSampling, StandaloneSampling
from supernets.decisions import NestedWidth
from supernets.elastic_dense import ElasticDense
from supernets.protocol import HasActiveSubnet, ReportsParamUsage, SortsChannels, Supernet, check_supernet


def test_shipped_networks_are_supernets_with_the_capabilities_they_define():
    definition = get_definition("mlp")
    _, supernet = definition.build(definition.resolve_options({"max_width": 16, "width_steps": 2}, (4, 4, 1)))
    assert isinstance(supernet, Supernet) and isinstance(supernet, SortsChannels)
    assert not isinstance(supernet, HasActiveSubnet) and not isinstance(supernet, ReportsParamUsage)


class NoArchKeyword(nnx.Module):
    def __init__(self, in_features: int = 4, *, rngs: nnx.Rngs):
        self.dense = ElasticDense(in_features, NestedWidth(widths=(2, 4)), rngs=rngs)

    def __call__(self, x, *, train: bool = False):
        return self.dense(x)


def test_a_network_without_the_arch_keyword_is_refused_when_its_space_is_built():
    with pytest.raises(ConfigError, match=r"NoArchKeyword.__call__ takes no 'arch' keyword.*model\(x, \*, train, arch\)"):
        check_supernet(NoArchKeyword(rngs=nnx.Rngs(0)), "no-arch")


def test_something_not_callable_is_refused():
    with pytest.raises(ConfigError, match="built a int, which is not callable"):
        check_supernet(3, "broken")


def test_every_sampling_policy_meets_the_protocol_and_only_attentive_reads_losses():
    import numpy as np
    attentive = AttentiveSampling(1, cost=lambda v: np.ones(len(v)))
    for policy in (SandwichSampling(2), StandaloneSampling("a=1"), attentive):
        assert isinstance(policy, SamplingPolicy)
    assert isinstance(attentive, LossAwareSampling) and not isinstance(SandwichSampling(2), LossAwareSampling)
