"""Meta verify tokens are looked up by hash, so the token itself lives only in Secrets Manager."""

from __future__ import annotations

import hashlib


def verify_token_hash(token: str) -> str:
    """SHA-256 hex digest (64 lower-case hex chars) of a Meta webhook verify token."""
    return hashlib.sha256(token.encode()).hexdigest()
