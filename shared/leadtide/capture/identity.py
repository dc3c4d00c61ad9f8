"""The one identity normaliser: phone numbers, email addresses and Instagram ids.

Webhook parsers, web forms, manual lead entry and imports all turn a person's identifiers into the
same canonical strings here, so that one person always maps to the same lead:

- phone: E.164 (``+972544401243``), parsed and validated with ``phonenumbers`` (Google's libphonenumber
  metadata; https://github.com/daviddrysdale/python-phonenumbers).
- email: the ``email_validator`` normalised form, then lower-cased entirely (the local part too: no mail
  provider Leadtide's customers meet treats ``Ana@`` and ``ana@`` as different people).
- Instagram: the Instagram-scoped id (IGSID) as delivered, stripped.

``identity_keys`` turns a ``SenderIdentity`` into the keys the lead store de-duplicates on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leadtide.models.common import IdentityKind
from leadtide.models.errors import UnprocessableError
from leadtide.models.messages import SenderIdentity

if TYPE_CHECKING:
    import phonenumbers

logger = logging.getLogger(__name__)
# phonenumbers and email_validator are imported on first use: together they add ~80 ms to a cold start,
# and most API requests (reads) never normalise an identity.

_PHONE_PUNCTUATION = re.compile(r"[\s\-().\[\]/]")
_PHONE_SHAPE = re.compile(r"^\+?\d+$")
_INSTAGRAM_ID = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
_E164_MIN_DIGITS = 7
_E164_MAX_DIGITS = 15


class InvalidPhoneError(UnprocessableError):
    """A value is not a usable phone number (HTTP 422, code ``invalid_phone``)."""

    code = "invalid_phone"


class InvalidEmailError(UnprocessableError):
    """A value is not a syntactically valid email address (HTTP 422, code ``invalid_email``)."""

    code = "invalid_email"


class InvalidInstagramIdError(UnprocessableError):
    """A value is not an Instagram-scoped id (HTTP 422, code ``invalid_instagram_id``)."""

    code = "invalid_instagram_id"


def _shown(raw: object) -> str:
    """The offending value for an error message, quoted and cut to a readable length."""
    text = repr(raw)
    return text if len(text) <= 66 else text[:63] + "..."


def _parse(number: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    import phonenumbers

    try:
        return phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    import phonenumbers

    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _fits_e164(e164: str) -> bool:
    return _E164_MIN_DIGITS <= len(e164) - 1 <= _E164_MAX_DIGITS


def _stable_e164(number: phonenumbers.PhoneNumber) -> str | None:
    """E.164 of a number libphonenumber calls invalid, if it reads back as itself and has 7-15 digits.

    Reading an invalid number's E.164 form again can strip a national prefix it kept the first time
    (``+440000000000`` -> ``+44000000000``); following that to a fixed point keeps ``normalize_phone``
    idempotent.
    """
    e164 = _e164(number)
    for _ in range(3):
        again = _parse(e164, None)
        if again is None:
            return None
        if (following := _e164(again)) == e164:
            return e164 if _fits_e164(e164) else None
        e164 = following
    return None


def normalize_phone(raw: str, *, default_region: str | None = None, strict: bool = True) -> str:
    """Return a phone number in E.164 form, e.g. ``"+972544401243"``.

    Accepted input: an optional ``whatsapp:`` prefix (Twilio), then digits with an optional leading ``+``;
    spaces, dashes, dots, slashes and brackets are ignored. How the digits are read:

    - with a leading ``+``: international;
    - without ``+`` and with ``default_region`` (ISO 3166-1 alpha-2, e.g. ``"US"``): a national number
      of that region; if that is not a valid number but the digits are valid read internationally,
      the international reading wins (people type ``972544401243`` into US forms too);
    - without ``+`` and without ``default_region``: international (a WhatsApp ``wa_id`` such as
      ``"972544401243"``). A leading ``00`` international call prefix is dropped.

    ``strict=True`` (forms, manual entry, imports): ``phonenumbers.is_valid_number`` must accept the
    number. ``strict=False`` (numbers a provider already delivered from: WhatsApp ``wa_id``, Twilio
    ``From``): a number that parses but fails the validity check is still returned, as ``+``, country
    code and national number, when that has 7 to 15 digits, because the provider has proved it
    reachable and libphonenumber's metadata lags new number ranges. In both modes more than 15 digits
    (E.164's maximum) is refused. The output is stable: normalising an output again returns it unchanged.

    Raises:
        InvalidPhoneError: the value is not a string, has characters other than the above, cannot be
            parsed, or (strict) is not a valid number; the message names the value.

    Source: ITU-T E.164; libphonenumber (https://github.com/google/libphonenumber).
    """
    if not isinstance(raw, str):
        raise InvalidPhoneError(f"{_shown(raw)} is not a valid phone number: expected a string")
    text = raw.strip()
    if text[:9].lower() == "whatsapp:":
        text = text[9:]
    digits = _PHONE_PUNCTUATION.sub("", text)
    if not digits:
        raise InvalidPhoneError(f"{_shown(raw)} is not a valid phone number: it is empty")
    if not _PHONE_SHAPE.match(digits):
        raise InvalidPhoneError(
            f"{_shown(raw)} is not a valid phone number: only digits and a leading + allowed"
        )

    # Readings in order of preference, parsed lazily: most numbers are valid on the first reading, and
    # parsing is the expensive part (imports normalise one number per row).
    readings: list[tuple[str, str | None]] = []
    if digits.startswith("+"):
        readings.append((digits, None))
    else:
        if default_region:
            readings.append((digits, default_region.upper()))
        international = digits[2:] if digits.startswith("00") else digits
        readings.append(("+" + international, None))

    from phonenumbers import is_valid_number, is_valid_number_for_region

    parsed: list[phonenumbers.PhoneNumber] = []
    for text_, region_ in readings:
        number = _parse(text_, region_)
        if number is None:
            continue
        parsed.append(number)
        # Valid for the default region implies valid; checking that region first skips libphonenumber's
        # scan over every region sharing the country code (about 25 for +1).
        valid = (region_ is not None and is_valid_number_for_region(number, region_)) or is_valid_number(
            number
        )
        if valid and _fits_e164(e164 := _e164(number)):
            return e164
    if not strict:
        for number in parsed:
            stable = _stable_e164(number)
            if stable is not None:
                return stable
    reason = "not a valid number" if parsed else "cannot be parsed"
    region = f" (default region {default_region})" if default_region and not digits.startswith("+") else ""
    raise InvalidPhoneError(f"{_shown(raw)} is not a valid phone number{region}: {reason}")


def _email_error() -> type[Exception]:
    from email_validator import EmailNotValidError

    return EmailNotValidError


def normalize_email(raw: str) -> str:
    """Return an email address normalised and lower-cased: ``" Ana@Example.COM"`` -> ``"ana@example.com"``.

    Only syntax is checked (``email_validator.validate_email(..., check_deliverability=False)``): no DNS
    lookups, so it works with the network off. Surrounding whitespace is ignored.

    Raises:
        InvalidEmailError: not a string, or not a valid address; the message names the value and says why.

    Source: RFC 5322 / RFC 6531 as implemented by email-validator (https://github.com/JoshData/python-email-validator).
    """
    if not isinstance(raw, str):
        raise InvalidEmailError(f"{_shown(raw)} is not a valid email address: expected a string")
    try:
        from email_validator import validate_email

        result = validate_email(raw.strip(), check_deliverability=False)
    except _email_error() as exc:
        raise InvalidEmailError(f"{_shown(raw)} is not a valid email address: {exc}") from exc
    return result.normalized.lower()


def normalize_instagram_id(raw: str) -> str:
    """Return an Instagram-scoped user id (IGSID) stripped of surrounding whitespace.

    It must be 1 to 64 characters of ``[0-9A-Za-z_.-]`` (IGSIDs are digits; test tools send other
    ASCII ids). Integers are not accepted: callers convert JSON numbers with ``str()`` themselves.

    Raises:
        InvalidInstagramIdError: (an UnprocessableError, HTTP 422) the value does not have that shape.

    Source: Instagram Messaging API, webhooks (developers.facebook.com/docs/messenger-platform/instagram).
    """
    if not isinstance(raw, str):
        raise InvalidInstagramIdError(f"{_shown(raw)} is not a valid Instagram id: expected a string")
    value = raw.strip()
    if not _INSTAGRAM_ID.match(value):
        raise InvalidInstagramIdError(
            f"{_shown(raw)} is not a valid Instagram id: expected 1-64 characters of 0-9 A-Z a-z _ . -"
        )
    return value


@dataclass(frozen=True)
class IdentityKey:
    """One normalised identifier of a person: ``IdentityKey("phone", "+972544401243")``.

    ``key`` is the string the lead store indexes, e.g. ``"phone#+972544401243"``,
    ``"email#ana@example.com"``, ``"instagram#17841400000000000"``.
    """

    kind: IdentityKind
    value: str

    @property
    def key(self) -> str:
        """``f"{kind}#{value}"``."""
        return f"{self.kind}#{self.value}"


def identity_keys(
    sender: SenderIdentity, *, default_region: str | None = None, strict: bool = False
) -> list[IdentityKey]:
    """Normalised identity keys of a sender, in the order phone, email, instagram (absent ones skipped).

    ``strict=False`` (provider-delivered identities): a phone, email or Instagram id that does not
    normalise is dropped and a warning is logged (kind and error code only, no personal data), so one
    odd field never loses the message. ``strict=True`` (forms, manual entry, imports): the first bad
    value raises.

    Raises:
        InvalidPhoneError, InvalidEmailError, InvalidInstagramIdError: only with ``strict=True``.
    """
    # (kind, raw value, normaliser, how the warning names it)
    candidates: list[tuple[IdentityKind, str | None, Callable[[str], str], str]] = [
        (
            "phone",
            sender.phone,
            lambda v: normalize_phone(v, default_region=default_region, strict=strict),
            "a phone",
        ),
        ("email", sender.email, normalize_email, "an email"),
        ("instagram", sender.instagram_id, normalize_instagram_id, "an Instagram"),
    ]
    keys: list[IdentityKey] = []
    for kind, raw, normalize, named in candidates:
        if not raw:
            continue
        try:
            keys.append(IdentityKey(kind, normalize(raw)))
        except UnprocessableError as exc:
            if strict:
                raise
            logger.warning("dropping %s identity that does not normalise (%s)", named, exc.code)
    return keys
