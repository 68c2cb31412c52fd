"""KEY=VALUE pairs: JSON where the value is JSON, text otherwise, one clear error for a malformed pair."""
import pytest

from nas.errors import ConfigError
from nas.key_values import parse_key_values


def test_values_are_json_where_they_parse_and_text_otherwise():
    assert parse_key_values(["width=0.5", "kernels=[3,5]", "data=fortunes", "flag=true", "empty="]) == {
        "width": 0.5, "kernels": [3, 5], "data": "fortunes", "flag": True, "empty": ""}


def test_a_value_may_hold_an_equals_sign():
    assert parse_key_values(['note="a=b"']) == {"note": "a=b"}


@pytest.mark.parametrize("pair", ["width", "=3"])
def test_a_malformed_pair_names_the_flag_and_the_pair(pair):
    with pytest.raises(ConfigError, match=rf"--reference must look like key=value, got '{pair}'"):
        parse_key_values([pair], flag="--reference")
