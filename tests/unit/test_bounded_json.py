"""leadtide.models.bounded_json: JSON from outside decoded within size, depth and number bounds."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadtide.models.bounded_json import (
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    load_json,
    nests_deeper_than,
)
from leadtide.models.errors import MalformedJsonError, PayloadTooLargeError
from leadtide.models.text import loads_valid_text

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(JSON_VALUES)
def test_within_the_bounds_it_is_json_loads(value):
    text = json.dumps(value)
    assert load_json(text) == json.loads(text)
    assert load_json(text.encode()) == json.loads(text)


@given(JSON_VALUES, st.integers(min_value=0, max_value=8))
def test_the_depth_check_is_exact_for_valid_json(value, limit):
    assert nests_deeper_than(json.dumps(value), limit) == (_depth(value) > limit)


def test_brackets_inside_strings_do_not_count_and_escapes_are_followed():
    assert not nests_deeper_than(json.dumps(["[" * 500, '\\"[[[[', "{" * 100]), 2)
    assert nests_deeper_than('["\\\\"' + ",[" * 3 + "]" * 3 + "]", 3)  # "\\" ends the string


@pytest.mark.parametrize(
    "text",
    [
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1),
        "[" * 100_000,  # unterminated: a decoder would recurse before failing
        "[[]" * 100 + "]" * 100,  # no run of openers, but 101 deep
    ],
)
def test_too_deep_is_a_400_before_decoding(text):
    with pytest.raises(MalformedJsonError) as caught:
        load_json(text)
    err = caught.value
    assert (err.status_code, err.code) == (400, "malformed_json")
    assert "nest more than 64 levels" in err.details[0]["problem"]


def test_exactly_at_the_depth_limit_is_accepted():
    assert _depth(load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH)) == MAX_DEPTH


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("9" * 5000, "a number of 5000 characters"),
        ("[-" + "1" * (MAX_NUMBER_CHARS) + "]", f"a number of {MAX_NUMBER_CHARS + 1} characters"),
        ("0." + "1" * 200, "a number of 202 characters"),
        ("1e999", "outside the range of a double"),
        ("[-1e400]", "outside the range of a double"),
        ("NaN", "NaN is not permitted"),
        ('{"a": -Infinity}', "-Infinity is not permitted"),
    ],
)
def test_numbers_too_large_or_not_json_are_a_400(text, problem):
    with pytest.raises(MalformedJsonError) as caught:
        load_json(text)
    assert problem in caught.value.details[0]["problem"]
    assert isinstance(caught.value, ValueError)  # as JSONDecodeError: callers that catch ValueError hold


def test_a_number_of_the_longest_accepted_length_is_exact():
    literal = "1" * MAX_NUMBER_CHARS
    assert load_json(literal) == int(literal)


def test_not_json_and_not_utf8_are_a_400_naming_the_body():
    for data in ("{", b"\xff\xfe{}", "[1,]"):
        with pytest.raises(MalformedJsonError) as caught:
            load_json(data)
        assert caught.value.details[0]["field"] == "body"
    assert load_json(b"\xef\xbb\xbf[1]") == [1]  # a UTF-8 BOM may be ignored (RFC 8259 8.1)


def test_too_large_is_a_413_counted_in_utf8_bytes():
    assert load_json('"' + "é" * 10 + '"', max_bytes=22) == "é" * 10
    with pytest.raises(PayloadTooLargeError) as caught:
        load_json('"' + "é" * 11 + '"', max_bytes=22)
    assert (caught.value.status_code, caught.value.code) == (413, "payload_too_large")


@pytest.mark.parametrize(
    "text",
    [
        '"' + '\\"' * 1_000_000,  # an unterminated string of escaped quotes: every one could start a string
        "[" * 2_000_000,
        "[[]" * 1_000_000,
        "[]" * 2_000_000,
        '["' + "x" * 4_000_000 + '"]',
    ],
)
def test_the_depth_scan_is_linear_on_hostile_text(text):
    start = time.perf_counter()
    nests_deeper_than(text, MAX_DEPTH)
    assert time.perf_counter() - start < 2.0


def test_the_api_deserializer_is_bounded_and_keeps_the_text_rule():
    with pytest.raises(MalformedJsonError):
        loads_valid_text("[" * 1000 + "]" * 1000)
    with pytest.raises(MalformedJsonError):
        loads_valid_text('{"n": ' + "9" * 5000 + "}")
    assert loads_valid_text('{"a": "\\ud83c\\udf0a"}') == {"a": "\U0001f30a"}
