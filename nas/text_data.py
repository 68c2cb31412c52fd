"""A byte-level text dataset from the fortune databases (Debian's `fortunes` package).

A fortune database is a plain text file whose entries are separated by lines
holding only `%`. The fortunes are shuffled with a seeded permutation and dealt
into train/validation/test *by fortune*, so no held-out text was seen in
training. Each split is UTF-8 bytes, its fortunes joined by one separator byte,
cut into windows: inputs are `context` bytes, labels the same bytes shifted by
one (the next byte at every position). Consecutive windows overlap by one byte,
so every byte of a split but its first is predicted exactly once.

The result is the engine's `Dataset` with token splits (`kind="tokens"`, per
example input shape `(context,)`, 256 classes) and, as a reference point, the
bits per character of a unigram model fitted on the train split.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nas.data import Dataset, DataError, Split, _check_int

DEFAULT_FORTUNES_ROOT = "/usr/share/games/fortunes"
FORTUNES_ENV_VAR = "WEFT_FORTUNES"
VOCAB_SIZE = 256  # bytes
# ASCII's record separator: marks where one fortune ends and the next begins; no fortune holds it.
SEPARATOR = 0x1E
_INSTALL_HINT = (f"install it with `sudo apt-get install fortunes` (or `make data`), or set {FORTUNES_ENV_VAR} "
                 "to a directory of fortune files")


# Named sets of collections (fortune files) for domain adaptation (`search_spaces.lora`): a base
# pretrained on "general" (every collection not in "computing") is adapted to "computing", held out.
DOMAINS = {"computing": ("computers", "debian", "linux", "linuxcookie", "perl")}
GENERAL = "general"


def select_collections(available: list[str], requested) -> list[str]:
    """The collections `requested` names (file names, a `DOMAINS` name or "general"), in `available`'s order."""
    chosen = set()
    for name in requested:
        if name == GENERAL:
            chosen |= set(available) - {c for files in DOMAINS.values() for c in files}
        elif name in DOMAINS:
            chosen |= set(DOMAINS[name])
        elif name in available:
            chosen.add(name)
        else:
            raise DataError(f"unknown fortune collection {name!r}; allowed: {', '.join([GENERAL, *DOMAINS])} or one "
                            f"of {', '.join(available)}")
    return [name for name in available if name in chosen]


def read_fortunes(root: str | os.PathLike | None = None, collections=()) -> list[bytes]:
    """Every non-empty fortune under `root`, as UTF-8 bytes, files in name order.

    Skips the `.dat` index files, symbolic links (the `.u8` aliases), hidden
    files and sub-directories (such as the offensive `off/` set). `collections`
    (non-empty) keeps only the files `select_collections` picks.
    """
    root = Path(root if root is not None else os.environ.get(FORTUNES_ENV_VAR, DEFAULT_FORTUNES_ROOT))
    if not root.is_dir():
        raise DataError(f"fortune corpus {root} does not exist; {_INSTALL_HINT}")
    files = [path for path in sorted(root.iterdir())
             if path.is_file() and not path.is_symlink() and path.suffix not in (".dat", ".u8")
             and not path.name.startswith(".")]
    if collections:
        kept = set(select_collections([path.name for path in files], collections))
        files = [path for path in files if path.name in kept]
    fortunes = [fortune for path in files for fortune in split_fortunes(_utf8_bytes(path))]
    if not fortunes:
        nested = sorted(path.name for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
        where = f" (sub-directories are not read: point at one of {', '.join(nested[:3])} instead)" if nested else ""
        raise DataError(f"fortune corpus {root} holds no fortunes{where}; {_INSTALL_HINT}")
    return fortunes


def split_fortunes(text: bytes) -> list[bytes]:
    """The entries of one fortune database: text between lines holding only `%`, blank ones dropped."""
    fortunes, lines = [], []
    for line in text.split(b"\n") + [b"%"]:  # the sentinel closes the last entry
        if line.rstrip(b"\r") == b"%":
            fortune = b"\n".join(lines).strip(b"\r\n")
            if fortune.strip():
                fortunes.append(fortune)
            lines = []
        else:
            lines.append(line)
    return fortunes


def _utf8_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if b"\0" in raw:  # text holds no NUL; a binary (a compiled index, a program) would train as fortunes
        raise DataError(f"{path} is not a fortune file (it holds NUL bytes, so it is binary); allowed: text files of "
                        "fortunes separated by lines holding only %")
    try:
        raw.decode("utf-8")
        return raw
    except UnicodeDecodeError:  # older databases are Latin-1; every byte decodes there
        return raw.decode("latin-1").encode("utf-8")


def deal_by_fortune(fortunes: list[bytes], validation_fraction: float, test_fraction: float,
                    seed: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(train, validation, test) fortunes: a seeded permutation, then validation and test from its front."""
    for name, fraction in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0 < fraction < 1:
            raise DataError(f"{name} must be in (0, 1); got {fraction!r}")
    if validation_fraction + test_fraction >= 1:
        raise DataError(f"validation_fraction + test_fraction must be < 1; got "
                        f"{validation_fraction} + {test_fraction}")
    _check_int(seed, "seed", low=0)
    count = len(fortunes)
    num_validation = max(1, round(count * validation_fraction))
    num_test = max(1, round(count * test_fraction))
    if num_validation + num_test >= count:
        raise DataError(f"the corpus has {count} fortunes, too few to hold out {num_validation} for validation "
                        f"and {num_test} for test (expected at least {num_validation + num_test + 1})")
    order = np.random.default_rng(seed).permutation(count)
    dealt = [fortunes[i] for i in order]
    return (dealt[num_validation + num_test:], dealt[:num_validation],
            dealt[num_validation:num_validation + num_test])


def join_fortunes(fortunes: list[bytes]) -> np.ndarray:
    """One split's bytes (uint8), its fortunes joined by the separator byte."""
    return np.frombuffer(bytes([SEPARATOR]).join(fortunes), dtype=np.uint8)


def windows(data: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """int32 inputs [N, context] and next-byte labels [N, context]; windows start every `context` bytes."""
    _check_int(context, "context", low=1)
    count = (len(data) - 1) // context
    inputs = data[:count * context].reshape(count, context)
    labels = data[1:count * context + 1].reshape(count, context)
    return inputs.astype(np.int32), labels.astype(np.int32)


def unigram_bits_per_char(train_bytes: np.ndarray, predicted: np.ndarray) -> float:
    """Mean -log2 p(byte) over `predicted`, p the train bytes' frequencies with add-one smoothing.

    A character here is a byte: the model predicts bytes, so both numbers are per byte.
    """
    counts = np.bincount(np.asarray(train_bytes).ravel(), minlength=VOCAB_SIZE).astype(np.float64) + 1.0
    log2_p = np.log2(counts / counts.sum())
    return float(-log2_p[np.asarray(predicted).ravel()].mean())


def load_fortunes(root: str | os.PathLike | None = None, context: int = 64, validation_fraction: float = 0.05,
                  test_fraction: float = 0.05, seed: int = 0, limit_train: int | None = None,
                  collections=()) -> Dataset:
    """The fortune corpus as a token `Dataset` of `context`-byte windows (see the module docstring).

    `collections` (non-empty) reads only those fortune files (`select_collections`).
    `limit_train` keeps the first that many training windows; the unigram
    baseline is fitted on the whole train split regardless, as a limited load
    should report the same reference numbers.
    """
    _check_int(context, "context", low=1)
    parts = deal_by_fortune(read_fortunes(root, collections), validation_fraction, test_fraction, seed)
    splits, train_bytes = {}, None
    for name, fortunes in zip(("train", "validation", "test"), parts):
        data = join_fortunes(fortunes)
        if len(data) < context + 1:
            raise DataError(f"the {name} split holds {len(data)} bytes, fewer than one window of context+1="
                            f"{context + 1}; use a smaller context or a larger corpus")
        train_bytes = data if name == "train" else train_bytes
        splits[name] = windows(data, context)
    if limit_train is not None:
        _check_int(limit_train, "limit_train", low=1)
        splits["train"] = tuple(array[:limit_train] for array in splits["train"])
    return Dataset(
        name="fortunes",
        train=Split(*splits["train"], kind="tokens"),
        validation=Split(*splits["validation"], kind="tokens"),
        test=Split(*splits["test"], kind="tokens"),
        num_classes=VOCAB_SIZE,
        input_shape=(context,),
        mean=0.0,  # bytes are not normalised
        std=1.0,
        unigram_bits_per_char={name: unigram_bits_per_char(train_bytes, splits[name][1])
                               for name in ("validation", "test")},
    )
