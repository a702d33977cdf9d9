"""Parameter declarations: validation of every kind, with messages naming the parameter."""

import math

import pytest

from graph.params import Bool, Choice, Float, Int, ParamError, Text, Tuple


def test_int_bounds_specials_and_integral_floats():
    p = Int("padding", 0, 0, 8, specials=("same",))
    assert p.check(3) == 3
    assert p.check(2.0) == 2 and isinstance(p.check(2.0), int)
    assert p.check("same") == "same"
    with pytest.raises(ParamError, match="'padding' must be between 0 and 8; got 9"):
        p.check(9)
    with pytest.raises(ParamError, match="whole number or one of same"):
        p.check("valid")
    with pytest.raises(ParamError):
        p.check(True)  # a bool is not a count


def test_float_refuses_nan_and_out_of_range():
    p = Float("lr", 1e-3, 1e-7, 10)
    assert p.check(1) == 1.0
    with pytest.raises(ParamError, match="finite"):
        p.check(math.nan)
    with pytest.raises(ParamError, match="between"):
        p.check(11.0)


def test_choice_bool_tuple_text():
    assert Choice("mode", "a", ("a", "b")).check("b") == "b"
    with pytest.raises(ParamError, match="one of a, b"):
        Choice("mode", "a", ("a", "b")).check("c")
    assert Bool("bias", True).check(False) is False
    with pytest.raises(ParamError):
        Bool("bias", True).check(1)
    shape = Tuple("shape", (4, 4), 1, 100, allow_minus_one=True)
    assert shape.check([2, -1]) == (2, -1)
    with pytest.raises(ParamError, match="at most once"):
        shape.check([-1, -1])
    with pytest.raises(ParamError, match="entries"):
        Tuple("dims", (1,), 1, 3, length=(1, 2)).check([1, 2, 3])
    assert Text("path", "").check("data/x.csv") == "data/x.csv"
    with pytest.raises(ParamError, match="one line"):
        Text("path", "").check("a\nb")


def test_bad_default_is_caught_at_declaration():
    with pytest.raises(ParamError):
        Int("n", 0, 1, 5)
