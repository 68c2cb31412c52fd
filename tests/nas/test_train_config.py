"""TrainConfig's defaults are the same built in Python and through the CLI."""
import pytest

from nas.config import from_dict, to_dict
from nas.errors import ConfigError
from nas.train.config import WITH_TEACHER, TrainConfig


@pytest.mark.parametrize("sampling", ["sandwich", "uniform", "fair", "cost-stratified"])
def test_distillation_defaults_to_alpha_exactly_where_the_sampling_trains_a_teacher(sampling):
    config = TrainConfig(sampling=sampling, num_archs=1)
    assert config.distillation == ("alpha" if sampling in WITH_TEACHER else "none")
    assert from_dict(TrainConfig, {"sampling": sampling, "num_archs": 1}, "test").distillation == config.distillation
    assert to_dict(config)["distillation"] == config.distillation


def test_uniform_sampling_built_in_python_passes_its_own_check():
    TrainConfig(sampling="uniform").check()  # failed before: the default distillation was alpha for every sampling


def test_an_explicit_distillation_without_a_teacher_is_still_refused():
    with pytest.raises(ConfigError, match="distillation 'kl' needs a sampling that trains the largest"):
        TrainConfig(sampling="uniform", distillation="kl").check()


def test_settings_refused_for_new_runs_still_load_from_a_run_trained_before_the_refusal():
    from nas.config import from_dict
    from nas.errors import ConfigError
    from nas.train.config import TrainConfig, saved_settings

    for saved in ({"supernet": "single", "router_hidden": 32}, {"supernet": "mos-layer", "experts": 1}):
        config = from_dict(TrainConfig, saved_settings(saved), "a saved run's config")  # search, export, resume
        with pytest.raises(ConfigError, match="router_hidden sizes the router|needs experts >= 2"):
            config.check_new_run()
