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


def test_options_implied_by_the_inputs_keep_their_former_name_for_user_scripts():
    from flax import nnx

    from nas.declared_space import declared_space

    class Net(nnx.Module):
        def __init__(self, in_channels: int = 1, *, rngs: nnx.Rngs):
            self.in_channels = in_channels

    implied = lambda shape: {"in_channels": shape[-1] * 2}  # noqa: E731
    old = declared_space("old", Net, options_for_images=implied)
    new = declared_space("new", Net, options_for_inputs=implied)
    assert old.resolve_options({}, (8, 8, 3)) == new.resolve_options({}, (8, 8, 3)) == {"in_channels": 6}
    assert old.options_for_images is old.options_for_inputs is implied
    assert declared_space("derived", Net).resolve_options({}, (8, 8, 3)) == {"in_channels": 3}
    with pytest.raises(TypeError, match="give options_for_inputs or its former name options_for_images, not both"):
        declared_space("both", Net, options_for_images=implied, options_for_inputs=implied)
