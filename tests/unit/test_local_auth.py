"""leadtide_local.auth: local ID tokens, the signing key file, claims as API Gateway passes them."""

from __future__ import annotations

import stat

import jwt
import pytest

from leadtide_local.auth import (
    claims_as_strings,
    issue_token,
    load_signing_key,
    signing_key_path,
    verify_token,
)

KEY = b"k" * 32


def test_token_carries_the_cognito_style_claims():
    # Given a tenant, role and user
    # When issuing a token at a fixed time
    token = issue_token("acme", "manager", "u-1", ttl_seconds=60, key=KEY, now=2_000_000_000)
    # Then it verifies with the same key and carries exactly the expected claims
    claims = jwt.decode(
        token,
        KEY,
        algorithms=["HS256"],
        audience="leadtide-local",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {
        "sub": "u-1",
        "custom:tenant_id": "acme",
        "custom:role": "manager",
        "email": "u-1@acme.local",
        "iss": "leadtide-local",
        "aud": "leadtide-local",
        "iat": 2_000_000_000,
        "exp": 2_000_000_060,
        "token_use": "id",
    }
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_explicit_email_is_used():
    token = issue_token("acme", "rep", email="ana@acme.test", key=KEY)
    assert verify_token(token, KEY)["email"] == "ana@acme.test"


@pytest.mark.parametrize("role", ["owner", "Admin", ""])
def test_unknown_roles_are_refused(role):
    # Given a role outside admin|manager|rep / When issuing / Then ValueError
    with pytest.raises(ValueError, match="role must be one of"):
        issue_token("acme", role, key=KEY)


def test_verification_rejects_expired_foreign_and_mis_addressed_tokens():
    # Given tokens that are expired, signed elsewhere, or for another audience
    expired = issue_token("acme", "rep", key=KEY, ttl_seconds=1, now=1_000)
    foreign = issue_token("acme", "rep", key=b"x" * 32)
    other_audience = jwt.encode(
        {"aud": "someone-else", "iss": "leadtide-local", "exp": 4_000_000_000}, KEY, algorithm="HS256"
    )
    unsigned = jwt.encode(
        {"aud": "leadtide-local", "iss": "leadtide-local", "exp": 4_000_000_000}, None, algorithm="none"
    )
    # When verifying / Then each is refused
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_token(expired, KEY)
    with pytest.raises(jwt.InvalidSignatureError):
        verify_token(foreign, KEY)
    with pytest.raises(jwt.InvalidAudienceError):
        verify_token(other_audience, KEY)
    with pytest.raises(jwt.InvalidTokenError):
        verify_token(unsigned, KEY)


def test_signing_key_is_created_once_private_and_reused(tmp_path):
    # Given no key file yet
    path = tmp_path / ".leadtide" / "local-signing-key"
    # When loading twice
    first = load_signing_key(path)
    second = load_signing_key(path)
    # Then the same random key comes back, readable by the owner only
    assert first == second and len(first) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # And a token made with it (another shell) verifies with it (the server)
    assert verify_token(issue_token("t", "admin", key=first), second)["sub"] == "local-user"


def test_key_location_can_be_overridden(tmp_path, monkeypatch):
    # Given LEADTIDE_LOCAL_KEY_FILE / Then it is where the key lives
    monkeypatch.setenv("LEADTIDE_LOCAL_KEY_FILE", str(tmp_path / "k"))
    assert signing_key_path() == tmp_path / "k"
    monkeypatch.delenv("LEADTIDE_LOCAL_KEY_FILE")
    assert signing_key_path().parts[-2:] == (".leadtide", "local-signing-key")


def test_an_empty_key_file_is_an_error(tmp_path):
    (tmp_path / "k").write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_signing_key(tmp_path / "k")


def test_claims_are_rendered_as_api_gateway_does():
    # Given claims of several JSON types / When rendered / Then all are strings
    assert claims_as_strings({"s": "x", "n": 3, "b": False, "l": ["admin", "rep"], "o": {"a": 1}}) == {
        "s": "x",
        "n": "3",
        "b": "false",
        "l": "[admin rep]",
        "o": '{"a":1}',
    }
