"""Resuming reads the newest checkpoint that can be read: an unreadable newer one is named in a warning and
discarded; when none can be read, one error names the newest."""
import numpy as np
import pytest

from nas.checkpoint import Checkpointer, CheckpointFallbackWarning, UnreadableCheckpoint

TEMPLATE = {"state": {"w": np.zeros((64, 64), np.float32)}}


def cut_short(checkpoint):
    largest = max((p for p in (checkpoint / "state").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    largest.write_bytes(largest.read_bytes()[:largest.stat().st_size // 2])


@pytest.fixture
def two_checkpoints(tmp_path):
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    rng = np.random.default_rng(0)
    for step in (4, 8):
        checkpointer.save(step, {"state": {"w": rng.normal(size=(64, 64)).astype(np.float32)}}, {"step": step})
    checkpointer.close()
    return tmp_path / "checkpoints"


def test_an_unreadable_newest_checkpoint_falls_back_with_a_warning(two_checkpoints):
    cut_short(two_checkpoints / "8")
    checkpointer = Checkpointer(two_checkpoints)
    with pytest.warns(CheckpointFallbackWarning, match="checkpoints/8 cannot be read.*resuming from checkpoint 4"):
        trees, metadata, unreadable = checkpointer.restore_newest_readable(TEMPLATE)
    assert metadata["step"] == 4 and unreadable == [8]
    expected = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    np.testing.assert_array_equal(trees["state"]["w"], expected)
    checkpointer.discard(unreadable)
    assert checkpointer.latest_step() == 4 and not (two_checkpoints / "8").exists()
    checkpointer.close()


def test_no_readable_checkpoint_is_one_error_naming_the_newest(two_checkpoints):
    for step in ("4", "8"):
        cut_short(two_checkpoints / step)
    checkpointer = Checkpointer(two_checkpoints)
    with pytest.raises(UnreadableCheckpoint, match="checkpoints/8 cannot be read.*nor can the earlier 4"):
        checkpointer.restore_newest_readable(TEMPLATE)
    checkpointer.close()
