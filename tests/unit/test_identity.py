"""leadtide.capture.identity: the one identity normaliser (phone, email, Instagram id) and identity keys."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from leadtide.capture.identity import (
    IdentityKey,
    InvalidEmailError,
    InvalidInstagramIdError,
    InvalidPhoneError,
    identity_keys,
    normalize_email,
    normalize_instagram_id,
    normalize_phone,
)
from leadtide.models.errors import UnprocessableError
from leadtide.models.messages import SenderIdentity

# No example database: property tests must not write .hypothesis/ into the repo.
PROPERTY = settings(
    database=None, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
E164 = re.compile(r"^\+[1-9]\d{6,14}$")

# -- normalize_phone --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("972544401243", None, "+972544401243"),  # WhatsApp wa_id: bare digits read as international
        ("+972544401243", None, "+972544401243"),
        ("whatsapp:+14155238886", None, "+14155238886"),  # Twilio From/To
        ("WhatsApp:+1 415 523 8886", None, "+14155238886"),
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("+1.415.555.0123", None, "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("(415) 555-0123", "us", "+14155550123"),  # region case does not matter
        ("054-440-1243", "IL", "+972544401243"),
        ("0044 20 7946 0958", None, "+442079460958"),  # 00 international prefix without a region
        ("972544401243", "US", "+972544401243"),  # not a US number, but valid read internationally
        ("  +34 612 34 56 78  ", "US", "+34612345678"),
    ],
)
def test_normalize_phone_accepts_common_forms(raw: str, region: str | None, expected: str) -> None:
    # Given a phone number as people and providers write it
    # When normalised strictly, Then it is E.164
    assert normalize_phone(raw, default_region=region) == expected


def test_normalize_phone_lenient_keeps_provider_numbers_libphonenumber_rejects() -> None:
    # Given numbers a provider delivered from but libphonenumber calls invalid (pywa / chatwoot fixtures)
    # When normalised with strict=False, Then "+" and the digits are returned
    assert normalize_phone("972987654321", strict=False) == "+972987654321"
    assert normalize_phone("+1234567890", strict=False) == "+1234567890"
    # And strictly they are rejected naming the value
    with pytest.raises(
        InvalidPhoneError, match=r"^'972987654321' is not a valid phone number: not a valid number$"
    ):
        normalize_phone("972987654321")


@pytest.mark.parametrize(
    ("raw", "strict", "problem"),
    [
        ("", False, "'' is not a valid phone number: it is empty"),
        ("whatsapp:", False, "'whatsapp:' is not a valid phone number: it is empty"),
        ("call me", False, "'call me' is not a valid phone number: only digits and a leading + allowed"),
        ("+1 415 555 0123 ext 5", False, "only digits and a leading + allowed"),
        ("1-800-FLOWERS", True, "only digits and a leading + allowed"),
        ("++14155550123", False, "only digits and a leading + allowed"),
        ("+12", False, "'+12' is not a valid phone number: cannot be parsed"),
        ("+1234", False, "'+1234' is not a valid phone number: not a valid number"),  # parses, but < 7 digits
        ("1234567890123456789", False, "'1234567890123456789' is not a valid phone number: cannot be parsed"),
        ("(415) 555-01", True, "'(415) 555-01' is not a valid phone number"),
        ("5550123", True, "'5550123' is not a valid phone number (default region US): not a valid number"),
    ],
)
def test_normalize_phone_rejects_junk_naming_the_value(raw: str, strict: bool, problem: str) -> None:
    # Given junk (or, strictly, an invalid number)
    # When normalised, Then InvalidPhoneError (422, invalid_phone) names the value and the reason
    with pytest.raises(InvalidPhoneError) as exc_info:
        normalize_phone(raw, default_region="US" if raw == "5550123" else None, strict=strict)
    assert problem in exc_info.value.message
    assert exc_info.value.code == "invalid_phone"
    assert exc_info.value.status_code == 422
    assert isinstance(exc_info.value, UnprocessableError)


def test_normalize_phone_rejects_non_strings() -> None:
    # Given a JSON number instead of a string
    # When normalised, Then InvalidPhoneError says a string is expected
    with pytest.raises(InvalidPhoneError, match="expected a string"):
        normalize_phone(14155550123)  # type: ignore[arg-type]


def test_normalize_phone_long_values_are_cut_in_the_message() -> None:
    # Given a very long junk value, When normalised, Then the message quotes only its start
    with pytest.raises(InvalidPhoneError) as exc_info:
        normalize_phone("x" * 500)
    assert len(exc_info.value.message) < 150


_REGIONS_WITH_EXAMPLES = sorted(
    r
    for r in phonenumbers.SUPPORTED_REGIONS
    if phonenumbers.example_number_for_type(r, phonenumbers.PhoneNumberType.MOBILE)
)


@PROPERTY
@given(
    region=st.sampled_from(_REGIONS_WITH_EXAMPLES),
    number_type=st.sampled_from(
        [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
    ),
    separators=st.lists(st.sampled_from([" ", "-", ".", ""]), min_size=20, max_size=20),
)
def test_formats_of_the_same_number_agree(region: str, number_type: int, separators: list[str]) -> None:
    # Given a valid example number of a region written in several formats
    number = phonenumbers.example_number_for_type(region, number_type)
    assume(number is not None and phonenumbers.is_valid_number(number))
    assert number is not None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    spaced = "+" + "".join(d + s for d, s in zip(e164[1:], separators, strict=False))
    forms = [
        e164,
        e164[1:],  # wa_id style: bare digits
        "whatsapp:" + e164,
        spaced,
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    ]
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    # When each is normalised (the national form with the region)
    results = {normalize_phone(f) for f in forms} | {normalize_phone(national, default_region=region)}
    # Then they all agree on the E.164 form
    assert results == {e164}


@PROPERTY
@given(
    plus=st.booleans(),
    digits=st.text(alphabet="0123456789", min_size=6, max_size=17),
    region=st.sampled_from([None, "US", "GB", "IL", "DE", "BR", "IN", "RU", "IT", "AR", "MX"]),
    strict=st.booleans(),
)
def test_normalize_phone_is_idempotent_on_its_output(
    plus: bool, digits: str, region: str | None, strict: bool
) -> None:
    # Given any digit string (junk is fine: the property is about what normalises)
    try:
        first = normalize_phone(("+" if plus else "") + digits, default_region=region, strict=strict)
    except InvalidPhoneError:
        return
    # Then the output is E.164 and normalising it again (any region, same strictness) changes nothing
    assert E164.match(first), first
    assert normalize_phone(first, strict=strict) == first
    assert normalize_phone(first, default_region="GB", strict=strict) == first
    assert normalize_phone(first, strict=False) == first


# -- normalize_email --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ana@example.com", "ana@example.com"),
        (" Ana.Ruiz@Example.COM ", "ana.ruiz@example.com"),
        ("ANA+leads@EXAMPLE.co.uk", "ana+leads@example.co.uk"),
        ("josé@exámple.com", "josé@exámple.com"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    # Given an address as typed, When normalised, Then it is stripped and lower-cased entirely
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("ana", "'ana' is not a valid email address: An email address must have an @-sign."),
        ("ana@", "'ana@' is not a valid email address: There must be something after the @-sign."),
        ("a b@example.com", "'a b@example.com' is not a valid email address"),
        ("ana@example", "'ana@example' is not a valid email address"),
        ("", "'' is not a valid email address"),
    ],
)
def test_normalize_email_rejects_invalid(raw: str, problem: str) -> None:
    # Given an invalid address, When normalised, Then InvalidEmailError names it and says why
    with pytest.raises(InvalidEmailError) as exc_info:
        normalize_email(raw)
    assert exc_info.value.message.startswith(problem)
    assert exc_info.value.code == "invalid_email"
    assert exc_info.value.status_code == 422


def test_normalize_email_rejects_non_strings() -> None:
    # Given None, When normalised, Then InvalidEmailError
    with pytest.raises(InvalidEmailError, match="expected a string"):
        normalize_email(None)  # type: ignore[arg-type]


@PROPERTY
@given(st.emails())
def test_normalize_email_is_idempotent_and_case_insensitive(address: str) -> None:
    # Given any address Hypothesis considers valid that email_validator accepts
    try:
        first = normalize_email(address)
    except InvalidEmailError:
        return  # Hypothesis' grammar allows a few forms email_validator refuses (e.g. special-use domains)
    # Then normalising again changes nothing, and the case it was typed in does not matter
    assert normalize_email(first) == first
    assert first == first.lower()
    if address.isascii():
        assert normalize_email(address.upper()) == first


# -- normalize_instagram_id -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 1254459154682919 ", "1254459154682919"),
        ("Sender-id-1", "Sender-id-1"),
        ("a" * 64, "a" * 64),
        ("a.b_c", "a.b_c"),
    ],
)
def test_normalize_instagram_id(raw: str, expected: str) -> None:
    # Given an IGSID (or a test tool's id), When normalised, Then it is stripped
    assert normalize_instagram_id(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "a b", "a" * 65, "id/1", "émile"])
def test_normalize_instagram_id_rejects_bad_shapes(raw: str) -> None:
    # Given a value that is not an Instagram id
    # When normalised, Then InvalidInstagramIdError (an UnprocessableError) names it
    with pytest.raises(InvalidInstagramIdError) as exc_info:
        normalize_instagram_id(raw)
    assert isinstance(exc_info.value, UnprocessableError)
    assert "is not a valid Instagram id" in exc_info.value.message
    assert exc_info.value.code == "invalid_instagram_id"


def test_normalize_instagram_id_rejects_integers() -> None:
    # Given a JSON number, When normalised, Then rejected (callers convert explicitly)
    with pytest.raises(InvalidInstagramIdError, match="expected a string"):
        normalize_instagram_id(12334)  # type: ignore[arg-type]


# -- IdentityKey / identity_keys --------------------------------------------------------------------------


def test_identity_key_string() -> None:
    # Given keys of each kind, Then .key is "kind#value"
    assert IdentityKey("phone", "+972544401243").key == "phone#+972544401243"
    assert IdentityKey("email", "ana@example.com").key == "email#ana@example.com"
    assert IdentityKey("instagram", "12334").key == "instagram#12334"


def test_identity_keys_in_order_phone_email_instagram() -> None:
    # Given a sender with every identifier, raw
    sender = SenderIdentity(
        instagram_id=" 1254459154682919",
        email="Ana@Example.com",
        phone="whatsapp:+34 612 345 678",
        name="Ana",
    )
    # When keyed, Then normalised keys come in the order phone, email, instagram
    assert [k.key for k in identity_keys(sender)] == [
        "phone#+34612345678",
        "email#ana@example.com",
        "instagram#1254459154682919",
    ]


def test_identity_keys_skips_absent() -> None:
    # Given a sender with only a name, Then no keys
    assert identity_keys(SenderIdentity(name="Ana")) == []


def test_identity_keys_of_real_whatsapp_sender(shared_data: Path) -> None:
    # Given the sender of pywa's text fixture (a wa_id libphonenumber calls invalid)
    payload = json.loads((shared_data / "webhooks" / "whatsapp_cloud_text.json").read_text())
    wa_id = payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    # When keyed leniently, Then the wa_id is kept as E.164
    assert identity_keys(SenderIdentity(phone=wa_id)) == [IdentityKey("phone", "+972987654321")]


def test_identity_keys_lenient_drops_bad_values_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # Given a provider sender with a junk phone and email but a good Instagram id
    sender = SenderIdentity(phone="unknown", email="not-an-email", instagram_id="12334")
    # When keyed leniently
    with caplog.at_level(logging.WARNING, logger="leadtide.capture.identity"):
        keys = identity_keys(sender)
    # Then only the good key remains and each drop is logged without the personal data
    assert keys == [IdentityKey("instagram", "12334")]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "dropping a phone identity that does not normalise (invalid_phone)",
        "dropping an email identity that does not normalise (invalid_email)",
    ]
    assert not any("not-an-email" in m or "unknown" in m for m in messages)


def test_identity_keys_lenient_drops_bad_instagram_id(caplog: pytest.LogCaptureFixture) -> None:
    # Given a bad Instagram id, When keyed leniently, Then it is dropped and logged
    with caplog.at_level(logging.WARNING, logger="leadtide.capture.identity"):
        assert identity_keys(SenderIdentity(instagram_id="a b", email="ana@example.com")) == [
            IdentityKey("email", "ana@example.com")
        ]
    assert "invalid_instagram_id" in caplog.text


@pytest.mark.parametrize(
    ("sender", "error"),
    [
        (SenderIdentity(phone="972987654321"), InvalidPhoneError),
        (SenderIdentity(phone="+14155550123", email="ana@"), InvalidEmailError),
        (SenderIdentity(instagram_id="a b"), InvalidInstagramIdError),
    ],
)
def test_identity_keys_strict_raises(sender: SenderIdentity, error: type[Exception]) -> None:
    # Given a sender with a bad value, When keyed strictly (forms, imports), Then it raises
    with pytest.raises(error):
        identity_keys(sender, strict=True)


def test_identity_keys_uses_default_region() -> None:
    # Given a national number and a region, When keyed, Then it is read in that region
    assert identity_keys(SenderIdentity(phone="(415) 555-0123"), default_region="US", strict=True) == [
        IdentityKey("phone", "+14155550123")
    ]
