"""Each Optuna private API weft uses (nas/optuna_private.py) still behaves as weft expects.

A failure here after an Optuna upgrade names the API that changed: adapt nas/optuna_private.py.
"""
import optuna
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from nas import optuna_private


def test_study_storage_and_ids():
    study = optuna.create_study(study_name="s")
    storage = optuna_private.storage_of(study)
    assert isinstance(storage, optuna.storages.BaseStorage), "Study._storage"
    assert optuna_private.study_id(study) == storage.get_study_id_from_name("s"), "Study._study_id"
    trial = study.ask()
    study.tell(trial, 1.0)
    frozen = study.get_trials()[0]
    assert optuna_private.trial_id(frozen) == storage.get_trial_id_from_study_id_trial_number(
        optuna_private.study_id(study), frozen.number), "FrozenTrial._trial_id"


def test_constraint_key_is_what_set_constraint_writes_and_constraints_reads():
    study = optuna.create_study()
    trial = study.ask()
    trial.set_constraint("violation", 0.5)
    study.tell(trial, 1.0)
    assert study.get_trials()[0].system_attrs[optuna_private.constraint_key("violation")] == 0.5, \
        "optuna.study._constrained_optimization._CONSTRAINTS_KEY"
    added = create_trial(params={"x": 1}, distributions={"x": IntDistribution(0, 3)}, values=[2.0],
                         system_attrs={optuna_private.constraint_key("violation"): 1.5})
    assert added.constraints == {"violation": 1.5}, "constraints stored under constraint_key are read back"


def test_nsga2_generation_key_is_written_by_the_sampler():
    sampler = optuna.samplers.NSGAIISampler(population_size=4, seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    for _ in range(6):
        trial = study.ask()
        x = trial.suggest_int("x", 0, 9)
        study.tell(trial, [x, 9 - x])
    key = optuna_private.generation_key(sampler)
    generations = [t.system_attrs.get(key) for t in study.get_trials()]
    assert generations == [0, 0, 0, 0, 1, 1], f"NSGAIISampler._get_generation_key() -> {key!r}: {generations}"


def test_fixed_params_key_holds_an_enqueued_trials_parameters():
    study = optuna.create_study()
    study.enqueue_trial({"x": 3})
    waiting = study.get_trials(states=[TrialState.WAITING])
    assert waiting and waiting[0].system_attrs.get(optuna_private.FIXED_PARAMS_KEY) == {"x": 3}, \
        "Study.enqueue_trial's 'fixed_params' system attribute"
