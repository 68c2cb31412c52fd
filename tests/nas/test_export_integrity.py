"""An export's artifacts are checked against the sha256 its arch.json records: one copied from another export
is refused, not run under the wrong arch."""
import json
import shutil

import pytest

from nas.errors import CheckpointError
from nas.export import export_subnets, load_export, load_stablehlo
from nas.export_integrity import ARTIFACTS_KEY, digest
from nas.train.config import TrainConfig
from nas.train.loop import train


@pytest.fixture(scope="module")
def two_exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    train(TrainConfig(space="mlp", space_options={"max_layers": 1, "max_width": 16, "width_steps": 2},
                      data="synthetic", limit_train=128, batch_size=16, steps=2, warmup_steps=1,
                      calibration_images=16), root / "run", progress=False)
    return root, export_subnets(root / "run", ["largest", "smallest"], progress=False)


def test_the_recorded_digests_are_the_files_and_survive_loading(two_exports):
    _, (largest, _) = two_exports
    recorded = json.loads((largest / "arch.json").read_text())[ARTIFACTS_KEY]
    load_export(largest), load_stablehlo(largest)
    assert recorded == {name: digest(largest / name) for name in ("params", "model.stablehlo")}


@pytest.mark.parametrize("artifact, loader", [("model.stablehlo", load_stablehlo), ("params", load_export)])
def test_an_artifact_copied_from_another_export_is_refused(two_exports, artifact, loader, tmp_path):
    _, (largest, smallest) = two_exports
    mixed = tmp_path / "mixed"
    shutil.copytree(largest, mixed)
    shutil.rmtree(mixed / artifact) if (mixed / artifact).is_dir() else (mixed / artifact).unlink()
    copy = shutil.copytree if (smallest / artifact).is_dir() else shutil.copy
    copy(smallest / artifact, mixed / artifact)
    with pytest.raises(CheckpointError, match=f"mixed/{artifact} is not what this export wrote.*replaced or damaged"):
        loader(mixed)


def test_an_export_from_before_the_digests_still_loads(two_exports, tmp_path):
    _, (largest, _) = two_exports
    older = tmp_path / "older"
    shutil.copytree(largest, older)
    info = json.loads((older / "arch.json").read_text())
    del info[ARTIFACTS_KEY]
    (older / "arch.json").write_text(json.dumps(info))
    load_export(older), load_stablehlo(older)
