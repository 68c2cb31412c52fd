"""Datasets for search and training: Fashion-MNIST from IDX files, and a
synthetic stand-in for tests and benchmarks (byte-level text: `nas.text_data`).

Everything here is plain numpy. Images are float32 NHWC, normalised with a
scalar mean and std measured on the training part only, so that validation
and test numbers never leak into preprocessing. Labels are int32.

`BatchStream` is the training-side iterator. Its shuffle for an epoch depends
only on ``(seed, epoch)``, so a stream can be saved as a small JSON-able
position and resumed later to yield exactly the batches an uninterrupted run
would have seen.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas.errors import WeftError

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
ROOT_ENV_VAR = "WEFT_FASHION_MNIST"

FASHION_MNIST_CLASSES = 10
_FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_INSTALL_HINT = (
    "install them with `sudo apt-get install dataset-fashion-mnist` "
    f"or set {ROOT_ENV_VAR} to a directory holding the four IDX files"
)

_GZIP_MAGIC = b"\x1f\x8b"
# IDX type codes; multi-byte types are stored big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DataError(WeftError):
    """Data is missing, malformed or does not fit what the caller expects."""


# ---------------------------------------------------------------------------
# IDX parsing


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain) into a native-endian array."""
    raw = _read_maybe_gzip(Path(path))
    name = str(path)
    if len(raw) < 4:
        raise DataError(f"{name}: truncated IDX header ({len(raw)} bytes, expected at least 4)")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{name}: bad IDX magic {raw[:4].hex()} (expected 0000 followed by a dtype code and ndim)"
        )
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code not in _IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in _IDX_DTYPES)
        raise DataError(f"{name}: unsupported IDX dtype code 0x{dtype_code:02X} (expected one of {known})")
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares 0 dimensions (expected at least 1)")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(
            f"{name}: truncated IDX header ({len(raw)} bytes, expected {header_size} for {ndim} dims)"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[dtype_code]
    expected = math.prod(dims) * dtype.itemsize
    got = len(raw) - header_size
    if got != expected:
        # A payload that fits another dtype exactly: the header's dtype code, not the data, is likely wrong.
        fits = [f"{other.name} (code 0x{code:02X})" for code, other in _IDX_DTYPES.items()
                if other != dtype and got == math.prod(dims) * other.itemsize]
        hint = f"; it would hold {fits[0]} data of that shape: is the header's dtype code right?" if fits else ""
        what = "truncated IDX payload" if got < expected else f"IDX payload has {got - expected} trailing bytes"
        raise DataError(f"{name}: {what} ({got} bytes, expected {expected} for {dtype.name} of shape {dims}{hint})")
    values = np.frombuffer(raw, dtype=dtype, offset=header_size)
    # astype copies, so the result is writable and independent of `raw`.
    return values.astype(dtype.newbyteorder("=")).reshape(dims)


def _read_maybe_gzip(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read IDX file ({error.strerror or error})") from error
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: corrupt or truncated gzip data ({error})") from error


# ---------------------------------------------------------------------------
# Containers


INPUT_KINDS = ("images", "tokens")


@dataclass(frozen=True, eq=False)  # eq=False: `==` on arrays has no single truth value
class Split:
    """One part of a dataset: the examples' inputs and int32 labels.

    kind "images": inputs float32 NHWC images, labels [N] (one class each).
    kind "tokens": inputs int32 [N, T] token windows, labels int32 [N, T] (the next token at each position).
    """

    inputs: np.ndarray
    labels: np.ndarray
    kind: str = "images"

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise DataError(f"split kind must be one of {', '.join(INPUT_KINDS)}; got {self.kind!r}")
        if self.kind == "tokens":
            _check_tokens_and_labels(self.inputs, self.labels, length=None)
        else:
            _check_images_and_labels(self.inputs, self.labels, image_shape=None)
            _check_finite(self.inputs)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def images(self) -> np.ndarray:
        """`inputs`, by its former name (from before token datasets), kept for user scripts."""
        return self.inputs


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/validation/test splits plus what a model needs to know about them.

    `input_shape` is the shape of one example's input: (H, W, C) for images,
    (T,) for token windows. `mean` and `std` are the statistics the images were
    normalised with, on the scale of the raw pixels times `pixel_scale` (for
    Fashion-MNIST, uint8 pixels times 1/255); token datasets are not normalised
    (0 and 1). A raw example `r` reaches the model as `(r * pixel_scale - mean) / std`.
    `unigram_bits_per_char` (token datasets): per held-out split, the bits per
    character of a unigram model of the train split, the baseline a language
    model has to beat.
    """

    name: str
    train: Split
    validation: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]
    mean: float
    std: float
    unigram_bits_per_char: Mapping[str, float] = field(default_factory=dict)
    pixel_scale: float = 1.0
    # A hash of data the model holds rather than reads per example (the k-NN graph's images), for
    # nas.data_identity: the splits alone would not tell another copy of it.
    source_fingerprint: str | None = None

    @property
    def inputs(self) -> str:
        """What the examples are: "images" or "tokens" (as a space's definition declares what it reads)."""
        return self.train.kind

    @property
    def image_shape(self) -> tuple[int, ...]:
        """`input_shape`, by its former name (from before token datasets), kept for user scripts."""
        return self.input_shape


# Files written before the rename of `image_shape` to `input_shape` (run summaries, export info,
# latency collections, predictor files) record one example's input shape under "image_shape".
INPUT_SHAPE_KEYS = ("input_shape", "image_shape")


def stored_input_shape(document: Mapping[str, Any]) -> tuple[int, ...]:
    """One example's input shape as a saved document records it: "input_shape", or "image_shape" in files
    written before that key was renamed. KeyError('input_shape') when it has neither."""
    for key in INPUT_SHAPE_KEYS:
        if key in document:
            return tuple(document[key])
    raise KeyError("input_shape")


def with_input_shape(document: Mapping[str, Any]) -> dict:
    """A copy of `document` that has "input_shape" whenever it records a shape under either key, for readers that
    pass the document on or compare it key by key."""
    document = dict(document)
    if any(key in document for key in INPUT_SHAPE_KEYS):
        document["input_shape"] = list(stored_input_shape(document))
    return document


def renamed_argument(value: Any, former_value: Any, where: str, name: str, former_name: str) -> Any:
    """The argument `name` of `where`, also accepted by its former keyword `former_name` (user scripts)."""
    if former_value is None:
        return value
    if value is not None:
        raise TypeError(f"{where}: give {name} or its former name {former_name}, not both")
    return former_value


def renamed_input_shape(input_shape: Any, image_shape: Any, where: str) -> Any:
    """The `input_shape` argument of `where`, also accepted by its former keyword `image_shape`."""
    return renamed_argument(input_shape, image_shape, where, "input_shape", "image_shape")


# ---------------------------------------------------------------------------
# Fashion-MNIST


def load_fashion_mnist(
    root: str | os.PathLike | None = None,
    validation_size: int = 5000,
    seed: int = 0,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load Fashion-MNIST, holding out `validation_size` training examples.

    The held-out examples are chosen by a permutation seeded with `seed`; the
    test set is left as is, for final reports only. Normalisation statistics
    come from the whole train part (after the split, before `limit_train`),
    so a limited load sees exactly the same pixel values as a full one.
    """
    root = Path(root if root is not None else os.environ.get(ROOT_ENV_VAR, DEFAULT_ROOT))
    paths = _locate_fashion_mnist_files(root)
    train_images = _read_uint8_idx(paths["train_images"], ndim=3)
    train_labels = _read_uint8_idx(paths["train_labels"], ndim=1)
    test_images = _read_uint8_idx(paths["test_images"], ndim=3)
    test_labels = _read_uint8_idx(paths["test_labels"], ndim=1)
    _check_pairing(train_images, train_labels, paths["train_images"], paths["train_labels"])
    _check_pairing(test_images, test_labels, paths["test_images"], paths["test_labels"])
    if train_images.shape[1:] != test_images.shape[1:]:
        raise DataError(
            f"train images are {train_images.shape[1:]} but test images are {test_images.shape[1:]} "
            "(expected the same height and width)"
        )

    train_index, validation_index = _split_indices(len(train_labels), validation_size, seed)
    mean, std = _uint8_pixel_stats(train_images[train_index])
    train_index = train_index[: _checked_limit(limit_train, "limit_train")]
    test_index = np.arange(len(test_labels))[: _checked_limit(limit_test, "limit_test")]

    def make_split(images: np.ndarray, labels: np.ndarray, index: np.ndarray) -> Split:
        return Split(_normalise_uint8(images[index], mean, std), labels[index].astype(np.int32))

    height, width = train_images.shape[1:]
    return Dataset(
        name="fashion-mnist",
        train=make_split(train_images, train_labels, train_index),
        validation=make_split(train_images, train_labels, validation_index),
        test=make_split(test_images, test_labels, test_index),
        num_classes=FASHION_MNIST_CLASSES,
        input_shape=(height, width, 1),
        mean=mean,
        std=std,
        pixel_scale=1.0 / 255.0,
    )


def _locate_fashion_mnist_files(root: Path) -> dict[str, Path]:
    """Map each file role to its path, accepting gzip (`.gz`) or unpacked files."""
    if not root.is_dir():
        raise DataError(f"Fashion-MNIST directory {root} does not exist; {_INSTALL_HINT}")
    found: dict[str, Path] = {}
    missing: list[str] = []
    for role, stem in _FASHION_MNIST_FILES.items():
        candidates = [root / f"{stem}.gz", root / stem]
        existing = [path for path in candidates if path.is_file()]
        if existing:
            found[role] = existing[0]
        else:
            missing.append(str(candidates[0]))
    if missing:
        raise DataError(f"Fashion-MNIST files missing: {', '.join(missing)}; {_INSTALL_HINT}")
    return found


def _read_uint8_idx(path: Path, ndim: int) -> np.ndarray:
    array = read_idx(path)
    if array.dtype != np.uint8 or array.ndim != ndim:
        raise DataError(
            f"{path}: holds {array.dtype} data of shape {array.shape} (expected uint8 with {ndim} dims)"
        )
    if len(array) == 0:
        raise DataError(f"{path}: holds no examples; allowed: an IDX file of at least one")
    return array


def _check_pairing(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path) -> None:
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels "
            "(expected equal counts)"
        )
    if len(labels) and labels.max() >= FASHION_MNIST_CLASSES:
        raise DataError(
            f"{labels_path}: label {int(labels.max())} out of range "
            f"(expected labels in [0, {FASHION_MNIST_CLASSES}))"
        )


def _split_indices(size: int, validation_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (train, validation) example indices, each in ascending order.

    Sorting keeps each part in file order, so `limit_train` takes a prefix of
    the file rather than a prefix of a random permutation.
    """
    _check_int(validation_size, "validation_size", low=0)
    _check_int(seed, "seed", low=0)
    if validation_size >= size:
        raise DataError(
            f"validation_size={validation_size} leaves no training examples "
            f"(expected fewer than the {size} in the training file)"
        )
    permutation = np.random.default_rng(seed).permutation(size)
    return np.sort(permutation[validation_size:]), np.sort(permutation[:validation_size])


def _checked_limit(limit: int | None, name: str) -> int | None:
    if limit is not None:
        _check_int(limit, name, low=0)
    return limit


def _uint8_pixel_stats(images: np.ndarray) -> tuple[float, float]:
    """Mean and std of uint8 pixels on the [0, 1] scale.

    Works from a 256-bin histogram, which is exact and avoids a float64 copy
    of every pixel.
    """
    counts = np.bincount(images.ravel(), minlength=256).astype(np.float64)
    values = np.arange(256, dtype=np.float64) / 255.0
    total = counts.sum()
    mean = float((counts * values).sum() / total)
    std = float(math.sqrt((counts * (values - mean) ** 2).sum() / total))
    if std == 0.0:
        raise DataError("training images are all the same value (expected nonzero pixel variance)")
    return mean, std


def _normalise_uint8(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 (N, H, W) -> normalised float32 (N, H, W, 1)."""
    scaled = images.astype(np.float32) * np.float32(1.0 / 255.0)
    return ((scaled - np.float32(mean)) / np.float32(std))[..., np.newaxis]


# ---------------------------------------------------------------------------
# Synthetic data


def synthetic_dataset(
    num_train: int,
    num_test: int,
    image_shape: tuple[int, int, int] = (28, 28, 1),
    num_classes: int = 10,
    seed: int = 0,
    num_validation: int | None = None,
) -> Dataset:
    """A deterministic, learnable dataset that needs no files.

    Each class has a fixed random pattern; an example is its class's pattern
    plus Gaussian noise, so even a linear model can learn it. Classes are
    balanced (as far as the sizes allow). The validation split has
    `num_validation` examples, `num_test` by default.
    """
    _check_int(num_train, "num_train", low=1)
    _check_int(num_test, "num_test", low=0)
    _check_int(num_classes, "num_classes", low=2)
    _check_int(seed, "seed", low=0)
    num_validation = num_test if num_validation is None else num_validation
    _check_int(num_validation, "num_validation", low=0)
    image_shape = _checked_image_shape(image_shape)

    rng = np.random.default_rng(seed)
    patterns = rng.standard_normal((num_classes, *image_shape), dtype=np.float32)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.permutation(np.arange(count) % num_classes).astype(np.int32)
        noise = rng.standard_normal((count, *image_shape), dtype=np.float32)
        return patterns[labels] + _SYNTHETIC_NOISE_SCALE * noise, labels

    # Drawn in a fixed order so every split depends only on `seed`.
    train, validation, test = draw(num_train), draw(num_validation), draw(num_test)
    mean = float(train[0].mean(dtype=np.float64))
    std = float(train[0].std(dtype=np.float64))

    def make_split(images: np.ndarray, labels: np.ndarray) -> Split:
        return Split(((images - np.float32(mean)) / np.float32(std)).astype(np.float32), labels)

    return Dataset(
        name="synthetic",
        train=make_split(*train),
        validation=make_split(*validation),
        test=make_split(*test),
        num_classes=num_classes,
        input_shape=image_shape,
        mean=mean,
        std=std,
    )


# Noise larger than the pattern keeps single pixels uninformative, so a model
# has to combine many of them; across a whole image the class is still clear.
_SYNTHETIC_NOISE_SCALE = np.float32(1.5)


def _checked_image_shape(image_shape: Any) -> tuple[int, int, int]:
    shape = tuple(image_shape)
    if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise DataError(f"image_shape must be three positive ints (H, W, C); got {image_shape!r}")
    return tuple(int(d) for d in shape)


# ---------------------------------------------------------------------------
# Batching


class BatchStream:
    """An endless, seeded, resumable stream of shuffled training batches.

    Epoch `e` visits the split in the order `default_rng([seed, e])` draws, so
    the batches from any point on depend only on the position, never on the
    history that led there.
    """

    def __init__(self, split: Split, batch_size: int, seed: int = 0, drop_last: bool = True) -> None:
        _check_int(seed, "seed", low=0)
        _check_int(batch_size, "batch_size", low=1)
        if batch_size > len(split):
            raise DataError(f"batch_size={batch_size} is larger than the split ({len(split)} examples)")
        self._split = split
        self.batch_size = batch_size
        self.seed = seed
        self.drop_last = bool(drop_last)
        self._epoch = 0
        self._index = 0  # the next batch's number within the epoch
        self._order_epoch: int | None = None
        self._order = np.empty(0, dtype=np.int64)

    @property
    def steps_per_epoch(self) -> int:
        if self.drop_last:
            return len(self._split) // self.batch_size
        return -(-len(self._split) // self.batch_size)

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        start = self._index * self.batch_size
        chosen = self._epoch_order()[start : start + self.batch_size]
        self._index += 1
        # Roll over eagerly so that a saved position never points past an epoch.
        if self._index == self.steps_per_epoch:
            self._epoch += 1
            self._index = 0
        return self._split.inputs[chosen], self._split.labels[chosen]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self

    def __next__(self) -> tuple[np.ndarray, np.ndarray]:
        return self.next()

    def position(self) -> dict[str, Any]:
        """Where the stream stands, as plain JSON-serialisable values."""
        return {
            "seed": self.seed,
            "epoch": self._epoch,
            "index": self._index,
            "batch_size": self.batch_size,
            "size": len(self._split),
            "drop_last": self.drop_last,
        }

    def restore(self, position: dict[str, Any]) -> None:
        """Continue from `position`, as saved by `position()` of a matching stream."""
        for key in ("seed", "epoch", "index", "batch_size", "size"):
            if key not in position:
                raise DataError(f"cannot restore batch stream: position has no {key!r} (got {sorted(position)})")
        mine = self.position()
        # drop_last is optional in a position so hand-written ones stay valid.
        for key in ("seed", "batch_size", "size", "drop_last"):
            if key in position and position[key] != mine[key]:
                raise DataError(
                    f"cannot restore batch stream: position has {key}={position[key]!r} "
                    f"but this stream has {key}={mine[key]!r}"
                )
        _check_int(position["epoch"], "position epoch", low=0)
        _check_int(position["index"], "position index", low=0)
        if position["index"] >= self.steps_per_epoch:
            raise DataError(
                f"cannot restore batch stream: index={position['index']} "
                f"(expected below steps_per_epoch={self.steps_per_epoch})"
            )
        self._epoch = int(position["epoch"])
        self._index = int(position["index"])

    def _epoch_order(self) -> np.ndarray:
        if self._order_epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, self._epoch]).permutation(len(self._split))
            self._order_epoch = self._epoch
        return self._order


# ---------------------------------------------------------------------------
# Validation


def check_batch(inputs: Any, labels: Any, input_shape: tuple[int, ...]) -> None:
    """Raise DataError unless the batch fits a dataset whose examples have shape `input_shape`.

    Images, `input_shape` (H, W, C): float32 (N, H, W, C) images, int32 (N,) labels.
    Token windows, `input_shape` (T,): int32 (N, T) tokens, int32 (N, T) next-token labels.
    Trainers call this before jitted code, so a wrong batch is reported in
    terms of the data rather than as a JAX shape error deep in a trace.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) == 1:
        _check_tokens_and_labels(inputs, labels, length=input_shape[0])
    else:
        _check_images_and_labels(inputs, labels, input_shape)


def _check_images_and_labels(images: Any, labels: Any, image_shape: tuple[int, ...] | None) -> None:
    """Shared by `check_batch` and `Split`; `image_shape=None` accepts any (H, W, C)."""
    expected = "(N, H, W, C)" if image_shape is None else f"(N, {', '.join(map(str, image_shape))})"
    images_shape, images_dtype = _shape_and_dtype(images, "images")
    labels_shape, labels_dtype = _shape_and_dtype(labels, "labels")
    trailing_ok = image_shape is None or images_shape[1:] == image_shape
    if len(images_shape) != 4 or not trailing_ok:
        raise DataError(f"images must have shape {expected}; got {images_shape}")
    if images_dtype != np.float32:
        raise DataError(f"images must be float32 with shape {expected}; got {images_dtype}")
    if len(labels_shape) != 1 or labels_shape[0] != images_shape[0]:
        raise DataError(
            f"labels must have shape ({images_shape[0]},) to match images {images_shape}; got {labels_shape}"
        )
    if labels_dtype != np.int32:
        raise DataError(f"labels must be int32 with shape ({images_shape[0]},); got {labels_dtype}")


def _check_finite(images: np.ndarray) -> None:
    """Once per split, not per batch: a NaN or inf pixel would turn every loss it reaches into NaN."""
    if len(images) == 0:
        return
    finite = np.isfinite(images).reshape(len(images), -1).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise DataError(f"images must be finite: {len(bad)} example(s) hold NaN or inf, the first at index {bad[0]}")


def _check_tokens_and_labels(tokens: Any, labels: Any, length: int | None) -> None:
    """Shared by `check_batch` and `Split`; `length=None` accepts any window length T."""
    expected = "(N, T)" if length is None else f"(N, {length})"
    tokens_shape, tokens_dtype = _shape_and_dtype(tokens, "tokens")
    labels_shape, labels_dtype = _shape_and_dtype(labels, "labels")
    if len(tokens_shape) != 2 or (length is not None and tokens_shape[1] != length):
        raise DataError(f"tokens must have shape {expected}; got {tokens_shape}")
    if tokens_dtype != np.int32:
        raise DataError(f"tokens must be int32 with shape {expected}; got {tokens_dtype}")
    if labels_shape != tokens_shape:
        raise DataError(f"labels must have shape {tokens_shape} to match tokens (the next token at each "
                        f"position); got {labels_shape}")
    if labels_dtype != np.int32:
        raise DataError(f"labels must be int32 with shape {tokens_shape}; got {labels_dtype}")


def _shape_and_dtype(array: Any, name: str) -> tuple[tuple[int, ...], np.dtype]:
    # Duck-typed so JAX arrays are checked without copying them to the host.
    if not hasattr(array, "shape") or not hasattr(array, "dtype"):
        raise DataError(f"{name} must be an array with shape and dtype; got {type(array).__name__}")
    return tuple(int(d) for d in array.shape), np.dtype(array.dtype)


def _check_int(value: Any, name: str, low: int) -> None:
    # bool is an int subclass, but `batch_size=True` is always a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise DataError(f"{name} must be an int >= {low}; got {value!r}")


def load_dataset(config, context: int | None = None) -> "Dataset":
    """The data a run's config names (`data`, `split_seed`, `limit_train`, `validation_size`, `collections` of a
    `TrainConfig`); `context` is the window length of token data (the space's `context` option)."""
    from nas.errors import ConfigError
    from nas.text_data import load_fortunes  # it builds on this module

    if config.data == "synthetic":
        return synthetic_dataset(num_train=config.limit_train or 2048, num_test=512, seed=config.split_seed)
    if config.data == "fashion-mnist-knn":  # a graph's nodes (search_spaces.gnn)
        from nas.graph_data import load_fashion_mnist_knn

        return load_fashion_mnist_knn(split_seed=config.split_seed, limit_train=config.limit_train)
    if config.data == "fortunes":
        if context is None:
            raise ConfigError("data 'fortunes' needs the window length: give load_dataset the space's context")
        return load_fortunes(context=context, seed=config.split_seed, limit_train=config.limit_train,
                             collections=config.collections)
    return load_fashion_mnist(validation_size=config.validation_size, seed=config.split_seed,
                              limit_train=config.limit_train)
