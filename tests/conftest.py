"""Fixtures shared by every test layer."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = REPO_ROOT / "tests" / "events"
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
"""``../shared/data`` beside the repo: real provider payloads handed to the project (not the product)."""


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; tests that use it are skipped when it is absent (e.g. a bare checkout)."""
    if not SHARED_DATA_DIR.is_dir():
        pytest.skip(f"real provider data not available: {SHARED_DATA_DIR} does not exist")
    return SHARED_DATA_DIR
