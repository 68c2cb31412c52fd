"""Atomic writes: the file is whole or keeps its old content, and no temporary file is left behind."""
import json
import threading

import pytest

from nas.atomic_write import write_atomically, write_json_atomically, write_text_atomically


def test_json_round_trips_and_leaves_only_the_file(tmp_path):
    path = write_json_atomically(tmp_path / "a.json", {"x": [1, 2]}, indent=1)
    assert json.loads(path.read_text()) == {"x": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_failing_writer_keeps_the_old_content_and_no_temporary(tmp_path):
    path = write_text_atomically(tmp_path / "a.txt", "old")

    def half_then_fail(out):
        out.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, half_then_fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_concurrent_writers_never_interleave(tmp_path):
    path = tmp_path / "shared.txt"
    texts = [str(i) * 200_000 for i in range(8)]
    threads = [threading.Thread(target=write_text_atomically, args=(path, text)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["shared.txt"]


def test_a_staged_directory_appears_whole_on_success_and_not_at_all_on_error(tmp_path):
    from nas.atomic_write import staged_directory

    with staged_directory(tmp_path / "out") as staging:
        (staging / "a.json").write_text("{}")
        assert not (tmp_path / "out").exists()  # nothing at the destination until the block ends
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.json"]
    with pytest.raises(RuntimeError):
        with staged_directory(tmp_path / "failed") as staging:
            (staging / "half.json").write_text("{")
            raise RuntimeError("killed mid-write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no destination, no staging left behind


def test_a_staged_directory_never_replaces_one_that_holds_files(tmp_path):
    from nas.atomic_write import staged_directory

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("user data")
    with pytest.raises(OSError):
        with staged_directory(tmp_path / "out") as staging:
            (staging / "new.txt").write_text("x")
    assert (tmp_path / "out" / "keep.txt").read_text() == "user data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
