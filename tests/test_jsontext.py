"""jsontext.indented writes what json.dumps(value, indent=2) writes, for any JSON value."""

from __future__ import annotations

import enum
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assetlake.jsontext import indented

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
keys = st.text() | st.integers() | st.floats() | st.booleans() | st.none()
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=30,
)


@given(values)
def test_indented_is_json_dumps_with_indent_2(value: object) -> None:
    assert indented(value) == json.dumps(value, indent=2)


class Level(enum.StrEnum):
    RAW = "raw"


class Count(enum.IntEnum):
    ONE = 1


def test_the_odd_values_json_accepts() -> None:
    odd = [math.nan, math.inf, -math.inf, -0.0, 1e300, Level.RAW, Count.ONE, {Count.ONE: [], 2.5: {}},
           "caf\u00e9 \u2028 \x1b \ud83d", {"": [[]]}, ()]  # fmt: skip
    assert indented(odd) == json.dumps(odd, indent=2)


@pytest.mark.parametrize("value", [object(), {(1, 2): 3}, [b"bytes"]])
def test_what_json_refuses_is_refused(value: object) -> None:
    with pytest.raises(TypeError):
        json.dumps(value, indent=2)
    with pytest.raises(TypeError):
        indented(value)
