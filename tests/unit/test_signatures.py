"""leadtide.capture.signatures: Meta X-Hub-Signature-256 and Twilio X-Twilio-Signature.

Real vectors: ../shared/data/webhooks/meta_signed_delivery_pywa.json (+ .body.json) and
twilio_signature_basic.json.
The port-variant vectors are twilio-python's own (tests/unit/test_request_validator.py, MIT).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from leadtide.capture.signatures import (
    meta_signature,
    twilio_signature,
    verify_meta_signature,
    verify_twilio_signature,
)
from leadtide.models.errors import InvalidSignatureError


@pytest.fixture(scope="module")
def meta_vector(shared_data: Path) -> dict[str, Any]:
    webhooks = shared_data / "webhooks"
    vector = json.loads((webhooks / "meta_signed_delivery_pywa.json").read_text())
    vector["body"] = (webhooks / vector["raw_body_file"]).read_bytes()
    return vector


@pytest.fixture(scope="module")
def twilio_vector(shared_data: Path) -> dict[str, Any]:
    return json.loads((shared_data / "webhooks" / "twilio_signature_basic.json").read_text())


def _flip(text: str, i: int) -> str:
    """``text`` with character ``i`` replaced by a different printable ASCII character."""
    replacement = "A" if text[i] != "A" else "B"
    return text[:i] + replacement + text[i + 1 :]


# -- Meta -------------------------------------------------------------------------------------------------


def test_meta_real_vector_verifies(meta_vector: dict[str, Any]) -> None:
    # Given pywa's signed delivery: 511 raw bytes, the app secret and the header Meta sent
    body, secret = meta_vector["body"], meta_vector["app_secret"]
    header = meta_vector["headers"]["X-Hub-Signature-256"]
    # When the signature is computed and verified
    # Then it equals the header and verification passes
    assert len(body) == 511
    assert body == meta_vector["raw_body"].encode("utf-8")
    assert meta_signature(body, secret) == header
    verify_meta_signature(body, header, secret)


def test_meta_upper_case_hex_and_whitespace_accepted(meta_vector: dict[str, Any]) -> None:
    # Given the real header with upper-case hex and surrounding spaces
    header = meta_vector["headers"]["X-Hub-Signature-256"]
    shouted = " sha256=" + header.split("=", 1)[1].upper() + " "
    # When verified, Then it passes
    verify_meta_signature(meta_vector["body"], shouted, meta_vector["app_secret"])


def test_meta_any_one_byte_change_of_body_fails(meta_vector: dict[str, Any]) -> None:
    # Given the real vector
    body, secret = meta_vector["body"], meta_vector["app_secret"]
    header = meta_vector["headers"]["X-Hub-Signature-256"]
    # When each byte of the body in turn is changed
    for i in range(len(body)):
        tampered = bytearray(body)
        tampered[i] ^= 0x01
        # Then verification fails with a mismatch
        with pytest.raises(InvalidSignatureError, match="does not match the request body"):
            verify_meta_signature(bytes(tampered), header, secret)


def test_meta_appended_or_reserialised_body_fails(meta_vector: dict[str, Any]) -> None:
    # Given the body with a trailing newline, and the same JSON re-serialised
    body, secret = meta_vector["body"], meta_vector["app_secret"]
    header = meta_vector["headers"]["X-Hub-Signature-256"]
    reserialised = json.dumps(json.loads(body)).encode()
    # When verified, Then both fail: the signature covers the exact bytes
    for candidate in (body + b"\n", reserialised):
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_meta_signature(candidate, header, secret)


def test_meta_any_one_character_change_of_secret_or_header_fails(meta_vector: dict[str, Any]) -> None:
    # Given the real vector
    body, secret = meta_vector["body"], meta_vector["app_secret"]
    header = meta_vector["headers"]["X-Hub-Signature-256"]
    # When each character of the secret, and each hex digit of the header, is changed
    # Then verification fails
    for i in range(len(secret)):
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_meta_signature(body, header, _flip(secret, i))
    for i in range(len("sha256="), len(header)):
        tampered = header[:i] + ("0" if header[i] != "0" else "1") + header[i + 1 :]
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_meta_signature(body, tampered, secret)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, "the X-Hub-Signature-256 header is missing"),
        ("", "the X-Hub-Signature-256 header is missing"),
        ("   ", "the X-Hub-Signature-256 header is missing"),
        ("sha1=2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", "must use the sha256= scheme, got 'sha1'"),
        ("54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441", "must use the sha256= scheme"),
        ("sha256=", "does not match the request body"),
        ("sha256=zz", "does not match the request body"),
        ("sha256=\u00e9\u00e9", "does not match the request body"),
    ],
)
def test_meta_bad_headers_name_the_problem(
    meta_vector: dict[str, Any], header: str | None, problem: str
) -> None:
    # Given a missing, wrongly-schemed or wrong header
    # When verified, Then InvalidSignatureError (401) says what is wrong
    with pytest.raises(InvalidSignatureError) as exc_info:
        verify_meta_signature(meta_vector["body"], header, meta_vector["app_secret"])
    assert problem in exc_info.value.message
    assert exc_info.value.status_code == 401
    assert exc_info.value.code == "invalid_signature"


def test_meta_signature_shape_without_shared_data() -> None:
    # Given a body and secret, When signed, Then "sha256=" + lowercase hex HMAC-SHA256
    expected = hmac.new(b"s3cret-s3cret-s3cret", b'{"a":1}', hashlib.sha256).hexdigest()
    assert meta_signature(b'{"a":1}', "s3cret-s3cret-s3cret") == "sha256=" + expected


def test_meta_empty_secret_is_a_configuration_error() -> None:
    # Given an empty app secret, When used, Then ValueError (never "valid")
    with pytest.raises(ValueError, match="app_secret must be a non-empty string"):
        verify_meta_signature(b"{}", "sha256=00", "")


# -- Twilio -----------------------------------------------------------------------------------------------


def test_twilio_real_vector_verifies(twilio_vector: dict[str, Any]) -> None:
    # Given twilio-python's vector
    url, token, p = twilio_vector["url"], twilio_vector["auth_token"], twilio_vector["params"]
    header = twilio_vector["headers"]["X-Twilio-Signature"]
    # When computed and verified, Then it matches
    assert twilio_signature(url, p, token) == header
    verify_twilio_signature(url, p, header, token)


def test_twilio_pairs_in_any_order_give_the_same_signature(twilio_vector: dict[str, Any]) -> None:
    # Given the params as (name, value) pairs in reverse order
    pairs = list(reversed(list(twilio_vector["params"].items())))
    # When signed, Then sorting makes the order irrelevant
    assert (
        twilio_signature(twilio_vector["url"], pairs, twilio_vector["auth_token"])
        == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


def test_twilio_repeated_names_sorted_by_value() -> None:
    # Given a repeated parameter name in either order (and as a parse_qs list)
    url, token = "https://example.com/hook", "tok-tok-tok-tok-1"
    expected = base64.b64encode(
        hmac.new(token.encode(), (url + "a1a2b0").encode(), hashlib.sha1).digest()
    ).decode()
    # When signed, Then values of one name are sorted like twilio-python does
    assert twilio_signature(url, [("b", "0"), ("a", "2"), ("a", "1")], token) == expected
    assert twilio_signature(url, [("a", "1"), ("a", "2"), ("b", "0")], token) == expected
    assert twilio_signature(url, {"a": ["2", "1"], "b": "0"}, token) == expected  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        # twilio-python test_validation_removes_port_on_https: signed without the port
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        # test_validation_removes_port_on_http: signed with port 1234 as given
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        # test_validation_adds_port_on_https: signed with :443
        ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        # test_validation_adds_port_on_http: signed with :80
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_twilio_port_variants(twilio_vector: dict[str, Any], url: str, signature: str) -> None:
    # Given twilio-python's port vectors, When verified, Then each passes
    verify_twilio_signature(url, twilio_vector["params"], signature, twilio_vector["auth_token"])


def test_twilio_port_removal_keeps_credentials() -> None:
    # Given a URL with basic-auth credentials and a port, signed without the port
    token = "tok-tok-tok-tok-1"
    signed = twilio_signature("https://user:pw@example.com/hook", {"Body": "hi"}, token)
    # When verified against the URL with the port, Then it passes (credentials kept)
    verify_twilio_signature("https://user:pw@example.com:8443/hook", {"Body": "hi"}, signed, token)


def test_twilio_any_one_character_change_fails(twilio_vector: dict[str, Any]) -> None:
    # Given the real vector
    url, token, p = twilio_vector["url"], twilio_vector["auth_token"], twilio_vector["params"]
    header = twilio_vector["headers"]["X-Twilio-Signature"]
    # When one character of the URL, of any parameter name or value, or of the token changes
    # Then verification fails
    for i in range(len(url)):
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_twilio_signature(_flip(url, i), p, header, token)
    for name, value in p.items():
        for i in range(len(value)):
            with pytest.raises(InvalidSignatureError, match="does not match"):
                verify_twilio_signature(url, p | {name: _flip(value, i)}, header, token)
        for i in range(len(name)):
            renamed = {(_flip(name, i) if k == name else k): v for k, v in p.items()}
            with pytest.raises(InvalidSignatureError, match="does not match"):
                verify_twilio_signature(url, renamed, header, token)
    for i in range(len(token)):
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_twilio_signature(url, p, header, _flip(token, i))


def test_twilio_added_or_removed_parameter_fails(twilio_vector: dict[str, Any]) -> None:
    # Given the real vector with one extra or one fewer parameter
    url, token, p = twilio_vector["url"], twilio_vector["auth_token"], twilio_vector["params"]
    header = twilio_vector["headers"]["X-Twilio-Signature"]
    fewer = {k: v for k, v in p.items() if k != "Digits"}
    # When verified, Then both fail
    for candidate in (p | {"Extra": "1"}, fewer):
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_twilio_signature(url, candidate, header, token)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, "the X-Twilio-Signature header is missing"),
        ("", "the X-Twilio-Signature header is missing"),
        ("RSOYDt4T1cUTdK1PDd93/VVr8B8", "does not match the request URL and parameters"),
        ("rsoydt4t1cutdk1pdd93/vvr8b8=", "does not match the request URL and parameters"),
    ],
)
def test_twilio_bad_headers_name_the_problem(
    twilio_vector: dict[str, Any], header: str | None, problem: str
) -> None:
    # Given a missing or wrong signature header
    # When verified, Then InvalidSignatureError says what is wrong
    with pytest.raises(InvalidSignatureError) as exc_info:
        verify_twilio_signature(
            twilio_vector["url"], twilio_vector["params"], header, twilio_vector["auth_token"]
        )
    assert problem in exc_info.value.message


def test_twilio_empty_token_is_a_configuration_error() -> None:
    # Given an empty auth token, When used, Then ValueError
    with pytest.raises(ValueError, match="auth_token must be a non-empty string"):
        verify_twilio_signature("https://example.com", {}, "x", "")
