"""nas.json_files: a damaged or misplaced JSON file is one error naming it and what it should hold."""
import pytest

from nas.errors import ConfigError, RunDirError
from nas.json_files import read_json_object


@pytest.mark.parametrize("content, message", [
    ("{cut", "is damaged \\(not JSON"),
    ("", "is damaged \\(not JSON"),
    ("[1, 2]", "holds a JSON list, not an object"),
    ("null", "holds a JSON NoneType, not an object"),
])
def test_a_damaged_file_names_itself_and_what_it_should_hold(tmp_path, content, message):
    path = tmp_path / "report.json"
    path.write_text(content)
    with pytest.raises(RunDirError, match=f"report.json {message}.*allowed: the export's report"):
        read_json_object(path, "the export's report")


def test_a_directory_in_its_place_and_a_chosen_error_class(tmp_path):
    (tmp_path / "plan.json").mkdir()
    with pytest.raises(ConfigError, match="plan.json is a directory; allowed: a plan"):
        read_json_object(tmp_path / "plan.json", "a plan", ConfigError)


def test_a_good_object_is_returned(tmp_path):
    (tmp_path / "a.json").write_text('{"x": [1, 2]}')
    assert read_json_object(tmp_path / "a.json", "anything") == {"x": [1, 2]}
