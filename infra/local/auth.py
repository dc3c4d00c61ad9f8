"""Local stand-in for the Cognito JWT authorizer: HS256 tokens signed with a per-checkout key.

Tokens carry the claims Leadtide reads from a Cognito ID token (``sub``, ``email``,
``custom:tenant_id``, ``custom:role``, ``token_use``). The key is random, made once and kept in
``<repo>/.leadtide/local-signing-key`` (git-ignored, mode 0600) so that ``leadtide local token`` in one
shell makes tokens that ``leadtide local serve`` in another accepts. ``LEADTIDE_LOCAL_KEY_FILE``
overrides the location.

API Gateway's JWT authorizer passes every claim to the integration as a string; :func:`claims_as_strings`
does the same. Source: API Gateway developer guide, "Controlling access to HTTP APIs with JWT authorizers".
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import jwt

from leadtide_local.template import repo_root

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "ROLES",
    "claims_as_strings",
    "issue_token",
    "load_signing_key",
    "signing_key_path",
    "verify_token",
]

ISSUER = "leadtide-local"
AUDIENCE = "leadtide-local"
ROLES = ("admin", "manager", "rep")
_ALGORITHM = "HS256"
_KEY_ENV = "LEADTIDE_LOCAL_KEY_FILE"


def signing_key_path() -> Path:
    """Where the signing key lives: ``$LEADTIDE_LOCAL_KEY_FILE`` or ``<repo>/.leadtide/local-signing-key``."""
    override = os.environ.get(_KEY_ENV)
    if override:
        return Path(override)
    return repo_root() / ".leadtide" / "local-signing-key"


def load_signing_key(path: str | Path | None = None) -> bytes:
    """Return the local HS256 key (32 random bytes, hex-encoded on disk), creating it on first use.

    The file is created with mode 0600 (its directory 0700) and never overwritten; two processes
    racing to create it both end up with the winner's key.

    Args:
        path: the key file; default :func:`signing_key_path`.

    Raises:
        OSError: the file cannot be created or read.
        ValueError: the file exists but is empty.
    """
    file = Path(path) if path is not None else signing_key_path()
    if not file.exists():
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32))
    key = file.read_text(encoding="ascii").strip()
    if not key:
        raise ValueError(f"signing key file {file} is empty: delete it to make a new key")
    return key.encode("ascii")


def issue_token(
    tenant_id: str,
    role: str,
    user_id: str = "local-user",
    email: str | None = None,
    ttl_seconds: int = 43200,
    *,
    key: bytes | None = None,
    now: float | None = None,
) -> str:
    """Make a signed ID token for the local authorizer.

    Claims: ``sub`` = user_id, ``custom:tenant_id``, ``custom:role``, ``email`` (default
    ``f"{user_id}@{tenant_id}.local"``), ``iss`` and ``aud`` = ``"leadtide-local"``, ``iat``, ``exp`` =
    iat + ttl_seconds, ``token_use`` = ``"id"``.

    Args:
        tenant_id: the tenant the user belongs to (non-empty).
        role: ``"admin"``, ``"manager"`` or ``"rep"``.
        user_id: the Cognito ``sub``.
        email: the email claim.
        ttl_seconds: lifetime in seconds (default 12 h).
        key: signing key; default :func:`load_signing_key`.
        now: issue time, epoch seconds (tests); default the current time.

    Raises:
        ValueError: unknown role, or empty tenant/user.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not tenant_id or not user_id:
        raise ValueError("tenant_id and user_id must not be empty")
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": user_id,
        "custom:tenant_id": tenant_id,
        "custom:role": role,
        "email": email or f"{user_id}@{tenant_id}.local",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + int(ttl_seconds),
        "token_use": "id",
    }
    return jwt.encode(claims, key if key is not None else load_signing_key(), algorithm=_ALGORITHM)


def verify_token(token: str, key: bytes) -> dict[str, Any]:
    """Check a token's signature, issuer, audience and expiry; return its claims (original types).

    Raises:
        jwt.InvalidTokenError: (or a subclass such as ``ExpiredSignatureError``) for any failure.
    """
    return jwt.decode(
        token,
        key,
        algorithms=[_ALGORITHM],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "iss", "aud"]},
    )


def claims_as_strings(claims: dict[str, Any]) -> dict[str, str]:
    """Render claims as API Gateway's JWT authorizer does: numbers and booleans as text, lists as
    ``"[a b]"``, objects as JSON.
    """
    rendered: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, bool):
            rendered[name] = "true" if value else "false"
        elif isinstance(value, str):
            rendered[name] = value
        elif isinstance(value, int | float):
            rendered[name] = str(value)
        elif isinstance(value, list):
            rendered[name] = "[" + " ".join(str(item) for item in value) + "]"
        else:
            rendered[name] = json.dumps(value, separators=(",", ":"))
    return rendered
