"""nas.definition: a space declares what it reads; a tokens space must say how long its windows are."""
import pytest

from nas.definition import SearchSpaceDefinition
from nas.errors import ConfigError


def definition(**fields):
    return SearchSpaceDefinition("toy", make_space=None, build_supernet=None, **fields)


def test_spaces_read_images_unless_they_declare_tokens():
    assert definition().inputs == "images"
    assert definition(inputs="tokens", default_options={"context": 8}).inputs == "tokens"


def test_unknown_inputs_and_a_tokens_space_without_context_are_refused():
    with pytest.raises(ConfigError, match="space 'toy': inputs must be one of images, tokens; got 'text'"):
        definition(inputs="text")
    with pytest.raises(ConfigError, match="reads tokens, so its default_options need 'context'"):
        definition(inputs="tokens")
