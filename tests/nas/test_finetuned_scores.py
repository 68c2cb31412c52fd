"""Fine-tuned scores on a tiny trained MLP supernet: each arch starts from the run's weights (a fine-tune that
cannot move them scores what the inherited score does), archs do not leak into each other (order and company
do not change a score), the cache resumes, and bad settings are one clear error."""
import json

import numpy as np
import pytest

from nas.errors import ConfigError
from nas.finetuned_scores import cache_path, finetuned_scores
from nas.inherited_scores import score_archs
from nas.run_dir import RunDir
from nas.train.config import TrainConfig
from nas.train.loop import restore_trained, train

TINY = dict(space="mlp", space_options={"max_layers": 2, "max_width": 64, "width_steps": 4}, data="synthetic",
            limit_train=256, batch_size=16, steps=12, sampling="sandwich", distillation="none", validation_size=64,
            checkpoint_every=6, learning_rate=0.05)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("finetune") / "run"
    train(TrainConfig(**TINY), path, progress=False)
    return path


def archs(run):
    session, _ = restore_trained(RunDir.open(run))
    return session.space, np.stack([session.space.largest().to_vector(), session.space.smallest().to_vector()])


def test_a_fine_tune_that_cannot_move_the_weights_scores_the_inherited_weights(run):
    _, vectors = archs(run)
    frozen = finetuned_scores(run, vectors, steps=2, learning_rate=1e-12, split="validation")
    inherited = score_archs(run, vectors, split="validation")
    np.testing.assert_allclose(frozen["scores"], inherited, atol=1e-6)
    tuned = finetuned_scores(run, vectors, steps=20, split="validation")
    assert tuned["learning_rate"] == pytest.approx(TINY["learning_rate"] / 3)
    assert not np.allclose(tuned["scores"], inherited)  # 20 steps alone change what each arch scores


def test_each_arch_is_fine_tuned_alone_from_the_run_weights_and_cached(run, tmp_path):
    import shutil

    _, vectors = archs(run)
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    both = finetuned_scores(copy, vectors, steps=5, split="test")["scores"]
    cache = cache_path(copy, 5, TINY["learning_rate"] / 3, "test", "accuracy")
    cache.unlink()
    reversed_alone = [finetuned_scores(copy, vectors[i][None], steps=5, split="test")["scores"][0] for i in (1, 0)]
    assert list(both) == reversed_alone[::-1]  # no state carried from one arch to the next
    repeated = finetuned_scores(copy, vectors[[0, 0, 1]], steps=5, split="test")
    assert list(repeated["scores"]) == [both[0], both[0], both[1]]
    assert len(json.loads(cache.read_text())) == 2
    cache.write_text(json.dumps({key: {"score": 7.0, "seconds": 1.5} for key in json.loads(cache.read_text())}))
    shutil.rmtree(copy / "checkpoints")  # read back without loading the weights: nothing trained
    again = finetuned_scores(copy, vectors, steps=5, split="test")
    assert list(again["scores"]) == [7.0, 7.0] and again["seconds"] == 3.0


@pytest.mark.parametrize("settings, error, message", [
    (dict(steps=0), ConfigError, "steps must be an integer >= 1, got 0"),
    (dict(steps=2.5), ConfigError, "steps must be an integer >= 1"),
    (dict(steps=3, learning_rate=-1.0), ConfigError, "learning_rate must be a number > 0"),
    (dict(steps=3, metric="loss"), ValueError, "metric must be accuracy or bits_per_char"),
    (dict(steps=3, limit=-5), ConfigError, r"limit must be an integer >= 1 \(the first N examples of the split\), got -5"),
    (dict(steps=3, limit=True), ConfigError, "limit must be an integer >= 1"),
])
def test_bad_settings_are_one_clear_error(run, settings, error, message):
    _, vectors = archs(run)
    with pytest.raises(error, match=message):
        finetuned_scores(run, vectors, **settings)
