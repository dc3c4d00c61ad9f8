"""leadtide.models.text: finding, refusing and replacing lone UTF-16 surrogates in decoded JSON."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadtide.models.errors import InvalidTextError, MalformedJsonError
from leadtide.models.text import (
    MAX_REPORTED,
    encode_utf8,
    loads_valid_text,
    lone_surrogate_fields,
    reject_invalid_text,
    replace_invalid_text,
)


def test_paths_name_values_keys_and_list_items_in_document_order():
    doc = {"a": "ok", "b": ["x", "y\ud800"], "c": {"d\udfff": 1, "e": {"f": "\udc00"}}, "g": 5}
    assert lone_surrogate_fields(doc) == ["b.1", "c.d\\udfff", "c.e.f"]
    assert lone_surrogate_fields("\ud800") == [""]
    assert lone_surrogate_fields({"emoji": "\U0001f30a", "n": None, "f": 1.5}) == []


def test_a_deep_document_is_walked_without_recursion():
    node: object = "\ud800"
    for _ in range(5_000):
        node = [node]
    assert lone_surrogate_fields(node) == [".".join(["0"] * 5_000)]


def test_refusal_names_every_field_and_is_a_422():
    with pytest.raises(InvalidTextError) as caught:
        reject_invalid_text({"name": "a\ud800", "custom_fields": {"note": "\udbff"}})
    err = caught.value
    assert (err.status_code, err.code) == (422, "invalid_text")
    assert [d["field"] for d in err.details] == ["name", "custom_fields.note"]
    json.dumps(err.details, ensure_ascii=False).encode("utf-8")  # the error itself is valid text
    with pytest.raises(InvalidTextError) as many:
        reject_invalid_text([f"\ud800{i}" for i in range(MAX_REPORTED + 5)])
    assert len(many.value.details) == MAX_REPORTED and "(+5 more)" in many.value.message
    with pytest.raises(InvalidTextError) as whole:
        reject_invalid_text("\ud800")
    assert whole.value.details[0]["field"] == "body"


def test_loader_refuses_escapes_and_keeps_pairs_and_ordinary_documents():
    assert loads_valid_text('{"a": "surf \\ud83c\\udf0a", "n": 1}') == {"a": "surf \U0001f30a", "n": 1}
    with pytest.raises(InvalidTextError):
        loads_valid_text('{"a": "\\uD800"}')
    with pytest.raises(MalformedJsonError):  # a ValueError, as JSONDecodeError is: the API's 400
        loads_valid_text("{oops")


def test_replacement_keeps_types_and_replaces_values_and_keys():
    doc = {"text": "hi \ud800", "k\udc00": [1, 2.5, True, None, {"x": "\ud800\ud800"}]}
    assert replace_invalid_text(doc) == {
        "text": "hi \ufffd",
        "k\ufffd": [1, 2.5, True, None, {"x": "\ufffd\ufffd"}],
    }
    clean = {"a": ["b"]}
    assert replace_invalid_text(clean) is clean


@given(st.text())
def test_encode_utf8_equals_utf8_with_surrogates_as_u_fffd(text):
    expected = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text).encode("utf-8")
    assert encode_utf8(text) == expected
