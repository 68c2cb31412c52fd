"""nas.text_data: the fortune corpus read whole, dealt by fortune, cut into next-byte windows; the unigram
baseline; clear errors. Uses a tiny generated corpus, never the Debian package."""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from nas.data import DataError, Split, check_batch
from nas.text_data import (SEPARATOR, deal_by_fortune, join_fortunes, load_fortunes, read_fortunes,
                           split_fortunes, unigram_bits_per_char, windows)

from tests.nas import fortune_corpus as corpus

CONTEXT = 16


@pytest.fixture
def fortune_dir(tmp_path: Path) -> tuple[Path, list[bytes]]:
    fortunes = corpus.write_corpus(tmp_path / "fortunes", count=60)
    return tmp_path / "fortunes", [f.encode() for f in fortunes]


def test_every_fortune_is_read_whole_and_index_files_aliases_and_subdirectories_are_skipped(fortune_dir):
    root, fortunes = fortune_dir
    assert read_fortunes(root) == fortunes


def test_the_root_comes_from_the_environment_when_not_given(fortune_dir, monkeypatch):
    root, fortunes = fortune_dir
    monkeypatch.setenv("WEFT_FORTUNES", str(root))
    assert read_fortunes() == fortunes


def test_entries_split_on_percent_lines_only():
    text = b"one\n50% off\n%\r\n\n%\ntwo\nlines\r\n%\nlast, no closing percent\n"
    assert split_fortunes(text) == [b"one\n50% off", b"two\nlines", b"last, no closing percent"]


def test_latin1_databases_are_reencoded_as_utf8(tmp_path):
    (tmp_path / "old").write_bytes("caf\u00e9\n%\n".encode("latin-1"))
    assert read_fortunes(tmp_path) == ["caf\u00e9".encode("utf-8")]


def test_fortunes_are_dealt_into_disjoint_splits_by_a_seeded_permutation(fortune_dir):
    _, fortunes = fortune_dir
    train, validation, test = deal_by_fortune(fortunes, 0.05, 0.1, seed=3)
    assert (len(validation), len(test), len(train)) == (3, 6, 51)
    assert sorted(train + validation + test) == sorted(fortunes)
    assert (train, validation, test) == deal_by_fortune(fortunes, 0.05, 0.1, seed=3)
    assert validation != deal_by_fortune(fortunes, 0.05, 0.1, seed=4)[1]


def test_each_split_holds_whole_fortunes_of_its_own_only(fortune_dir):
    root, fortunes = fortune_dir
    dataset = load_fortunes(root, context=CONTEXT, validation_fraction=0.1, test_fraction=0.1, seed=0)
    dealt = deal_by_fortune(fortunes, 0.1, 0.1, seed=0)
    seen = []
    for split, part in zip((dataset.train, dataset.validation, dataset.test), dealt):
        covered = np.concatenate([split.inputs.ravel(), split.labels[-1, -1:]]).astype(np.uint8)
        joined = join_fortunes(part)
        assert np.array_equal(covered, joined[:len(covered)])  # the split's text, in order, tail cut only
        assert len(joined) - len(covered) < CONTEXT
        seen.append(set(bytes(joined).split(bytes([SEPARATOR]))))
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert set().union(*seen) == set(fortunes)


def test_labels_are_the_inputs_shifted_by_one_byte(fortune_dir):
    dataset = load_fortunes(fortune_dir[0], context=CONTEXT)
    split = dataset.train
    assert split.inputs.dtype == split.labels.dtype == np.int32
    assert split.inputs.shape == split.labels.shape == (len(split), CONTEXT)
    assert np.array_equal(split.labels[:, :-1], split.inputs[:, 1:])
    assert np.array_equal(split.labels[:-1, -1], split.inputs[1:, 0])  # windows overlap by one byte
    assert dataset.inputs == "tokens" and dataset.input_shape == (CONTEXT,) and dataset.num_classes == 256


def test_windows_of_a_short_sequence():
    inputs, labels = windows(np.arange(10, dtype=np.uint8), context=3)
    assert inputs.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert labels.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_limit_train_keeps_the_first_windows_and_the_same_baseline(fortune_dir):
    full = load_fortunes(fortune_dir[0], context=CONTEXT)
    limited = load_fortunes(fortune_dir[0], context=CONTEXT, limit_train=5)
    assert np.array_equal(limited.train.inputs, full.train.inputs[:5])
    assert limited.unigram_bits_per_char == full.unigram_bits_per_char


def test_unigram_baseline_equals_a_hand_computation():
    # Train "aab": a seen twice, b once, the other 254 bytes never; add-one smoothing over 256 bytes.
    expected = -(math.log2(3 / 259) + math.log2(2 / 259) + math.log2(1 / 259)) / 3
    value = unigram_bits_per_char(np.frombuffer(b"aab", np.uint8), np.frombuffer(b"abz", np.uint8))
    assert value == pytest.approx(expected, rel=1e-12)


def test_the_datasets_baseline_is_over_the_predicted_bytes_under_train_frequencies(fortune_dir):
    root, fortunes = fortune_dir
    dataset = load_fortunes(root, context=CONTEXT, seed=1)
    train, _, _ = deal_by_fortune(fortunes, 0.05, 0.05, seed=1)
    counts = Counter(bytes([SEPARATOR]).join(train))
    total = sum(counts.values()) + 256
    for name in ("validation", "test"):
        predicted = getattr(dataset, name).labels.ravel().tolist()
        hand = -sum(math.log2((counts[b] + 1) / total) for b in predicted) / len(predicted)
        assert dataset.unigram_bits_per_char[name] == pytest.approx(hand, rel=1e-9)


def test_a_missing_corpus_names_the_install_command(tmp_path):
    with pytest.raises(DataError, match=r"does not exist; install it with `sudo apt-get install fortunes` "
                                        r"\(or `make data`\), or set WEFT_FORTUNES"):
        load_fortunes(tmp_path / "nowhere")
    with pytest.raises(DataError, match="holds no fortunes; install it with"):
        load_fortunes(tmp_path)


def test_too_few_fortunes_or_bytes_for_the_splits_are_refused(tmp_path):
    corpus.write_corpus(tmp_path / "two", count=2, files=1)
    with pytest.raises(DataError, match="2 fortunes, too few"):
        load_fortunes(tmp_path / "two")
    corpus.write_corpus(tmp_path / "forty", count=40, files=1)
    with pytest.raises(DataError, match="fewer than one window of context\\+1=1001; use a smaller context"):
        load_fortunes(tmp_path / "forty", context=1000)


def test_token_splits_and_batches_are_checked_with_clear_messages():
    tokens = np.zeros((4, 8), np.int32)
    Split(tokens, tokens, kind="tokens")
    check_batch(tokens, tokens, (8,))
    with pytest.raises(DataError, match=r"tokens must have shape \(N, 8\); got \(4, 7\)"):
        check_batch(tokens[:, :7], tokens[:, :7], (8,))
    with pytest.raises(DataError, match="tokens must be int32 with shape \\(N, 8\\); got int64"):
        check_batch(tokens.astype(np.int64), tokens, (8,))
    with pytest.raises(DataError, match=r"labels must have shape \(4, 8\) to match tokens.*got \(4,\)"):
        check_batch(tokens, np.zeros(4, np.int32), (8,))
    with pytest.raises(DataError, match=r"tokens must have shape \(N, T\); got \(4, 8, 1\)"):
        Split(tokens[..., None], tokens, kind="tokens")
    with pytest.raises(DataError, match="split kind must be one of images, tokens; got 'text'"):
        Split(tokens, tokens, kind="text")


def test_collections_select_files_and_the_named_domains_split_the_corpus(fortune_dir):
    from nas.text_data import DOMAINS, select_collections

    root, fortunes = fortune_dir
    assert read_fortunes(root, ["set1"]) == fortunes[30:]
    assert read_fortunes(root, ["set0", "set1"]) == fortunes
    available = ["art", "computers", "cookie", "linux", "perl"]
    general, computing = select_collections(available, ["general"]), select_collections(available, ["computing"])
    assert general == ["art", "cookie"] and computing == ["computers", "linux", "perl"]
    assert set(computing) <= set(DOMAINS["computing"])
    with pytest.raises(DataError, match="unknown fortune collection 'nope'; allowed: general, computing or one of"):
        read_fortunes(root, ["nope"])
