"""Path-aware accessors for provider JSON: every error names the exact JSON path that is wrong.

Used by the WhatsApp Cloud API and Instagram parsers, so a malformed delivery gets a 400 such as
``entry[0].changes[1].value.metadata.phone_number_id is missing``.
"""

from __future__ import annotations

from typing import Any

from leadtide.models.errors import MalformedPayloadError


def as_dict(value: Any, path: str) -> dict[str, Any]:
    """``value`` as an object. Raises MalformedPayloadError when it is missing or not an object."""
    if value is None:
        raise MalformedPayloadError(f"{path} is missing")
    if not isinstance(value, dict):
        raise MalformedPayloadError(f"{path} must be an object, got {type(value).__name__}")
    return value


def as_list(value: Any, path: str) -> list[Any]:
    """``value`` as a list. Raises MalformedPayloadError when it is missing or not a list."""
    if value is None:
        raise MalformedPayloadError(f"{path} is missing")
    if not isinstance(value, list):
        raise MalformedPayloadError(f"{path} must be a list, got {type(value).__name__}")
    return value


def opt_dict(obj: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    """``obj[key]`` as an object, or None when absent. Raises MalformedPayloadError for another type."""
    value = obj.get(key)
    return None if value is None else as_dict(value, f"{path}.{key}")


def opt_list(obj: dict[str, Any], key: str, path: str) -> list[Any]:
    """``obj[key]`` as a list, or ``[]`` when absent. Raises MalformedPayloadError for another type."""
    value = obj.get(key)
    return [] if value is None else as_list(value, f"{path}.{key}")


def opt_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    """``obj[key]`` as text (numbers become text), None when absent or empty.

    Raises:
        MalformedPayloadError: the value is a boolean, object or list.
    """
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedPayloadError(f"{path}.{key} must be a string, got {type(value).__name__}")
    return str(value)


def req_str(obj: dict[str, Any], key: str, path: str) -> str:
    """``obj[key]`` as text. Raises MalformedPayloadError when absent, empty or of another type."""
    value = opt_str(obj, key, path)
    if value is None:
        raise MalformedPayloadError(f"{path}.{key} is missing")
    return value
