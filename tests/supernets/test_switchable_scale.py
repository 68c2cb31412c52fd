import jax.numpy as jnp
import numpy as np
import pytest

from supernets.decisions import NestedWidth, OneOf
from supernets.switchable_scale import SwitchableScale


def scale_with_rows(choices, width=4):
    scale = SwitchableScale(choices, width)
    rows = np.arange(1, len(choices.values) + 1)[:, None] * np.ones((1, width))  # row i holds i + 1
    scale.table.set_value(jnp.asarray(rows, jnp.float32))
    return scale


def test_the_row_follows_the_choice_static_or_traced_and_none_is_the_largest_value():
    scale = scale_with_rows(OneOf((2, 1, 4), name="heads"))   # declared out of order on purpose
    y = jnp.ones((2, 4))
    assert float(scale(y, 1)[0, 0]) == 2.0 and float(scale(y, jnp.int32(4))[0, 0]) == 3.0
    assert float(scale(y)[0, 0]) == 3.0   # the largest value's row, wherever it is declared
    assert scale(jnp.ones((2, 3)), 2).shape == (2, 3)  # cut to the active channels


def test_a_subnet_keeps_its_choice_row_cut_to_its_width_and_undeclared_choices_are_refused():
    scale = scale_with_rows(NestedWidth(widths=(8, 16), name="ffn"), width=4)
    sliced = scale.sliced(16, 3)
    np.testing.assert_array_equal(sliced.table[...], np.full((1, 3), 2.0))
    assert float(sliced(jnp.ones((1, 3)))[0, 0]) == 2.0
    np.testing.assert_array_equal(scale.active({"ffn": 8}).table[...], np.ones((1, 4)))
    with pytest.raises(ValueError, match="choice 12 is not one of the declared values \\[8, 16\\]"):
        scale.sliced(12, 3)
    with pytest.raises(ValueError, match="choice 12 is not one of"):
        scale(jnp.ones((1, 4)), 12)
