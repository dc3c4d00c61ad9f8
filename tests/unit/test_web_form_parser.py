"""leadtide.capture.web_form: a web form submission -> one FORM_SUBMISSION InboundMessage (or None for bots).

The form and submission come from tests/events/web_form_contact_us.json (synthetic).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from leadtide.capture.web_form import ATTRIBUTION_FIELDS, parse_form_submission
from leadtide.models.channels import ChannelRoute, FormField, WebFormChannelCreate
from leadtide.models.common import ChannelType
from leadtide.models.errors import UnprocessableError
from leadtide.models.messages import InboundMessage, MessageKind, SenderIdentity

EVENT = json.loads((Path(__file__).resolve().parents[1] / "events" / "web_form_contact_us.json").read_text())
FORM = WebFormChannelCreate.model_validate(EVENT["form"])
ROUTE = ChannelRoute(
    tenant_id="t-acme",
    channel_id="ch-form-1",
    channel_type=ChannelType.WEB_FORM,
    form_fields=FORM.fields,
    honeypot_field=FORM.honeypot_field,
)
RECEIVED = datetime(2025, 6, 8, 21, 0, 0, tzinfo=UTC)


def submission(**changes: Any) -> dict[str, Any]:
    """The event's submission with keys changed (a value of None removes the key)."""
    fields = dict(EVENT["submission"])
    for key, value in changes.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def parse(fields: dict[str, Any], route: ChannelRoute = ROUTE) -> InboundMessage | None:
    return parse_form_submission(
        fields, route, submission_id="sub-01", received_at=RECEIVED, default_region="US"
    )


def problems(fields: dict[str, Any], route: ChannelRoute = ROUTE) -> list[dict[str, Any]]:
    with pytest.raises(UnprocessableError) as exc_info:
        parse(fields, route)
    assert exc_info.value.message == "form submission is invalid"
    assert exc_info.value.status_code == 422
    return exc_info.value.details


def test_valid_submission_builds_the_message() -> None:
    # Given the example submission
    # When parsed
    message = parse(submission())
    # Then a FORM_SUBMISSION with the sender, message text, cleaned fields and attribution
    assert message == InboundMessage(
        tenant_id="t-acme",
        channel_id="ch-form-1",
        channel_type=ChannelType.WEB_FORM,
        provider_message_id="sub-01",
        occurred_at=RECEIVED,
        kind=MessageKind.FORM_SUBMISSION,
        sender=SenderIdentity(
            first_name="Ana",
            last_name="Ruiz",
            email="ana.ruiz@example.com",
            phone="+14155550123",
            company="Ruiz Design",
        ),
        text="We want to open the kitchen to the living room.\nBudget is flexible.",
        form_fields={
            "first_name": "Ana",
            "last_name": "Ruiz",
            "email": "ana.ruiz@example.com",
            "phone": "+14155550123",
            "company": "Ruiz Design",
            "budget": 25000.0,
            "project_type": "kitchen",
            "portfolio": "https://www.pinterest.com/anaruiz/kitchen/",
            "consent": True,
            "details": "We want to open the kitchen to the living room.\nBudget is flexible.",
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": "spring_kitchens",
            "gclid": "Cj0KCQjw0ruyBhDuARIsANSZ3wp",
            "page_url": "https://www.example.com/contact?utm_source=google",
        },
        raw_type="form_submission",
    )


@pytest.mark.parametrize("value", ["http://spam.example", ["", "x"], "  y  "])
def test_filled_honeypot_is_a_bot(value: Any) -> None:
    # Given a submission whose hidden honeypot field is filled
    # When parsed, Then None (acknowledge and discard), even if the rest is invalid
    assert parse(submission(website_url=value, email="not-an-email")) is None


def test_empty_honeypot_is_ignored() -> None:
    # Given the honeypot sent empty (as browsers do), When parsed, Then it is not a form field in the result
    message = parse(submission(website_url=""))
    assert message is not None and "website_url" not in message.form_fields


def test_every_problem_is_reported_at_once() -> None:
    # Given a submission with many problems
    fields = submission(
        first_name=None,
        email="ana@",
        phone="555",
        budget="lots",
        project_type="garage",
        portfolio="ftp://files.example.com/x",
        consent="maybe",
        favourite_colour="blue",
    )
    # When parsed, Then one error lists each field's problem in form order, unknown keys last
    details = problems(fields)
    assert [d["field"] for d in details] == [
        "first_name",
        "email",
        "phone",
        "budget",
        "project_type",
        "portfolio",
        "consent",
        "favourite_colour",
    ]
    by_field = {d["field"]: d["problem"] for d in details}
    assert by_field["first_name"] == "is required"
    assert by_field["email"].startswith("'ana@' is not a valid email address")
    assert by_field["phone"] == "'555' is not a valid phone number (default region US): not a valid number"
    assert by_field["budget"] == "must be a number"
    assert by_field["project_type"] == "must be one of: kitchen, bathroom, other"
    assert by_field["portfolio"] == "must be an http or https URL with a host"
    assert by_field["consent"] == "must be a checkbox value: true/false, on/off, yes/no or 1/0"
    assert by_field["favourite_colour"] == "is not a field of this form"


def test_blank_required_field_is_missing() -> None:
    # Given a required field sent as spaces, When parsed, Then "is required"
    assert problems(submission(first_name="   ")) == [{"field": "first_name", "problem": "is required"}]


def test_max_length() -> None:
    # Given a first name longer than its max_length (80)
    # When parsed, Then the limit and the actual length are named
    assert problems(submission(first_name="x" * 81)) == [
        {"field": "first_name", "problem": "must be at most 80 characters, got 81"}
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("on", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        (True, True),
        (1, True),
        (["on"], True),
    ],
)
def test_checkbox_values(value: Any, expected: bool) -> None:
    # Given a checked consent checkbox written in any usual way
    message = parse(submission(consent=value))
    # Then it is a bool
    assert message is not None and message.form_fields["consent"] is expected


@pytest.mark.parametrize("value", ["off", "false", "0", "no", False])
def test_required_checkbox_must_be_checked(value: Any) -> None:
    # Given the required consent unchecked, When parsed, Then "must be checked"
    assert problems(submission(consent=value)) == [{"field": "consent", "problem": "must be checked"}]


def test_optional_checkbox_false_is_kept() -> None:
    # Given a form with an optional newsletter checkbox sent as "off"
    route = ROUTE.model_copy(
        update={"form_fields": [*FORM.fields, FormField(name="newsletter", type="checkbox")]}
    )
    # When parsed, Then False is kept
    message = parse(submission(newsletter="off"), route)
    assert message is not None and message.form_fields["newsletter"] is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [("25000", 25000.0), ("-3.5", -3.5), ("1e3", 1000.0), (42, 42.0), (2.5, 2.5), (".5", 0.5)],
)
def test_number_values(value: Any, expected: float) -> None:
    # Given a budget as text or JSON number, When parsed, Then a float
    message = parse(submission(budget=value))
    assert message is not None and message.form_fields["budget"] == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("nan", "must be a number"),
        ("inf", "must be a number"),
        ("1_000", "must be a number"),
        ("1e999", "must be a finite number"),
        (float("inf"), "must be a finite number"),
        (True, "must be a number, got a boolean"),
    ],
)
def test_bad_numbers(value: Any, problem: str) -> None:
    # Given a budget that is not a finite number, When parsed, Then the problem is named
    assert problems(submission(budget=value)) == [{"field": "budget", "problem": problem}]


@pytest.mark.parametrize(
    "value",
    [
        "https://",
        "javascript:alert(1)",
        "www.example.com",
        "http://exa mple.com",
        "http://[::1",
        "mailto:a@b.c",
    ],
)
def test_bad_urls(value: str) -> None:
    # Given a portfolio that is not an http(s) URL with a host, When parsed, Then rejected
    assert problems(submission(portfolio=value)) == [
        {"field": "portfolio", "problem": "must be an http or https URL with a host"}
    ]


def test_repeated_keys_take_one_value_or_fail() -> None:
    # Given urlencoded repeated keys: one filled value, and two values
    one = parse(submission(company=["", "Ruiz Design"]))
    # Then one value is taken, two are a problem
    assert one is not None and one.form_fields["company"] == "Ruiz Design"
    assert problems(submission(company=["A", "B"])) == [
        {"field": "company", "problem": "expected one value, got 2"}
    ]


def test_nested_values_are_rejected() -> None:
    # Given an object where a value is expected, When parsed, Then named
    assert problems(submission(company={"name": "x"})) == [
        {"field": "company", "problem": "must be a single value, got dict"}
    ]


def test_json_number_in_text_field_becomes_text() -> None:
    # Given a JSON number in a text field, When parsed, Then it is kept as text
    message = parse(submission(company=1999))
    assert message is not None and message.form_fields["company"] == "1999"


def test_boolean_in_text_field_is_rejected() -> None:
    # Given a JSON boolean in a text field, When parsed, Then rejected
    assert problems(submission(company=True)) == [
        {"field": "company", "problem": "must be text, got a boolean"}
    ]


def test_attribution_keys_are_allowed_and_checked() -> None:
    # Given every attribution key, one too long
    fields = submission(**{key: f"v-{key}" for key in ATTRIBUTION_FIELDS})
    message = parse(fields)
    assert message is not None
    assert {key: message.form_fields[key] for key in ATTRIBUTION_FIELDS} == {
        k: f"v-{k}" for k in ATTRIBUTION_FIELDS
    }
    # When one is over 2000 characters, Then it is named
    assert problems(submission(referrer="r" * 2001)) == [
        {"field": "referrer", "problem": "must be at most 2000 characters, got 2001"}
    ]


def test_email_or_phone_is_needed_to_identify_the_lead() -> None:
    # Given neither email nor phone
    # When parsed, Then the first identity field is named
    assert problems(submission(email=None, phone="")) == [
        {
            "field": "email",
            "problem": "an email or phone is required to identify the lead: fill email or phone",
        }
    ]


def test_phone_alone_identifies() -> None:
    # Given only a phone, When parsed, Then the sender has the E.164 phone and no email
    message = parse(submission(email=None))
    assert message is not None
    assert (message.sender.phone, message.sender.email) == ("+14155550123", None)


def test_phone_uses_default_region_and_international_forms() -> None:
    # Given an international phone on a US form, When parsed, Then E.164 of that country
    message = parse(submission(phone="+34 612 34 56 78"))
    assert message is not None and message.sender.phone == "+34612345678"


def test_name_field_is_kept_whole() -> None:
    # Given a form with a single "name" field
    route = ROUTE.model_copy(
        update={"form_fields": [FormField(name="name", required=True), FormField(name="email", type="email")]}
    )
    # When parsed, Then the name is not split
    message = parse({"name": "Ana María Ruiz", "email": "ana@example.com"}, route)
    assert message is not None
    assert message.sender == SenderIdentity(name="Ana María Ruiz", email="ana@example.com")
    assert message.text is None


def test_route_without_fields_is_a_caller_error() -> None:
    # Given a route that is not a web form, When parsed, Then ValueError
    route = ChannelRoute(tenant_id="t", channel_id="c", channel_type=ChannelType.WEB_FORM)
    with pytest.raises(ValueError, match="route has no form_fields"):
        parse(submission(), route)


def test_naive_received_at_is_a_caller_error() -> None:
    # Given a naive receive time, When parsed, Then ValueError
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_form_submission(
            submission(), ROUTE, submission_id="s", received_at=datetime(2025, 1, 1), default_region=None
        )
