"""`nas train --supernet mos-layer|mos-neuron|few-shot|mixture`: mixtures train, resume and export like a supernet."""
import json

import jax
import numpy as np
import pytest
from click.testing import CliRunner
from flax import nnx

from nas.cli import main
from nas.config import to_dict
from nas.errors import RunDirError
from nas.export import export_subnet, load_export
from nas.run_dir import RunDir
from nas.train.config import RESUME_INVARIANT, TrainConfig
from nas.train.loop import restore_trained, train
from search_spaces.mlp import MLP
from supernets.active_subnet import get_active_subnet
from supernets.learned_assignment import RoutedSupernets
from supernets.mixture_of_supernets import MixtureOfSupernets

TINY = {"space": "mlp", "space_options": {"max_width": 8, "width_steps": 2, "max_layers": 2}, "batch_size": 16,
        "data": "synthetic", "limit_train": 128, "checkpoint_every": 3, "log_every": 3, "warmup_steps": 1,
        "calibration_images": 32, "eval_batch_size": 64}


def moved_leaves(session, state) -> set[str]:
    """Paths of the parameter leaves training changed."""
    initial = dict(jax.tree_util.tree_flatten_with_path(session.params)[0])
    return {jax.tree_util.keystr(path) for path, leaf in jax.tree_util.tree_flatten_with_path(state.params)[0]
            if np.any(np.asarray(leaf) != np.asarray(initial[path]))}


def test_few_shot_assignment_survives_checkpoint_and_resume(tmp_path):
    config = TrainConfig(**TINY, steps=6, supernet="few-shot", split_decision="depth")
    assert train(config, tmp_path / "run", progress=False, stop_at=3) is None  # interrupted after step 3
    assert int(restore_trained(RunDir.open(tmp_path / "run"))[1].step) == 3
    resumed = CliRunner().invoke(main, [  # the same run as a command, by the kind's former name: resumes
        "train", "--space", "mlp", "--option", "max_width=8", "--option", "width_steps=2", "--option",
        "max_layers=2", "--data", "synthetic", "--limit-train", "128", "--batch-size", "16", "--steps", "6",
        "--warmup-steps", "1", "--supernet", "few-shot", "--split-decision", "depth", "--quiet",
        "--run", str(tmp_path / "run")])
    assert resumed.exit_code == 0, resumed.output
    session, state = restore_trained(RunDir.open(tmp_path / "run"))
    assert int(state.step) == 6
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert (config["supernet"], config["split_decision"], config["experts"]) == ("few-shot", "depth", None)
    mixture = session.supernet
    assert mixture.assignment == (0, 1)  # depth 1 -> supernet 0, depth 2 -> supernet 1
    owners = {arch.to_string(): mixture.supernet_of(arch) for arch in session.space.enumerate()}
    assert all(owners[a] == session.space.from_string(a)["depth"] - 1 for a in owners)
    moved = moved_leaves(session, state)  # the sandwich's smallest trains supernet 0, its largest supernet 1
    assert any("'supernets'][0]" in p for p in moved) and any("'supernets'][1]" in p for p in moved)


def test_learned_assignment_trains_resumes_exports_and_searches_like_a_supernet(tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(**TINY, steps=6, supernet="routed", experts=2, balance_weight=0.5)
    train(config, tmp_path / "straight", progress=False)
    assert train(config, run, progress=False, stop_at=3) is None  # interrupted after step 3
    resumed = CliRunner().invoke(main, [  # the same run as a command, by the kind's former name: resumes
        "train", "--space", "mlp", "--option", "max_width=8", "--option", "width_steps=2", "--option",
        "max_layers=2", "--data", "synthetic", "--limit-train", "128", "--batch-size", "16", "--steps", "6",
        "--warmup-steps", "1", "--supernet", "mixture", "--experts", "2", "--balance-weight", "0.5", "--quiet",
        "--run", str(run)])
    assert resumed.exit_code == 0, resumed.output
    session, state = restore_trained(RunDir.open(run))
    assert int(state.step) == 6 and isinstance(session.supernet, RoutedSupernets)
    record = json.loads((run / "config.json").read_text())["config"]
    assert (record["supernet"], record["experts"], record["balance_weight"]) == ("routed", 2, 0.5)
    moved = moved_leaves(session, state)  # the router learns, and so does every supernet that owns a trained arch
    assert any("'router']" in p for p in moved) and any("'supernets']" in p for p in moved)
    mixture = nnx.merge(session.graphdef, state.params, state.stats)
    straight_session, straight = restore_trained(RunDir.open(tmp_path / "straight"))
    vectors = session.space.sample_vectors(jax.random.key(5), 256)  # the owners after resume: as if never stopped
    np.testing.assert_array_equal(
        mixture.assignment(vectors),
        nnx.merge(straight_session.graphdef, straight.params, straight.stats).assignment(vectors))
    for arch_spec, arch in (("smallest", session.space.smallest()), ("largest", session.space.largest())):
        out = export_subnet(run, arch_spec, progress=False)  # fails loudly if export and mixture differ
        report = json.loads((out / "report.json").read_text())
        assert report["max_abs_diff_vs_supernet"] <= 1e-5
        owner = get_active_subnet(mixture.supernets[mixture.supernet_of(arch)], arch)
        assert report["params"] == sum(int(np.size(leaf)) for leaf in jax.tree.leaves(nnx.state(owner, nnx.Param)))
        assert type(load_export(out).model) is MLP
    searched = CliRunner().invoke(main, ["search", "--run", str(run), "--searcher", "random", "--trials", "4",
                                         "--quiet"])
    assert searched.exit_code == 0, searched.output


def test_routed_export_reloads_without_router_and_matches(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**TINY, supernet="mos-layer", experts=3, steps=3), run, progress=False)
    session, state = restore_trained(RunDir.open(run))
    assert isinstance(session.supernet, MixtureOfSupernets)
    moved = moved_leaves(session, state)  # the router trains with the experts
    assert any("'router']" in p for p in moved) and any("'experts']" in p for p in moved)
    out = export_subnet(run, "smallest", progress=False)  # fails loudly if export and routed supernet differ
    report = json.loads((out / "report.json").read_text())
    assert report["max_abs_diff_vs_supernet"] <= 1e-5
    exported = load_export(out)
    assert type(exported.model) is MLP
    plain = get_active_subnet(session.supernet.supernet, session.space.smallest())
    assert report["params"] == sum(int(np.size(leaf)) for leaf in jax.tree.leaves(plain))


def test_runs_older_than_the_supernet_setting_stay_resumable(tmp_path):
    def as_json(config):
        return json.loads(json.dumps(to_dict(config)))
    config, defaults = as_json(TrainConfig(**TINY)), as_json(TrainConfig())
    record = {"space": "mlp", "space_fingerprint": "f", "config": config}
    old = {**record, "config": {k: v for k, v in config.items()
                                if k not in ("supernet", "experts", "split_decision", "router_hidden")}}
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert RunDir.check_resumable(tmp_path, record, RESUME_INVARIANT, defaults=defaults)[1]  # resumed
    mos = {**record, "config": {**config, "supernet": "mos-layer"}}
    with pytest.raises(RunDirError, match="started with supernet='single', this command has supernet='mos-layer'"):
        RunDir.check_resumable(tmp_path, mos, RESUME_INVARIANT, defaults=defaults)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [{"supernet": "mos-neuron", "experts": 2},
                                  {"supernet": "few-shot", "split_decision": "depth"},
                                  {"supernet": "routed", "experts": 2}])
def test_mixture_run_resumes_bit_identical_to_the_uninterrupted_run(tmp_path, kind):
    config = TrainConfig(**TINY, steps=6, **kind)
    train(config, tmp_path / "straight", progress=False)
    assert train(config, tmp_path / "resumed", progress=False, stop_at=3) is None
    train(config, tmp_path / "resumed", progress=False)
    straight = restore_trained(RunDir.open(tmp_path / "straight"))[1]
    resumed = restore_trained(RunDir.open(tmp_path / "resumed"))[1]
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mos-neuron", "few-shot", "routed"])
def test_one_compile_for_every_arch_of_a_mixture(kind):
    import optax

    from nas.compile_counter import count_compiles
    from nas.data import synthetic_dataset
    from nas.lowering import split
    from nas.train.loop import build_session
    from nas.train.sampling import SandwichSampling
    from nas.train.step import init_train_state, make_train_step

    session = build_session(TrainConfig(**TINY, supernet=kind, split_decision="depth" if kind == "few-shot" else None))
    space, (graphdef, params, stats) = session.space, split(session.supernet)
    sampling, optimizer = SandwichSampling(num_random=2), optax.sgd(0.05, momentum=0.9)
    step = make_train_step(graphdef, space, optimizer, static_first=space.largest(), static_last=space.smallest(),
                           input_shape=(28, 28, 1))
    state = init_train_state(params, stats, optimizer)
    data = synthetic_dataset(num_train=32, num_test=8)
    with count_compiles() as compiles:
        for index in range(12):
            state, metrics = step(state, data.train.inputs[:16], data.train.labels[:16],
                                  sampling.archs(space, seed=0, step=index))
        jax.block_until_ready(metrics)
    assert compiles.count == 1 and np.isfinite(float(metrics["loss"]))
