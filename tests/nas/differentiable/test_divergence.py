"""A differentiable search step that goes NaN or inf stops the search in one line naming the step and which
half (weight step, alpha step) diverged; the last checkpoint stays as it was and nothing diverged is saved."""
import json

import jax
import numpy as np
import pytest
from click.testing import CliRunner

from nas.checkpoint import Checkpointer
from nas.cli import main
from nas.data import BatchStream, Split
from nas.definition import get_definition
from nas.differentiable import arch_params
from nas.differentiable.search_run import DifferentiableConfig
from nas.run_dir import RunDir
from nas.train import loop

MLP = {"max_layers": 2, "max_width": 16, "width_steps": 2}
ARGS = ["search-differentiable", "--space", "mlp", "--option", "max_layers=2", "--option", "max_width=16",
        "--option", "width_steps=2", "--data", "synthetic", "--limit-train", "64", "--batch-size", "8",
        "--steps", "8", "--checkpoint-every", "2", "--log-every", "1", "--method", "tangle", "--quiet"]
BAD_STEP = 5  # the first step whose batch holds the NaN example


def first_seen_at(size: int, batch_size: int, seed: int, step: int) -> int:
    """An example of a split of `size` that a seeded stream first hands out at `step` (1-based)."""
    stream = BatchStream(Split(np.arange(size, dtype=np.float32).reshape(size, 1, 1, 1), np.zeros(size, np.int32)),
                         batch_size, seed=seed)
    seen = set()
    for _ in range(step - 1):
        seen |= set(stream.next()[0].ravel().astype(int).tolist())
    fresh = [int(i) for i in stream.next()[0].ravel() if int(i) not in seen]
    return fresh[0]


@pytest.fixture(params=["validation", "train"])
def nan_split(request, monkeypatch):
    """One example of a split turns NaN after loading, first batched at step BAD_STEP."""
    split_name = request.param

    def load_with_nan(config, context=None):
        dataset = load_dataset(config, context)
        split = getattr(dataset, split_name)
        seed = config.seed + (1 if split_name == "validation" else 0)  # the search's streams (search_run.py)
        split.inputs[first_seen_at(len(split), config.batch_size, seed, BAD_STEP)] = np.nan
        return dataset
    load_dataset = loop.load_dataset
    monkeypatch.setattr(loop, "load_dataset", load_with_nan)
    return split_name


def test_a_nan_step_stops_the_search_in_one_line_and_keeps_the_last_checkpoint(tmp_path, nan_split):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, [*ARGS, "--run", str(run)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    half = "alpha step (validation batch)" if nan_split == "validation" else "weight step (training batch)"
    for fragment in (f"diverged at step {BAD_STEP}: the loss or gradients of its", half, "NaN or inf",
                     "last checkpoint (step 4) is kept", "--lr (now 0.025)", "--alpha-lr (now 0.0003)",
                     "--grad-clip (now 5)"):
        assert fragment in errors[0], errors[0]
    checkpointer = Checkpointer(RunDir(run).checkpoints)
    assert checkpointer.manager.all_steps() == [2, 4]  # nothing diverged was saved
    checkpointer.close()
    assert not (run / "result.json").exists()
    definition = get_definition("mlp")
    space = definition.make_space(**definition.resolve_options(MLP, (28, 28, 1)))
    alpha = arch_params.load(run / "alpha.json", space)  # the alpha of step 4
    assert all(np.isfinite(values).all() for values in alpha.values())
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(1, BAD_STEP))  # no line of the diverged step


def test_the_step_flags_each_half_and_the_update():
    from nas.differentiable.search_run import setup

    built = setup(DifferentiableConfig(space="mlp", space_options=MLP, steps=2, batch_size=8, data="synthetic",
                                       limit_train=64))
    data = built.session.dataset
    images, labels = data.train.inputs[:8].copy(), data.train.labels[:8]
    key, temperature = jax.random.key(0), np.float32(1.0)
    _, metrics = built.step(built.state, images, labels, images, labels, key, temperature)
    assert np.asarray(metrics["finite"]).tolist() == [True, True] and bool(metrics["update_finite"])
    bad = images.copy()
    bad[0, 0, 0, 0] = np.inf
    _, metrics = built.step(built.state, images, labels, bad, labels, key, temperature)
    assert np.asarray(metrics["finite"]).tolist() == [True, False] and not bool(metrics["update_finite"])
