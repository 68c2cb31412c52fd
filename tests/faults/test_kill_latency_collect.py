"""`nas latency collect` SIGKILLed at a random point, then run again: every line measured before the kill
is kept as it was, and the collection ends with each sampled arch once and the reference at both ends."""
import json
import random

import pytest

from .conftest import SEEDS, count_lines, finish, kill_when, nas

N = 5  # of the 6 archs of this space
COLLECT = ("latency", "collect", "--space", "mlp", "--option", "max_layers=2", "--option", "width_steps=2",
           "--option", "max_width=64", "--input-shape", "2,2,3", "--n", str(N), "--group", "2", "--repeats", "3",
           "--quiet")


def whole_lines(path):
    """The lines a reader can trust: a last line cut by the kill does not count as measured."""
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_killed_collection_keeps_every_measured_arch(tmp_path, seed):
    run = tmp_path / "run"
    draw = random.Random(seed)
    # 8 layer configs are timed first, then the reference, the samples in groups of 2, the reference again.
    stage, delay = draw.choice([("layers.jsonl", 0), ("layers.jsonl", 2), ("layers.jsonl", 5), ("archs.jsonl", 0),
                                ("archs.jsonl", 1), ("archs.jsonl", 3), ("archs.jsonl", 5)]), draw.uniform(0.0, 0.5)
    killed = kill_when(nas(*COLLECT, "--run", str(run)), lambda: count_lines(run / stage[0]) >= stage[1], delay)
    archs, layers = whole_lines(run / "archs.jsonl"), whole_lines(run / "layers.jsonl")
    print(f"seed {seed}: kill {delay:.3f}s after {stage[1]} lines of {stage[0]}: killed={killed}, measured then: "
          f"{len(layers)} layers, {len(archs)} archs")
    assert killed
    finish(nas(*COLLECT, "--run", str(run)))
    after_archs, after_layers = whole_lines(run / "archs.jsonl"), whole_lines(run / "layers.jsonl")
    assert after_archs[:len(archs)] == archs and after_layers[:len(layers)] == layers
    roles = [json.loads(line)["role"] for line in after_archs]
    samples = [json.loads(line)["arch"] for line in after_archs if json.loads(line)["role"] == "sample"]
    assert len(samples) == len(set(samples)) == N
    assert roles.count("reference_start") == 1 and roles[0] == "reference_start"
    assert roles.count("reference_end") == 1 and roles[-1] == "reference_end"
    keys = [json.loads(line)["key"] for line in after_layers]
    assert len(keys) == len(set(keys))
