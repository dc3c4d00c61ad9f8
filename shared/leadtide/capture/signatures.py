"""Webhook signature checks: Meta's X-Hub-Signature-256 and Twilio's X-Twilio-Signature.

Both are HMACs keyed with a per-channel secret. They are computed over the bytes (Meta) or the URL and
form parameters (Twilio) exactly as received: never over re-serialised JSON or re-encoded forms.
Comparisons are constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from leadtide.models.errors import InvalidSignatureError

META_SIGNATURE_HEADER = "X-Hub-Signature-256"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
_META_SCHEME = "sha256="

TwilioParams = Mapping[str, str] | Sequence[tuple[str, str]]
"""Form parameters as a mapping (a value may also be a list of strings, as ``parse_qs`` gives) or as
``(name, value)`` pairs in any order (``parse_qsl``), which keeps repeated names."""


def _require_secret(secret: str, what: str) -> bytes:
    if not isinstance(secret, str) or not secret:
        # An empty key would make every signature forgeable: a configuration bug, not a bad request.
        raise ValueError(f"{what} must be a non-empty string")
    return secret.encode("utf-8")


def meta_signature(raw_body: bytes, app_secret: str) -> str:
    """Return the ``X-Hub-Signature-256`` value Meta would send for ``raw_body``.

    Shape: ``"sha256=" + lowercase hex(HMAC-SHA256(key=app_secret UTF-8, msg=raw_body))``, 71 characters.

    Raises:
        ValueError: ``app_secret`` is empty.

    Source: Meta for Developers, Graph API -> Webhooks -> Getting Started -> "Validating Payloads"
    (developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads).
    """
    digest = hmac.new(_require_secret(app_secret, "app_secret"), raw_body, hashlib.sha256).hexdigest()
    return _META_SCHEME + digest


_META_SIGNATURE_SHAPE = re.compile(r"\s*sha256=[0-9a-f]{64}\s*", re.IGNORECASE)


def check_meta_signature_shape(header_value: str | None) -> None:
    """Refuse an ``X-Hub-Signature-256`` value that cannot be a signature, before the body is read.

    A real value is ``sha256=`` and 64 hex digits (:func:`meta_signature`); anything else is refused
    with the message :func:`verify_meta_signature` would give, without decoding a byte of the body.

    Raises:
        InvalidSignatureError: (HTTP 401) missing, empty, another scheme, or not 64 hex digits.
    """
    if header_value is None or not header_value.strip():
        raise InvalidSignatureError(f"the {META_SIGNATURE_HEADER} header is missing")
    if not _META_SIGNATURE_SHAPE.fullmatch(header_value):
        scheme = header_value.strip().partition("=")[0]
        if scheme.lower() != "sha256":
            raise InvalidSignatureError(
                f"the {META_SIGNATURE_HEADER} header must use the sha256= scheme, got {scheme[:16]!r}"
            )
        raise InvalidSignatureError(f"the {META_SIGNATURE_HEADER} header must be sha256= and 64 hex digits")


def verify_meta_signature(raw_body: bytes, header_value: str | None, app_secret: str) -> None:
    """Check a WhatsApp Cloud API / Instagram webhook delivery's ``X-Hub-Signature-256`` header.

    ``raw_body`` must be the request body bytes exactly as received. The hex digest is compared
    case-insensitively and in constant time.

    Raises:
        InvalidSignatureError: (HTTP 401) the header is missing or empty, does not use the ``sha256=``
            scheme (e.g. the legacy SHA-1 ``X-Hub-Signature`` value), or does not match the body; the
            message says which.
        ValueError: ``app_secret`` is empty (a configuration bug).

    Source: Meta for Developers, Graph API -> Webhooks -> "Validating Payloads"
    (developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads).
    """
    expected = meta_signature(raw_body, app_secret)
    if header_value is None or not header_value.strip():
        raise InvalidSignatureError(f"the {META_SIGNATURE_HEADER} header is missing")
    value = header_value.strip()
    scheme, sep, digest = value.partition("=")
    if not sep or scheme.lower() != "sha256":
        raise InvalidSignatureError(
            f"the {META_SIGNATURE_HEADER} header must use the sha256= scheme, got {scheme[:16]!r}"
        )
    given = (_META_SCHEME + digest.lower()).encode("utf-8", "replace")
    if not hmac.compare_digest(given, expected.encode("ascii")):
        raise InvalidSignatureError(f"the {META_SIGNATURE_HEADER} header does not match the request body")


def _pairs(params: TwilioParams) -> list[tuple[str, str]]:
    items: Iterable[tuple[str, object]] = params.items() if isinstance(params, Mapping) else params
    pairs: list[tuple[str, str]] = []
    for name, value in items:
        if isinstance(value, list | tuple):
            pairs.extend((name, str(v)) for v in value)
        else:
            pairs.append((name, str(value)))
    return pairs


def twilio_signature(url: str, params: TwilioParams, auth_token: str) -> str:
    """Return the ``X-Twilio-Signature`` Twilio computes for a POST to ``url`` with form ``params``.

    Shape: ``base64(HMAC-SHA1(key=auth_token UTF-8, msg=url + "".join(name + value)))`` where the
    pairs are sorted by name and, for a name sent more than once, by value, as twilio-python's
    ``RequestValidator.compute_signature`` does. ``url`` is the full URL Twilio called, query string
    included. 28 characters.

    Raises:
        ValueError: ``auth_token`` is empty.

    Source: https://www.twilio.com/docs/usage/webhooks/webhooks-security ("Validating signatures from
    Twilio"); twilio-python ``twilio/request_validator.py``.
    """
    message = url + "".join(name + value for name, value in sorted(_pairs(params)))
    mac = hmac.new(_require_secret(auth_token, "auth_token"), message.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def _url_variants(url: str) -> list[str]:
    """``url`` as given, without its port, and with the scheme's default port (443/80) added.

    twilio-python checks the last two because Twilio's signing is inconsistent about ports. Unlike
    twilio-python (``netloc.split(':')[0]``) the port is removed without losing ``user:password@``.
    """
    variants = [url]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return variants
    if not parts.hostname:
        return variants
    if port is not None:
        variants.append(urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])))
    else:
        default = 443 if parts.scheme == "https" else 80
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    return variants


def verify_twilio_signature(
    url: str, params: TwilioParams, header_value: str | None, auth_token: str
) -> None:
    """Check a Twilio webhook request's ``X-Twilio-Signature`` header.

    ``url`` is the full URL Twilio requested (scheme, host, path, query); ``params`` the POSTed
    form parameters (see ``TwilioParams``). Like twilio-python's ``RequestValidator.validate`` the
    signature is accepted for the URL with its port removed or with the scheme's default port (443 for
    https, 80 for http) added, and also for the URL exactly as given. JSON-body requests
    (``bodySHA256`` query parameter) are not supported: Messaging webhooks are form-encoded.

    Raises:
        InvalidSignatureError: (HTTP 401) the header is missing or empty, or matches none of the URL
            variants; the message says which.
        ValueError: ``auth_token`` is empty (a configuration bug).

    Source: https://www.twilio.com/docs/usage/webhooks/webhooks-security; twilio-python
    ``twilio/request_validator.py`` (``validate``, ``add_port``, ``remove_port``).
    """
    _require_secret(auth_token, "auth_token")
    if header_value is None or not header_value.strip():
        raise InvalidSignatureError(f"the {TWILIO_SIGNATURE_HEADER} header is missing")
    given = header_value.strip().encode("utf-8", "replace")
    matched = False
    for candidate in dict.fromkeys(_url_variants(url)):
        expected = twilio_signature(candidate, params, auth_token).encode("ascii")
        matched |= hmac.compare_digest(given, expected)
    if not matched:
        raise InvalidSignatureError(
            f"the {TWILIO_SIGNATURE_HEADER} header does not match the request URL and parameters"
        )
