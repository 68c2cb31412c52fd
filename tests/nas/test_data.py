"""Tests for nas.data: IDX parsing, Fashion-MNIST loading, batching, checks.

All tests but the last use tiny IDX files written here, so they run without
the Debian package; the last reads the real files and skips when absent.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from nas.data import (
    DEFAULT_ROOT,
    BatchStream,
    DataError,
    Split,
    check_batch,
    load_fashion_mnist,
    read_idx,
    renamed_input_shape,
    stored_input_shape,
    synthetic_dataset,
    with_input_shape,
)

# Independent of nas.data's table on purpose: the test states the IDX format.
IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}
FILE_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
NUM_TRAIN_FILE, NUM_TEST_FILE = 60, 20


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, IDX_CODES[array.dtype.type], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def fake_train_images(count: int) -> np.ndarray:
    """Random images whose pixel [0, 0] is the example's index, so examples can be told apart."""
    images = np.random.default_rng(1).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(count)
    return images


@pytest.fixture
def fashion_dir(tmp_path: Path) -> Path:
    """A Fashion-MNIST-shaped directory with 60 train and 20 test examples; label = index % 10."""
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", fake_train_images(NUM_TRAIN_FILE))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", (np.arange(NUM_TRAIN_FILE) % 10).astype(np.uint8))
    test_images = np.random.default_rng(2).integers(0, 256, size=(NUM_TEST_FILE, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", test_images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", (np.arange(NUM_TEST_FILE) % 10).astype(np.uint8))
    return tmp_path


def example_ids(split: Split, mean: float, std: float) -> np.ndarray:
    """Undo normalisation on pixel [0, 0] to recover each example's file index."""
    return np.rint((split.inputs[:, 0, 0, 0] * std + mean) * 255).astype(int)


def indexed_split(size: int) -> Split:
    """A split whose labels are 0..size-1, so a batch's labels name its examples."""
    return Split(np.zeros((size, 2, 2, 1), np.float32), np.arange(size, dtype=np.int32))


# ---------------------------------------------------------------------------
# read_idx


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize("dtype", list(IDX_CODES), ids=lambda t: t.__name__)
def test_read_idx_round_trips_every_dtype(tmp_path, compress, dtype):
    # Negative values (and >127 for uint8) catch sign and byte-order mistakes.
    array = (np.arange(24).reshape(2, 3, 4) + (200 if dtype is np.uint8 else -5)).astype(dtype)
    got = read_idx(write_idx(tmp_path / "a.idx", array, compress))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def test_read_idx_reports_truncated_payload(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(idx_bytes(np.zeros((3, 4), np.uint8))[:-1])
    with pytest.raises(DataError, match=r"short\.idx.*truncated.*payload"):
        read_idx(path)


def test_a_payload_that_fits_another_dtype_blames_the_header(tmp_path):
    path = tmp_path / "relabelled.idx"
    data = bytearray(idx_bytes(np.zeros((3, 4), np.uint8)))
    data[2] = 0x0C  # the header now says int32; the payload is still one byte per value
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"truncated IDX payload \(12 bytes, expected 48 for int32 of shape \(3, 4\); "
                                        r"it would hold uint8 \(code 0x08\) data of that shape: is the header's"):
        read_idx(path)


def test_read_idx_reports_truncated_header(tmp_path):
    path = tmp_path / "header.idx"
    path.write_bytes(idx_bytes(np.zeros((3, 4), np.uint8))[:9])
    with pytest.raises(DataError, match=r"header\.idx.*truncated.*header"):
        read_idx(path)


def test_read_idx_reports_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((50, 50), np.uint8)))[:20])
    with pytest.raises(DataError, match=r"cut\.gz.*gzip"):
        read_idx(path)


def test_read_idx_reports_trailing_bytes(tmp_path):
    path = tmp_path / "long.idx"
    path.write_bytes(idx_bytes(np.zeros((3, 4), np.uint8)) + b"\0\0")
    with pytest.raises(DataError, match=r"long\.idx.*2 trailing bytes"):
        read_idx(path)


def test_read_idx_reports_bad_magic(tmp_path):
    path = tmp_path / "magic.idx"
    path.write_bytes(b"\x12\x34" + idx_bytes(np.zeros((3,), np.uint8))[2:])
    with pytest.raises(DataError, match=r"magic\.idx.*bad IDX magic"):
        read_idx(path)


def test_read_idx_reports_unsupported_dtype(tmp_path):
    path = tmp_path / "dtype.idx"
    data = bytearray(idx_bytes(np.zeros((3,), np.uint8)))
    data[2] = 0x0A
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"dtype\.idx.*unsupported IDX dtype code 0x0A"):
        read_idx(path)


def test_read_idx_reports_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nothing\.idx.*cannot read"):
        read_idx(tmp_path / "nothing.idx")


# ---------------------------------------------------------------------------
# load_fashion_mnist on written files


def test_missing_directory_says_how_to_install(tmp_path):
    root = tmp_path / "no-such-dir"
    with pytest.raises(DataError) as raised:
        load_fashion_mnist(root)
    message = str(raised.value)
    assert str(root) in message
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "WEFT_FASHION_MNIST" in message and "\n" not in message


def test_missing_file_is_named(fashion_dir):
    (fashion_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz.*apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(fashion_dir, validation_size=10)


def test_root_comes_from_environment(fashion_dir, monkeypatch):
    monkeypatch.setenv("WEFT_FASHION_MNIST", str(fashion_dir))
    assert len(load_fashion_mnist(validation_size=10).test) == NUM_TEST_FILE


def test_unpacked_files_are_accepted(fashion_dir):
    for stem in FILE_STEMS:
        packed = fashion_dir / f"{stem}.gz"
        (fashion_dir / stem).write_bytes(gzip.decompress(packed.read_bytes()))
        packed.unlink()
    assert len(load_fashion_mnist(fashion_dir, validation_size=10).train) == NUM_TRAIN_FILE - 10


def test_split_sizes_shapes_and_types(fashion_dir):
    data = load_fashion_mnist(fashion_dir, validation_size=15)
    assert (len(data.train), len(data.validation), len(data.test)) == (45, 15, NUM_TEST_FILE)
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10
    for split in (data.train, data.validation, data.test):
        assert split.inputs.shape[1:] == (28, 28, 1)
        assert split.inputs.dtype == np.float32 and split.labels.dtype == np.int32


def test_validation_and_train_are_disjoint_and_cover_the_file(fashion_dir):
    data = load_fashion_mnist(fashion_dir, validation_size=15)
    train_ids = example_ids(data.train, data.mean, data.std)
    validation_ids = example_ids(data.validation, data.mean, data.std)
    assert not set(train_ids) & set(validation_ids)
    assert sorted([*train_ids, *validation_ids]) == list(range(NUM_TRAIN_FILE))
    # Labels travel with their images.
    np.testing.assert_array_equal(data.train.labels, train_ids % 10)
    np.testing.assert_array_equal(data.validation.labels, validation_ids % 10)


def test_split_depends_on_seed(fashion_dir):
    def validation_ids(seed):
        data = load_fashion_mnist(fashion_dir, validation_size=15, seed=seed)
        return example_ids(data.validation, data.mean, data.std)

    np.testing.assert_array_equal(validation_ids(3), validation_ids(3))
    assert set(validation_ids(3)) != set(validation_ids(4))


def test_normalisation_uses_train_statistics_only(fashion_dir):
    data = load_fashion_mnist(fashion_dir, validation_size=15)
    assert abs(float(data.train.inputs.mean())) < 1e-5
    assert abs(float(data.train.inputs.std()) - 1.0) < 1e-4
    raw = fake_train_images(NUM_TRAIN_FILE)[example_ids(data.train, data.mean, data.std)] / 255.0
    assert data.mean == pytest.approx(raw.mean()) and data.std == pytest.approx(raw.std())
    # Held-out parts are normalised with the train numbers, so they are not exactly standardised.
    assert abs(float(data.validation.inputs.mean())) > 1e-5


def test_limits_take_prefixes_without_changing_values(fashion_dir):
    full = load_fashion_mnist(fashion_dir, validation_size=15)
    small = load_fashion_mnist(fashion_dir, validation_size=15, limit_train=7, limit_test=4)
    assert (len(small.train), len(small.validation), len(small.test)) == (7, 15, 4)
    np.testing.assert_array_equal(small.train.inputs, full.train.inputs[:7])
    np.testing.assert_array_equal(small.test.labels, full.test.labels[:4])
    assert (small.mean, small.std) == (full.mean, full.std)


def test_label_out_of_range_is_rejected(fashion_dir):
    write_idx(fashion_dir / "train-labels-idx1-ubyte.gz", np.full(NUM_TRAIN_FILE, 10, np.uint8))
    with pytest.raises(DataError, match=r"label 10 out of range.*\[0, 10\)"):
        load_fashion_mnist(fashion_dir, validation_size=10)


def test_image_and_label_counts_must_agree(fashion_dir):
    write_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz", np.zeros(NUM_TEST_FILE - 1, np.uint8))
    with pytest.raises(DataError, match=r"20 images but .*t10k-labels.* 19 labels"):
        load_fashion_mnist(fashion_dir, validation_size=10)


@pytest.mark.parametrize("validation_size", [-1, NUM_TRAIN_FILE])
def test_validation_size_must_leave_training_data(fashion_dir, validation_size):
    with pytest.raises(DataError, match="validation_size"):
        load_fashion_mnist(fashion_dir, validation_size=validation_size)


# ---------------------------------------------------------------------------
# BatchStream


def take(stream: BatchStream, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [stream.next() for _ in range(count)]


# 23 examples in batches of 5: four batches an epoch, three examples dropped.
# Stopping after 2 is mid-epoch, after 4 is exactly at the epoch boundary,
# after 3 and 7 the next batches cross into a new epoch.
@pytest.mark.parametrize("stop_after", [0, 2, 3, 4, 7])
def test_restored_stream_matches_uninterrupted_stream(stop_after):
    split = synthetic_dataset(23, 1, image_shape=(4, 4, 1)).train
    reference = take(BatchStream(split, 5, seed=11), stop_after + 6)

    interrupted = BatchStream(split, 5, seed=11)
    take(interrupted, stop_after)
    saved = json.loads(json.dumps(interrupted.position()))
    resumed = BatchStream(split, 5, seed=11)
    resumed.restore(saved)

    for (want_images, want_labels), (got_images, got_labels) in zip(reference[stop_after:], take(resumed, 6)):
        np.testing.assert_array_equal(got_images, want_images)
        np.testing.assert_array_equal(got_labels, want_labels)


def test_position_reports_epoch_and_index():
    stream = BatchStream(indexed_split(23), 5, seed=2)
    assert stream.steps_per_epoch == 4
    take(stream, 6)
    assert stream.position() == {"seed": 2, "epoch": 1, "index": 2, "batch_size": 5, "size": 23, "drop_last": True}


def test_each_epoch_visits_every_example_once():
    stream = BatchStream(indexed_split(20), 4, seed=5)
    epochs = [np.concatenate([labels for _, labels in take(stream, stream.steps_per_epoch)]) for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(20))
    assert not np.array_equal(epochs[0], epochs[1])


def test_drop_last_keeps_batches_full():
    stream = BatchStream(indexed_split(23), 5)
    for images, labels in take(stream, 8):
        assert images.shape == (5, 2, 2, 1) and labels.shape == (5,)
    epoch = take(stream, 4)
    assert len(np.unique(np.concatenate([labels for _, labels in epoch]))) == 20


def test_without_drop_last_the_epoch_ends_with_a_short_batch():
    stream = BatchStream(indexed_split(23), 5, drop_last=False)
    assert stream.steps_per_epoch == 5
    sizes = [len(labels) for _, labels in take(stream, 5)]
    assert sizes == [5, 5, 5, 5, 3] and stream.position()["epoch"] == 1


def test_stream_is_an_endless_iterator():
    stream = BatchStream(indexed_split(6), 3)
    batches = [batch for _, batch in zip(range(5), stream)]
    assert len(batches) == 5 and stream.position() == {**stream.position(), "epoch": 2, "index": 1}


@pytest.mark.parametrize(
    "field, value",
    [("batch_size", 4), ("seed", 9), ("size", 24), ("drop_last", False)],
)
def test_restore_rejects_a_position_from_another_stream(field, value):
    stream = BatchStream(indexed_split(23), 5, seed=1)
    position = {**stream.position(), field: value}
    with pytest.raises(DataError) as raised:
        stream.restore(position)
    message = str(raised.value)
    assert f"{field}={value!r}" in message and f"{field}={stream.position()[field]!r}" in message


def test_restore_rejects_incomplete_or_out_of_range_positions():
    stream = BatchStream(indexed_split(23), 5)
    position = stream.position()
    with pytest.raises(DataError, match="'epoch'"):
        stream.restore({k: v for k, v in position.items() if k != "epoch"})
    with pytest.raises(DataError, match="index=4"):
        stream.restore({**position, "index": 4})


@pytest.mark.parametrize("batch_size", [0, -1, 24])
def test_stream_rejects_bad_batch_size(batch_size):
    with pytest.raises(DataError, match="batch_size"):
        BatchStream(indexed_split(23), batch_size)


# ---------------------------------------------------------------------------
# check_batch


GOOD_IMAGES = np.zeros((8, 28, 28, 1), np.float32)
GOOD_LABELS = np.zeros(8, np.int32)


def test_check_batch_accepts_a_good_batch():
    check_batch(GOOD_IMAGES, GOOD_LABELS, (28, 28, 1))


@pytest.mark.parametrize(
    "images, labels, pattern",
    [
        (np.zeros((8, 28, 28), np.float32), GOOD_LABELS, r"\(N, 28, 28, 1\); got \(8, 28, 28\)"),
        (np.zeros((8, 28, 28, 3), np.float32), GOOD_LABELS, r"\(N, 28, 28, 1\); got \(8, 28, 28, 3\)"),
        (GOOD_IMAGES.astype(np.float64), GOOD_LABELS, r"float32 .*\(N, 28, 28, 1\); got float64"),
        (GOOD_IMAGES, np.zeros((8, 1), np.int32), r"labels must have shape \(8,\).*got \(8, 1\)"),
        (GOOD_IMAGES, np.zeros(7, np.int32), r"labels must have shape \(8,\).*got \(7,\)"),
        (GOOD_IMAGES, GOOD_LABELS.astype(np.float32), r"labels must be int32.*got float32"),
        ([[0.0]], GOOD_LABELS, r"images must be an array"),
    ],
    ids=["3d", "channels", "images-dtype", "labels-2d", "count", "labels-dtype", "not-array"],
)
def test_check_batch_names_expected_and_got(images, labels, pattern):
    with pytest.raises(DataError, match=pattern):
        check_batch(images, labels, (28, 28, 1))


def test_split_rejects_mismatched_arrays():
    with pytest.raises(DataError, match="labels must have shape"):
        Split(GOOD_IMAGES, np.zeros(3, np.int32))


# ---------------------------------------------------------------------------
# synthetic_dataset


def test_synthetic_dataset_is_deterministic_and_shaped():
    first = synthetic_dataset(40, 10, image_shape=(6, 5, 2), num_classes=4, seed=3)
    second = synthetic_dataset(40, 10, image_shape=(6, 5, 2), num_classes=4, seed=3)
    assert first.input_shape == (6, 5, 2) and first.num_classes == 4
    assert (len(first.train), len(first.validation), len(first.test)) == (40, 10, 10)
    np.testing.assert_array_equal(first.train.inputs, second.train.inputs)
    np.testing.assert_array_equal(first.test.labels, second.test.labels)
    assert set(first.train.labels) == {0, 1, 2, 3}
    assert abs(float(first.train.inputs.mean())) < 1e-5


def test_former_names_images_and_image_shape_still_read():
    data = synthetic_dataset(8, 4, image_shape=(3, 3, 1), seed=0)
    assert data.image_shape == data.input_shape == (3, 3, 1)
    assert data.train.images is data.train.inputs
    with pytest.raises(AttributeError):
        data.train.images = data.train.inputs  # read-only aliases: the data lives under its new name
    with pytest.raises(AttributeError):
        data.image_shape = (1, 1, 1)


def test_stored_input_shape_reads_old_and_new_documents():
    assert stored_input_shape({"input_shape": [16]}) == (16,)
    assert stored_input_shape({"image_shape": [28, 28, 1]}) == (28, 28, 1)  # written before the rename
    assert stored_input_shape({"input_shape": [2, 2, 3], "image_shape": [9, 9, 9]}) == (2, 2, 3)
    with pytest.raises(KeyError, match="input_shape"):
        stored_input_shape({"inputs": "images"})
    old = {"space": "mlp", "image_shape": [28, 28, 1]}
    assert with_input_shape(old) == {**old, "input_shape": [28, 28, 1]} and "input_shape" not in old
    assert with_input_shape({"space": "mlp"}) == {"space": "mlp"}


def test_the_former_keyword_image_shape_is_accepted_once():
    from nas.definition import get_definition

    definition = get_definition("mlp")
    assert definition.resolve_options({}, image_shape=(2, 2, 3)) == definition.resolve_options({}, (2, 2, 3))
    assert renamed_input_shape(None, (4,), "f") == (4,) and renamed_input_shape((4,), None, "f") == (4,)
    with pytest.raises(TypeError, match="not both"):
        definition.resolve_options({}, (2, 2, 3), image_shape=(2, 2, 3))


def test_synthetic_dataset_is_learnable():
    data = synthetic_dataset(500, 200, seed=0)
    flat = data.train.inputs.reshape(len(data.train), -1)
    centroids = np.stack([flat[data.train.labels == c].mean(axis=0) for c in range(data.num_classes)])
    test_flat = data.test.inputs.reshape(len(data.test), -1)
    predicted = np.argmin(((test_flat[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (predicted == data.test.labels).mean() > 0.9


# ---------------------------------------------------------------------------
# The real Debian files


def test_real_fashion_mnist_files():
    missing = [stem for stem in FILE_STEMS if not (Path(DEFAULT_ROOT) / f"{stem}.gz").is_file()]
    if missing:
        pytest.skip(f"Fashion-MNIST not installed in {DEFAULT_ROOT} (apt-get install dataset-fashion-mnist)")
    data = load_fashion_mnist(DEFAULT_ROOT)
    assert data.train.inputs.shape == (55000, 28, 28, 1)
    assert data.validation.inputs.shape == (5000, 28, 28, 1)
    assert data.test.inputs.shape == (10000, 28, 28, 1)
    for split in (data.train, data.validation, data.test):
        assert split.labels.min() == 0 and split.labels.max() == 9
    assert abs(float(data.train.inputs.mean(dtype=np.float64))) < 1e-4
    assert 0.2 < data.mean < 0.4 and 0.3 < data.std < 0.4
