"""A run records which copy of the data it was trained on: resuming, restoring or evaluating an export on
other data is refused or said, never silent (the data are found through the environment)."""
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.data import load_fashion_mnist
from nas.data_identity import differing_splits, split_fingerprints
from nas.errors import RunDirError
from nas.export import export_subnet
from nas.run_dir import RunDir
from nas.train.config import TrainConfig
from nas.train.loop import restore_trained, train
from tests.nas.test_data import fake_train_images, write_idx

TINY = TrainConfig(space="mlp", space_options={"max_layers": 1, "max_width": 16, "width_steps": 2},
                   data="fashion-mnist", validation_size=10, batch_size=8, steps=2, warmup_steps=1,
                   checkpoint_every=2, calibration_images=16)


@pytest.fixture
def fashion(tmp_path):
    """A Fashion-MNIST-shaped copy of 60 train and 20 test examples, labels index % 10."""
    directory = tmp_path / "fashion"
    directory.mkdir()
    for stem, count in (("train", 60), ("t10k", 20)):
        write_idx(directory / f"{stem}-images-idx3-ubyte.gz", fake_train_images(count))
        write_idx(directory / f"{stem}-labels-idx1-ubyte.gz", (np.arange(count) % 10).astype(np.uint8))
    return directory


def relabel(directory, stem, count):
    """The same files with the first example's label changed: another copy of the data."""
    labels = (np.arange(count) % 10).astype(np.uint8)
    labels[0] = (labels[0] + 1) % 10
    write_idx(directory / f"{stem}.gz", labels)


def test_a_changed_label_changes_only_its_splits_hash(fashion):
    before = split_fingerprints(load_fashion_mnist(fashion, validation_size=10))
    assert split_fingerprints(load_fashion_mnist(fashion, validation_size=10)) == before
    relabel(fashion, "t10k-labels-idx1-ubyte", 20)
    after = split_fingerprints(load_fashion_mnist(fashion, validation_size=10))
    assert differing_splits(before, after) == ["test"]
    assert differing_splits(None, after) == [] and differing_splits({"test": before["test"]}, before) == []
    assert differing_splits(before, {"test": after["test"]}) == ["test"]  # only what both hashed is compared
    assert differing_splits(before, {"test": before["test"]}) == []


def test_resume_restore_and_eval_on_other_data(fashion, tmp_path, monkeypatch):
    data, original = tmp_path / "data", tmp_path / "original"
    for copy in (data, original):
        copy.mkdir()
        for path in fashion.glob("*.gz"):
            shutil.copy(path, copy)
    monkeypatch.setenv("WEFT_FASHION_MNIST", str(data))
    run = tmp_path / "run"
    train(TINY, run, progress=False)
    assert set(json.loads((run / "config.json").read_text())["data_fingerprints"]) == {"train", "validation", "test"}
    export = export_subnet(run, "largest", tmp_path / "export", progress=False)

    relabel(data, "train-labels-idx1-ubyte", 60)  # another copy of the training examples
    record, metrics = (run / "config.json").read_bytes(), (run / "metrics.jsonl").read_bytes()
    with pytest.raises(RunDirError, match="trained on other data than data 'fashion-mnist' loads now: its train "
                                          "split differs \\(train [0-9a-f]{16} there.*point WEFT_FASHION_MNIST back"):
        train(TrainConfig(**{**TINY.__dict__, "steps": 4}), run, progress=False)
    assert (run / "config.json").read_bytes() == record and (run / "metrics.jsonl").read_bytes() == metrics
    with pytest.raises(RunDirError, match="its train split differs"):
        restore_trained(RunDir.open(run))  # what search, export and audit start from

    shutil.rmtree(data)
    shutil.copytree(original, data)
    relabel(data, "t10k-labels-idx1-ubyte", 20)
    result = CliRunner().invoke(main, ["eval-export", str(export)])
    assert result.exit_code == 0, result.output
    assert "test split differs" in result.output and json.loads(result.output.splitlines()[-1])["same_test_data"] is False

    shutil.rmtree(data)
    shutil.copytree(original, data)  # the run's own data again: all goes on
    result = CliRunner().invoke(main, ["eval-export", str(export)])
    assert json.loads(result.output.splitlines()[-1])["same_test_data"] is True and "warning" not in result.output
    assert train(TrainConfig(**{**TINY.__dict__, "steps": 4}), run, progress=False) is not None


def test_a_run_from_before_the_hashes_still_resumes_only_on_its_input_shape(tmp_path):
    from nas.train.loop import check_resumed_data

    run = RunDir(tmp_path)
    run.config_file.write_text(json.dumps({"space": "mlp", "input_shape": [28, 28, 1]}))  # no hashes recorded
    hashes = {"train": "0" * 16, "validation": "1" * 16, "test": "2" * 16}
    check_resumed_data(run, {"input_shape": [28, 28, 1], "data_fingerprints": hashes}, "fashion-mnist")
    with pytest.raises(RunDirError, match=r"trained on inputs of shape \(28, 28, 1\), and data 'fashion-mnist' gives "
                                          r"\(32, 32, 1\) now"):
        check_resumed_data(run, {"input_shape": [32, 32, 1], "data_fingerprints": hashes}, "fashion-mnist")


def test_the_graph_a_gnn_holds_is_part_of_its_datas_identity(tmp_path):
    """The k-NN graph's splits are node indices and labels; its node features come from the images, which
    the model holds. Other pixels under the same labels must still read as other data."""
    from nas.graph_data import NODES, load_fashion_mnist_knn

    labels = (np.arange(NODES) % 10).astype(np.uint8)
    hashes = []
    for seed in (1, 2):
        root = tmp_path / f"copy{seed}"
        root.mkdir()
        images = np.random.default_rng(seed).integers(0, 256, size=(NODES, 28, 28), dtype=np.uint8)
        for stem in ("train", "t10k"):
            write_idx(root / f"{stem}-images-idx3-ubyte.gz", images)
            write_idx(root / f"{stem}-labels-idx1-ubyte.gz", labels)
        hashes.append(split_fingerprints(load_fashion_mnist_knn(root=root)))
    assert differing_splits(*hashes) == ["source"]
