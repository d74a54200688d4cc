"""Kintone numbers (strings on the wire) as JSON numbers: no digit is ever lost, and the fast paths for whole
numbers and doubles give what the exact Decimal rule gives."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from hypothesis import given, settings
from hypothesis import strategies as st

from tables_mcp.backends.kintone import kintone_number


def test_number_precision_is_never_lost() -> None:
    assert kintone_number("42") == 42 and isinstance(kintone_number("42"), int)
    assert kintone_number("1.50") == 1.5 and kintone_number("-0.1") == -0.1
    assert kintone_number("12345678901234567890") == "12345678901234567890"
    assert kintone_number("0.12345678901234567890") == "0.12345678901234567890"
    assert kintone_number("") is None and kintone_number("abc") == "abc"


def _exact_number(text: str) -> int | float | str:
    """The rule, stated with Decimal: a whole number a double holds, else the double that is exactly the text,
    else the text."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    if number == number.to_integral_value():
        return int(number) if abs(int(number)) <= 2**53 else text
    return float(number) if Decimal(repr(float(number))) == number else text


EDGE_NUMBERS = ["-0", "-0.0", "0.0", "1e-07", "1e+16", "nan", "inf", "-Infinity", " 12", "+5", "0012", "١٢", "1_000"]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.sampled_from([*EDGE_NUMBERS, "9007199254740992", "9007199254740993", "0.30000000000000004", "1,000"]),
        st.integers(-(10**20), 10**20).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    )
)
def test_number_fast_paths_agree_with_the_exact_rule(text: str) -> None:
    """Whole numbers and doubles written as their repr skip the Decimal: they must give what it gives, type and all
    (-0.0 is the whole number 0, nan stays text)."""
    expected, got = _exact_number(text), kintone_number(text)
    assert (type(got), repr(got)) == (type(expected), repr(expected))
