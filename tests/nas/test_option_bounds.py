"""Option bounds: declared in a network's signature, checked before anything is built."""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Annotated, Optional

import pytest
from flax import nnx

from nas.config import from_dict
from nas.declared_space import declared_space
from nas.errors import ConfigError, WeftError
from nas.option_bounds import (AT_LEAST_ONE, POSITIVE, Bounds, NonNegativeInt, PositiveFloat, PositiveInt, PositiveInts,
                                bounds_in_signature)
from search_spaces import REGISTRY
from supernets.decisions import NestedWidth

if TYPE_CHECKING:
    from collections import OrderedDict  # resolvable by a type checker only


class Tiny(nnx.Module):
    def __init__(self, widths: PositiveInts = (8, 16), scale: PositiveFloat = 1.0,
                 dropout: Annotated[float, Bounds(0, 1, high_inclusive=False)] = 0.0, label: str = "x",
                 hint: OrderedDict | None = None, *, rngs: nnx.Rngs):
        self.width = NestedWidth(widths=tuple(widths), name="width")
        self.scale = scale


def test_bounds_admit_and_describe_their_ends():
    fraction = Bounds(0, 1, high_inclusive=False)
    assert [fraction.admits(x) for x in (-0.1, 0, 0.5, 1)] == [False, True, True, False]
    assert not POSITIVE.admits(0) and POSITIVE.admits(1e-9)
    assert not AT_LEAST_ONE.admits(math.nan) and not AT_LEAST_ONE.admits(0)
    assert fraction.describe() == "in [0, 1)"
    assert POSITIVE.describe() == "> 0" and AT_LEAST_ONE.describe() == ">= 1"
    assert Bounds(high=2.5, high_inclusive=False).describe() == "< 2.5"


def test_bad_bounds_are_refused():
    with pytest.raises(ConfigError, match="low must be <= high"):
        Bounds(2, 1)
    with pytest.raises(ConfigError, match="finite"):
        Bounds(low=math.inf)


def test_check_names_the_option_and_the_first_number_outside():
    AT_LEAST_ONE.check("space 's'", "depths", (1, 2))
    AT_LEAST_ONE.check("space 's'", "base", None)  # unset options are not checked
    AT_LEAST_ONE.check("space 's'", "names", ("a", "b"))  # nor values that are not numbers
    with pytest.raises(ConfigError, match=r"space 's': option depths=\(2, 0, -1\) holds 0; allowed: each number >= 1"):
        AT_LEAST_ONE.check("space 's'", "depths", [2, 0, -1])
    with pytest.raises(ConfigError, match="option scale=nan is out of range; allowed: > 0"):
        POSITIVE.check("space 's'", "scale", math.nan)


def test_signature_bounds_are_read_from_string_annotations():
    bounds = bounds_in_signature(Tiny.__init__)
    # `hint` names a type only a type checker sees: it has no bounds and breaks nothing.
    assert bounds == {"widths": AT_LEAST_ONE, "scale": POSITIVE, "dropout": Bounds(0, 1, high_inclusive=False)}


def test_an_optional_bounded_alias_keeps_its_bounds():
    def network(width: PositiveInt | None = None, scale: Optional[PositiveFloat] = None, *, rngs=None):
        return None

    assert bounds_in_signature(network) == {"width": AT_LEAST_ONE, "scale": POSITIVE}


def test_true_or_false_is_no_count():
    from search_spaces.mlp import DEFINITION

    with pytest.raises(ConfigError, match="option 'max_layers' must be int, got False"):
        DEFINITION.resolve_options({"max_layers": False})
    assert DEFINITION.resolve_options({"layer_norm": False})["layer_norm"] is False


def test_two_bounds_on_one_parameter_are_refused():
    def network(width: Annotated[int, POSITIVE, AT_LEAST_ONE] = 1, *, rngs=None):
        return None

    with pytest.raises(ConfigError, match="parameter 'width' declares 2 Bounds"):
        bounds_in_signature(network)


def test_declared_space_checks_options_against_its_bounds():
    definition = declared_space("tiny-bounded", Tiny)
    assert definition.resolve_options({"scale": 0.5, "dropout": 0.25})["scale"] == 0.5
    with pytest.raises(ConfigError, match="option scale=0 is out of range; allowed: > 0"):
        definition.resolve_options({"scale": 0})
    with pytest.raises(ConfigError, match=r"option dropout=1 is out of range; allowed: in \[0, 1\)"):
        definition.resolve_options({"dropout": 1.0})
    with pytest.raises(ConfigError, match=r"widths=\(0, 8\) holds 0"):
        definition.resolve_options({"widths": [0, 8]})


def test_explicit_bounds_win_and_must_name_options():
    definition = declared_space("tiny-bounded", Tiny, option_bounds={"scale": Bounds(1, 4)})
    with pytest.raises(ConfigError, match=r"allowed: in \[1, 4\]"):
        definition.resolve_options({"scale": 0.5})
    with pytest.raises(ConfigError, match="bounds for depth, which are not options"):
        declared_space("tiny-bounded", Tiny, option_bounds={"depth": AT_LEAST_ONE})
    with pytest.raises(ConfigError, match="option scale=1 is out of range.*the space's own default breaks"):
        declared_space("tiny-bounded", Tiny, option_bounds={"scale": Bounds(2, 4)})


# 0 means something here: no pruning; a depth choice that skips a stack (ElasticStack allows depth 0).
ZERO_MEANS_SOMETHING = {("lora", "sparsity"), ("transformer_lm", "depths"), ("vit", "depths"),
                        ("mobilenetv3", "depths"), ("macro_chain", "stages")}


def test_a_depth_choice_of_zero_still_builds():
    for name, key in [("transformer_lm", "depths"), ("vit", "depths"), ("mobilenetv3", "depths")]:
        definition = REGISTRY[name]()
        space = definition.make_space(**definition.resolve_options({key: [0, 1]}))
        depth = next(d for d in space.decisions if d.name.endswith("depth"))
        assert 0 in depth.values, (name, depth)


def _numeric_options():
    for name in sorted(REGISTRY):
        for key, default in REGISTRY[name]().default_options.items():
            numbers = default if isinstance(default, tuple) else (default,)
            if numbers and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers):
                for bad in (0, -1):
                    if not (bad == 0 and (name, key) in ZERO_MEANS_SOMETHING):
                        yield pytest.param(name, key, isinstance(default, tuple), bad, id=f"{name}.{key}={bad}")


@pytest.mark.parametrize(("space", "key", "is_tuple", "bad"), list(_numeric_options()))
def test_every_shipped_numeric_option_refuses_zero_and_negatives_in_one_line(space, key, is_tuple, bad):
    """Zero or a negative count, width or size either builds nothing or builds something silently wrong
    (make_divisible rounds a negative width up, a zero-class head trains on nothing); each shipped
    option says so in one error instead of a negative shape deep inside JAX."""
    definition = REGISTRY[space]()
    value = (bad,) if is_tuple else bad
    with pytest.raises(WeftError, match=key if space != "gnn" or key not in ("min_layers", "max_layers") else "layers"):
        options = definition.resolve_options({key: value})
        definition.make_space(**options)


@dataclasses.dataclass(frozen=True)
class Plan:
    steps: PositiveInt = 10
    seed: NonNegativeInt = 0
    note: str = ""


def test_a_config_field_with_bounds_is_checked_when_the_config_is_read():
    assert from_dict(Plan, {"steps": 3, "seed": 1}) == Plan(3, 1)
    with pytest.raises(ConfigError, match="plan: option steps=0 is out of range; allowed: >= 1"):
        from_dict(Plan, {"steps": 0}, "plan")
    with pytest.raises(ConfigError, match="plan: steps must be int"):  # the type is read through Annotated
        from_dict(Plan, {"steps": "many"}, "plan")
