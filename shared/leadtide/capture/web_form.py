"""Web form submissions (``POST /forms/{form_id}/submissions``) -> one inbound FORM_SUBMISSION message.

The form's definition (``ChannelRoute.form_fields``, built from ``WebFormChannelCreate``) is the schema:
every submitted key must be one of its fields, a known attribution parameter, or the honeypot. All
problems are collected and reported together, so a form can show every error at once.

Values arrive from JSON bodies (strings, numbers, booleans) or urlencoded bodies (strings, lists for
repeated keys); both are accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from leadtide.capture.identity import InvalidEmailError, InvalidPhoneError, normalize_email, normalize_phone
from leadtide.models.channels import ChannelRoute, FormField, FormFieldType
from leadtide.models.common import ChannelType
from leadtide.models.errors import UnprocessableError
from leadtide.models.messages import InboundMessage, MessageKind, SenderIdentity

ATTRIBUTION_FIELDS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "fbclid",
    "page_url",
    "referrer",
)
"""Submission keys accepted on every form and kept in ``form_fields`` as attribution (max 2000 chars)."""

_ATTRIBUTION_MAX_LENGTH = 2000
_SENDER_ATTRIBUTES = ("first_name", "last_name", "name", "email", "phone", "company")
_TRUE = frozenset({"true", "on", "1", "yes"})
_FALSE = frozenset({"false", "off", "0", "no"})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class _Problem(Exception):
    """One field's problem, turned into a ``details`` entry."""


def _filled(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(_filled(v) for v in value)
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


def _single(value: Any) -> str | bool | int | float | None:
    """The one submitted value (``None`` when absent or blank)."""
    if isinstance(value, list | tuple):
        present = [v for v in value if _filled(v)]
        if len(present) > 1:
            raise _Problem(f"expected one value, got {len(present)}")
        value = present[0] if present else None
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool | int | float):
        return value
    raise _Problem(f"must be a single value, got {type(value).__name__}")


def _text(value: str | bool | int | float, field: FormField) -> str:
    if isinstance(value, bool):
        raise _Problem("must be text, got a boolean")
    text = value if isinstance(value, str) else str(value)
    if len(text) > field.max_length:
        raise _Problem(f"must be at most {field.max_length} characters, got {len(text)}")
    return text


def _clean(field: FormField, value: str | bool | int | float, default_region: str | None) -> Any:
    """The typed, normalised value of one field; raises ``_Problem`` naming what is wrong."""
    kind = field.type
    if kind == FormFieldType.CHECKBOX:
        return _checkbox(value, field)
    if kind == FormFieldType.NUMBER:
        return _number(value)
    text = _text(value, field)
    if kind == FormFieldType.EMAIL:
        try:
            return normalize_email(text)
        except InvalidEmailError as exc:
            raise _Problem(exc.message) from exc
    if kind == FormFieldType.PHONE:
        try:
            return normalize_phone(text, default_region=default_region, strict=True)
        except InvalidPhoneError as exc:
            raise _Problem(exc.message) from exc
    if kind == FormFieldType.URL:
        return _url(text)
    if kind == FormFieldType.SELECT and text not in (field.options or []):
        raise _Problem(f"must be one of: {', '.join(field.options or [])}")
    return text  # select, text, textarea


def _checkbox(value: str | bool | int | float, field: FormField) -> bool:
    """true/false, on/off, yes/no or 1/0 (any case) as a bool; a required checkbox must be checked."""
    if isinstance(value, bool):
        checked = value
    elif str(value).lower() in _TRUE:
        checked = True
    elif str(value).lower() in _FALSE:
        checked = False
    else:
        raise _Problem("must be a checkbox value: true/false, on/off, yes/no or 1/0")
    if field.required and not checked:
        raise _Problem("must be checked")
    return checked


def _number(value: str | bool | int | float) -> float:
    """A finite number (a JSON number, or text in plain decimal notation)."""
    if isinstance(value, bool):
        raise _Problem("must be a number, got a boolean")
    if isinstance(value, str) and not _NUMBER.match(value):
        raise _Problem("must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise _Problem("must be a finite number")
    return number


def _url(text: str) -> str:
    """``text`` when it is an http(s) URL with a host and no whitespace."""
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise _Problem("must be an http or https URL with a host") from None
    if parts.scheme.lower() not in ("http", "https") or not host or any(c.isspace() for c in text):
        raise _Problem("must be an http or https URL with a host")
    return text


def parse_form_submission(
    fields: Mapping[str, Any],
    route: ChannelRoute,
    *,
    submission_id: str,
    received_at: datetime,
    default_region: str | None,
) -> InboundMessage | None:
    """Validate a web form submission against its form and build the FORM_SUBMISSION message.

    ``fields`` maps submitted keys to values: strings, JSON numbers/booleans, or lists of those for
    repeated urlencoded keys (each field takes one value; blank strings count as absent).

    Returns ``None`` when the form's ``honeypot_field`` is filled (a bot: acknowledge and discard).
    Otherwise every form field is checked: ``required`` present and non-blank; ``max_length`` (text);
    by type, ``email`` -> ``normalize_email``, ``phone`` -> ``normalize_phone(strict=True,
    default_region)``, ``number`` -> finite float, ``url`` -> http(s) with a host, ``select`` -> one of
    ``options``, ``checkbox`` -> bool from true/false/on/off/yes/no/1/0 (a required checkbox must be
    checked), ``text``/``textarea`` -> str. ``ATTRIBUTION_FIELDS`` are kept as given; any other key is
    an error. The submission must carry an email or a phone, or the lead cannot be identified.

    The message: ``kind=FORM_SUBMISSION``, ``channel_type=WEB_FORM``, ``provider_message_id=submission_id``,
    ``occurred_at=received_at``; ``sender`` filled from fields whose ``maps_to`` is first_name,
    last_name, name, email, phone or company (the first filled field wins); ``text`` is the field
    mapped to ``message``; ``form_fields`` holds every cleaned value and the attribution.

    Raises:
        UnprocessableError: (HTTP 422) ``message="form submission is invalid"``, ``details`` a list of
            ``{"field": name, "problem": "..."}`` with every problem found.
        ValueError: ``route`` has no ``form_fields`` or ``received_at`` is naive (caller bugs).
    """
    if not route.form_fields:
        raise ValueError("route has no form_fields: not a web form channel")
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    honeypot = route.honeypot_field
    if honeypot and _filled(fields.get(honeypot)):
        return None

    problems: list[dict[str, Any]] = []
    cleaned = _clean_form_fields(route.form_fields, fields, default_region, problems)
    cleaned.update(_clean_attribution(fields, problems))
    known = (
        {f.name for f in route.form_fields} | set(ATTRIBUTION_FIELDS) | ({honeypot} if honeypot else set())
    )
    problems.extend(
        {"field": str(key), "problem": "is not a field of this form"} for key in fields if key not in known
    )
    problems.extend(_identity_problems(route.form_fields, cleaned, problems))
    if problems:
        raise UnprocessableError("form submission is invalid", details=problems)
    sender_values, text = _sender_and_text(route.form_fields, cleaned)
    return InboundMessage(
        tenant_id=route.tenant_id,
        channel_id=route.channel_id,
        channel_type=ChannelType.WEB_FORM,
        provider_message_id=submission_id,
        occurred_at=received_at.astimezone(UTC),
        kind=MessageKind.FORM_SUBMISSION,
        sender=SenderIdentity(**sender_values),
        text=text,
        form_fields=cleaned,
        raw_type="form_submission",
    )


def _clean_form_fields(
    form_fields: Sequence[FormField],
    fields: Mapping[str, Any],
    default_region: str | None,
    problems: list[dict[str, Any]],
) -> dict[str, Any]:
    """The cleaned value of each filled form field (:func:`_clean`); a problem for each missing required
    field or bad value is appended to ``problems``."""
    cleaned: dict[str, Any] = {}
    for field in form_fields:
        try:
            value = _single(fields.get(field.name))
            if value is None:
                if field.required:
                    raise _Problem("is required")
                continue
            cleaned[field.name] = _clean(field, value, default_region)
        except _Problem as problem:
            problems.append({"field": field.name, "problem": str(problem)})
    return cleaned


def _clean_attribution(fields: Mapping[str, Any], problems: list[dict[str, Any]]) -> dict[str, str]:
    """The attribution fields given (UTM parameters, referrer, ...), kept as text up to
    ``_ATTRIBUTION_MAX_LENGTH``; a problem for each bad one is appended to ``problems``."""
    cleaned: dict[str, str] = {}
    for name in ATTRIBUTION_FIELDS:
        try:
            value = _single(fields.get(name))
            if value is None:
                continue
            if not isinstance(value, str):
                raise _Problem("must be text")
            if len(value) > _ATTRIBUTION_MAX_LENGTH:
                raise _Problem(f"must be at most {_ATTRIBUTION_MAX_LENGTH} characters, got {len(value)}")
            cleaned[name] = value
        except _Problem as problem:
            problems.append({"field": name, "problem": str(problem)})
    return cleaned


def _identity_problems(
    form_fields: Sequence[FormField], cleaned: Mapping[str, Any], problems: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The problem of a submission that fills none of the form's email/phone fields (unless one of them
    already has a problem of its own): the lead could not be identified."""
    identity_fields = [f.name for f in form_fields if f.maps_to in ("email", "phone")]
    failed = {p["field"] for p in problems}
    if not identity_fields or any(n in cleaned for n in identity_fields) or failed & set(identity_fields):
        return []
    wanted = " or ".join(identity_fields)
    return [
        {
            "field": identity_fields[0],
            "problem": f"an email or phone is required to identify the lead: fill {wanted}",
        }
    ]


def _sender_and_text(
    form_fields: Sequence[FormField], cleaned: Mapping[str, Any]
) -> tuple[dict[str, str], str | None]:
    """The sender's attributes (the first filled field mapped to each) and the message text (the first
    filled field mapped to ``message``)."""
    sender_values: dict[str, str] = {}
    text = None
    for field in form_fields:
        value = cleaned.get(field.name)
        if not isinstance(value, str):
            continue
        if field.maps_to in _SENDER_ATTRIBUTES:
            sender_values.setdefault(field.maps_to, value)
        elif field.maps_to == "message" and text is None:
            text = value
    return sender_values, text
