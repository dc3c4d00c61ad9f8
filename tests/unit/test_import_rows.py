"""Row processing: conversion, errors naming the column, required fields, custom types, formulas, dedupe."""

import pytest

from leadtide.customfields.models import CustomFieldDefinition
from leadtide.imports.mapping import FieldMapping, InvalidMappingError, propose_mapping
from leadtide.imports.reading import open_table
from leadtide.imports.rows import (
    FileDeduplicator,
    RowProcessor,
    ValidationOptions,
    neutralize_formula,
    status_from_text,
)
from leadtide.imports.validation import MxChecker

BUDGET = CustomFieldDefinition(key="budget", label="Budget", type="number", min=0)
PLAN = CustomFieldDefinition(key="plan", label="Plan", type="dropdown", options=["Basic", "Pro"])
START = CustomFieldDefinition(key="start", label="Start", type="date")
TOPICS = CustomFieldDefinition(key="topics", label="Topics", type="multi_select", options=["Sun", "Surf"])
OPTIN = CustomFieldDefinition(key="optin", label="Opt-in", type="checkbox")
CUSTOM = [BUDGET, PLAN, START, TOPICS, OPTIN]

HEADERS = ["First Name", "Last Name", "Email", "Phone", "Company", "Status", "Tags", "Budget", "Plan"]
MAPPING = FieldMapping(
    columns={
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone": "phone",
        "Company": "company",
        "Status": "status",
        "Tags": "tags",
        "Budget": "custom:budget",
        "Plan": "custom:plan",
    }
)


def _processor(headers=HEADERS, mapping=MAPPING, custom=CUSTOM, **options):
    return RowProcessor(headers, mapping, custom, ValidationOptions(**options))


def _row(**values):
    return [values.get(h.replace(" ", "_").lower(), "") for h in HEADERS]


def test_a_good_row_becomes_a_draft():
    outcome = _processor().process(
        2,
        _row(
            first_name="Ana",
            last_name="Souza",
            email="Ana.Souza@Example.COM",
            phone="(415) 555-2671",
            company="Casa Praia",
            status="Working - Contacted",
            tags="summer; vip,summer",
            budget="1,234.5",
            plan="pro",
        ),
    )
    assert outcome.errors == [] and outcome.warnings == []
    draft = outcome.draft
    assert (draft.email, draft.phone, draft.unique_value) == ("ana.souza@example.com", "+14155552671", None)
    assert draft.fields == {
        "first_name": "Ana",
        "last_name": "Souza",
        "name": "Ana Souza",
        "email": "ana.souza@example.com",
        "phone": "+14155552671",
        "company": "Casa Praia",
        "status": "Contacted",
        "tags": ["summer", "vip"],
        "custom_fields": {"budget": 1234.5, "plan": "Pro"},
    }


def test_errors_name_the_column_and_value_and_collect_all():
    outcome = _processor().process(7, _row(email="bob@", phone="+1 555", budget="abc", plan="Gold"))
    assert outcome.draft is None and outcome.row_number == 7
    assert outcome.errors[0].startswith("Email: 'bob@' is not a valid email address")
    assert outcome.errors[1].startswith("Phone: '+1 555' is not a valid phone number")
    assert outcome.errors[2] == "Budget: Custom field 'budget': 'abc' is not a number"
    assert outcome.errors[3].startswith(
        "Plan: Custom field 'plan': 'Gold' is not one of the options (Basic, Pro)"
    )


def test_long_rows_are_rejected_with_the_counts():
    outcome = _processor().process(3, [*_row(email="a@x.com"), "extra"])
    assert outcome.draft is None and outcome.errors == ["row has 10 cells, header has 9"]


def test_disposable_domains_reject_or_warn():
    row = _row(email="temp@mailinator.com")
    strict = _processor(invalid_values="reject_row")
    assert strict.process(2, row).errors == ["Email: mailinator.com is a disposable email domain"]
    kept = _processor(reject_disposable=False).process(2, row)
    assert kept.draft is not None and kept.warnings == ["Email: mailinator.com is a disposable email domain"]


class _Resolver:
    def __init__(self):
        self.asked = []

    def mx_hosts(self, domain):
        self.asked.append(domain)
        if domain == "down.example":
            raise OSError("timeout")
        return {"acme.io": ["mx.acme.io"]}.get(domain)

    def has_address(self, domain):
        return False


def test_mx_check_rejects_undeliverable_and_flags_unverified():
    resolver = _Resolver()
    processor = RowProcessor(
        HEADERS,
        MAPPING,
        CUSTOM,
        ValidationOptions(check_mx=True, invalid_values="reject_row"),
        mx_checker=MxChecker(resolver),
    )
    assert processor.process(2, _row(email="a@acme.io")).draft is not None
    assert processor.process(3, _row(email="a@nowhere.example")).errors == [
        "Email: nowhere.example does not accept email (no MX or address record)"
    ]
    flagged = processor.process(4, _row(email="a@down.example"))
    assert flagged.draft is not None and "could not check" in flagged.warnings[0]
    processor.process(5, _row(email="b@acme.io"))
    assert resolver.asked.count("acme.io") == 1  # one lookup per distinct domain


def test_mx_is_not_checked_unless_asked():
    resolver = _Resolver()
    processor = RowProcessor(HEADERS, MAPPING, CUSTOM, ValidationOptions(), mx_checker=MxChecker(resolver))
    assert processor.process(2, _row(email="a@nowhere.example")).draft is not None
    assert resolver.asked == []


def test_required_fields_and_identity():
    processor = _processor(required=("company", "custom:budget"))
    outcome = processor.process(2, _row(email="a@x.com"))
    assert outcome.errors == ["Company: a value is required", "Budget: a value is required"]  # column order
    assert _processor().process(3, _row(company="Acme")).errors == ["row has no email, phone or name"]
    named = _processor().process(4, _row(first_name="Ana"))
    assert named.draft is not None and named.draft.fields["name"] == "Ana"


def test_required_target_that_is_not_mapped_fails_at_construction():
    with pytest.raises(InvalidMappingError, match="custom:start"):
        _processor(required=("custom:start",))
    required_field = CustomFieldDefinition(key="budget", label="Budget", type="number", required=True)
    processor = _processor(custom=[required_field, PLAN])
    assert processor.process(2, _row(email="a@x.com")).errors == ["Budget: a value is required"]


def test_custom_field_types_from_file_strings():
    headers = ["Email", "Start", "Topics", "Opt-in"]
    mapping = FieldMapping(
        columns={
            "Email": "email",
            "Start": "custom:start",
            "Topics": "custom:topics",
            "Opt-in": "custom:optin",
        }
    )
    processor = _processor(headers=headers, mapping=mapping)
    good = processor.process(2, ["a@x.com", "03/01/2024", "surf; SUN", "x"])
    assert good.draft.fields["custom_fields"] == {
        "start": "2024-03-01",
        "topics": ["Surf", "Sun"],
        "optin": True,
    }
    bad = processor.process(3, ["a@x.com", "31/31/2024", "Snow", "maybe"])
    assert bad.errors == [] and bad.draft.fields["custom_fields"] == {}
    assert bad.dropped == [
        "Start: Custom field 'start': '31/31/2024' is not a date (use YYYY-MM-DD)",
        "Topics: Custom field 'topics': 'Snow' is not one of the options (Sun, Surf)",
        "Opt-in: Custom field 'optin': 'maybe' is not yes/no (use true/false, yes/no, 1/0 or x)",
    ]


def test_unique_custom_key_identifies_rows_without_email():
    prospect = CustomFieldDefinition(key="prospect_id", label="Prospect ID", type="text")
    processor = RowProcessor(
        ["Prospect ID", "Lead Source", "City"],
        FieldMapping(
            columns={"Prospect ID": "custom:prospect_id", "Lead Source": "lead_source", "City": "city"}
        ),
        [prospect],
        ValidationOptions(unique_key="custom:prospect_id", null_values=frozenset({"Select"})),
    )
    outcome = processor.process(2, ["7927b2df", "Olark Chat", "Select"])
    assert outcome.draft.unique_value == "7927b2df"
    assert outcome.draft.fields["custom_fields"] == {"prospect_id": "7927b2df", "lead_source": "Olark Chat"}


def test_formula_cells_are_neutralised_with_a_warning():
    outcome = _processor().process(2, _row(email="a@x.com", company='=HYPERLINK("http://evil","x")'))
    assert outcome.draft.fields["company"] == '\'=HYPERLINK("http://evil","x")'
    assert "formula" in outcome.warnings[0]
    assert neutralize_formula("+1 (555) 010-0000") is None
    assert neutralize_formula("-12.5") is None
    assert neutralize_formula("-2+3+cmd|' /C calc'!A0") == "'-2+3+cmd|' /C calc'!A0"
    assert neutralize_formula("@SUM(A1)") == "'@SUM(A1)"
    assert neutralize_formula("\t=1") == "'\t=1"
    assert neutralize_formula("Ana") is None


def test_status_words_from_crms():
    assert status_from_text("Open - Not Contacted") == "New"
    assert status_from_text("IN_PROGRESS") == "Contacted"
    assert status_from_text("Junk Lead") == "Lost"
    assert status_from_text("Closed - Converted") == "Converted"
    assert status_from_text("Pre-Qualified") == "Follow-up"
    assert status_from_text("Whatever") is None
    outcome = _processor().process(2, _row(email="a@x.com", status="Whatever"))
    assert outcome.draft.fields["status"] == "New" and "not a Leadtide status" in outcome.warnings[0]


def test_long_text_is_cut_and_bad_tags_dropped_with_warnings():
    outcome = _processor().process(2, _row(email="a@x.com", company="x" * 250, tags="ok;<script>"))
    assert len(outcome.draft.fields["company"]) == 200 and outcome.draft.fields["tags"] == ["ok"]
    assert outcome.warnings == [
        "Company: cut to 200 characters",
        "Tags: '<script>' is not a valid tag (dropped)",
    ]


def test_file_deduplicator_matches_on_any_identity():
    processor = _processor()
    dedupe = FileDeduplicator("email")
    rows = [
        (2, _row(email="a@x.com", phone="+14155552671")),
        (3, _row(email="A@X.com")),  # same email, different case
        (4, _row(email="b@x.com", phone="(415) 555-2671")),  # same phone, other format
        (5, _row(email="bad@")),  # rejected rows are not recorded
        (6, _row(email="c@x.com")),
    ]
    results = [dedupe.check(processor.process(n, cells)) for n, cells in rows]
    assert results == [None, 2, 2, None, None]


def test_salesforce_export_end_to_end(shared_data):
    # Given the real Salesforce export (BOM, JSON Address) read and auto-mapped
    path = shared_data / "crm_exports" / "salesforce_lead_export_sfdc_assets.csv"
    table = open_table(path.read_bytes(), path.name)
    proposal = propose_mapping(table.headers, [])
    rows = list(table.rows)
    assert len(rows) == 60
    # When the rows are processed strictly, the placeholder phone numbers libphonenumber calls invalid
    # reject their rows, naming the column
    strict = RowProcessor(table.headers, proposal.mapping, [], ValidationOptions(invalid_values="reject_row"))
    rejected = [o for o in (strict.process(n, cells) for n, cells in rows) if o.draft is None]
    assert rejected and all(len(o.errors) == 1 and o.errors[0].startswith("Phone: ") for o in rejected)
    # and by default (drop_field) every lead is accepted, the bad numbers dropped and reported
    processor = RowProcessor(table.headers, proposal.mapping, [], ValidationOptions())
    dedupe = FileDeduplicator()
    outcomes = [processor.process(n, cells) for n, cells in rows]
    accepted = [o for o in outcomes if o.draft is not None]
    assert len(accepted) == 60, [o.errors for o in outcomes if o.errors][:3]
    assert sum(1 for o in accepted if o.draft.phone is None) == len(rejected)
    dropped = {o.row_number: o.dropped for o in accepted if o.dropped}
    assert dropped == {o.row_number: o.errors for o in rejected}
    first = accepted[0].draft
    assert first.email == "william.lee@example.com" and first.phone == "+18683896283"
    assert first.fields["custom_fields"]["lead_source"] == "Online Form"
    assert (
        first.fields["custom_fields"]["address"]
        == "84011 Porter Springs Suite 653, East Kellyburgh, ME 11709, US"
    )
    assert first.fields["status"] == "Follow-up"  # "Qualified"
    assert sum(dedupe.check(o) is not None for o in accepted) == 0


def test_phone_cells_are_normalised_once_per_distinct_value(monkeypatch):
    # Given a file where numbers repeat (a switchboard), valid and invalid, and a counting normaliser
    from leadtide.capture import identity
    from leadtide.imports import rows as rows_module

    calls = []

    def counting(raw, **kwargs):
        calls.append(raw)
        return identity.normalize_phone(raw, **kwargs)

    monkeypatch.setattr(rows_module, "normalize_phone", counting)
    processor = _processor(invalid_values="reject_row")
    values = ["(415) 555-2671", "+1 555", "(415) 555-2671", "+1 555", "415.555.2671", "(415) 555-2671"]
    # When the rows are processed
    outcomes = [processor.process(n, _row(email=f"a{n}@x.com", phone=p)) for n, p in enumerate(values)]
    # Then each distinct cell was parsed once, and every row got normalize_phone's own answer
    assert sorted(calls) == sorted(set(values))
    for phone, outcome in zip(values, outcomes, strict=True):
        try:
            expected = identity.normalize_phone(phone, default_region="US", strict=True)
        except identity.InvalidPhoneError as err:
            assert outcome.draft is None and outcome.errors == [f"Phone: {err.message}"]
        else:
            assert outcome.errors == [] and outcome.draft.phone == expected


def test_cached_invalid_phone_is_dropped_and_reported_each_time():
    processor = _processor()
    first = processor.process(2, _row(email="a@x.com", phone="+1 555"))
    again = processor.process(3, _row(email="b@x.com", phone="+1 555"))
    for outcome in (first, again):
        assert outcome.errors == [] and outcome.warnings == [] and outcome.draft.phone is None
        assert len(outcome.dropped) == 1 and outcome.dropped[0].startswith("Phone: '+1 555' is not a valid")


# ---------------------------------------------------------------------------------- invalid values
def test_an_invalid_phone_is_dropped_and_reported_when_the_email_is_valid():
    # Given a row with a valid email and a phone number libphonenumber cannot parse
    row = _row(first_name="Ana", email="ana@example.com", phone="+1 555", company="Casa Praia")
    # When it is processed with the default option (drop_field)
    outcome = _processor().process(2, row)
    # Then the lead is kept without the phone, and the dropped value is named with its column
    assert outcome.errors == [] and outcome.draft is not None
    assert (outcome.draft.email, outcome.draft.phone) == ("ana@example.com", None)
    assert "phone" not in outcome.draft.fields and outcome.draft.fields["company"] == "Casa Praia"
    assert len(outcome.dropped) == 1 and outcome.dropped[0].startswith("Phone: '+1 555' is not a valid phone")


def test_reject_row_keeps_the_strict_behaviour():
    row = _row(email="ana@example.com", phone="+1 555")
    outcome = _processor(invalid_values="reject_row").process(2, row)
    assert outcome.draft is None and outcome.dropped == []
    assert len(outcome.errors) == 1 and outcome.errors[0].startswith("Phone: '+1 555' is not a valid phone")


def test_invalid_custom_values_are_dropped_one_by_one():
    outcome = _processor().process(2, _row(email="a@x.com", budget="abc", plan="Pro"))
    assert outcome.errors == [] and outcome.draft.fields["custom_fields"] == {"plan": "Pro"}
    assert outcome.dropped == ["Budget: Custom field 'budget': 'abc' is not a number"]


def test_a_row_whose_every_identity_is_invalid_is_still_rejected():
    # Given a row whose email and phone are both invalid (a name alone cannot match the corrected row later)
    outcome = _processor().process(2, _row(first_name="Bob", email="bob@", phone="+1 555"))
    # Then it is rejected with every invalid value and why nothing is left
    assert outcome.draft is None and outcome.dropped == []
    assert outcome.errors[0].startswith("Email: 'bob@' is not a valid email address")
    assert outcome.errors[1].startswith("Phone: '+1 555' is not a valid phone number")
    assert outcome.errors[2] == "no valid email, phone or unique key is left to identify the lead"
    # and a disposable address as the only identity is rejected too
    disposable = _processor().process(3, _row(first_name="Tim", email="t@mailinator.com"))
    assert disposable.draft is None and disposable.errors[0] == (
        "Email: mailinator.com is a disposable email domain"
    )


def test_a_required_value_that_is_invalid_rejects_the_row():
    outcome = _processor(required=("custom:budget",)).process(2, _row(email="a@x.com", budget="abc"))
    assert outcome.draft is None
    assert outcome.errors == [
        "Budget: Custom field 'budget': 'abc' is not a number",
        "Budget: a value is required",
    ]


def test_an_invalid_unique_key_value_is_an_identity():
    prospect = CustomFieldDefinition(
        key="prospect_id", label="Prospect ID", type="text", pattern="^[0-9a-f]{8}$"
    )
    processor = RowProcessor(
        ["Prospect ID", "Name"],
        FieldMapping(columns={"Prospect ID": "custom:prospect_id", "Name": "name"}),
        [prospect],
        ValidationOptions(unique_key="custom:prospect_id"),
    )
    outcome = processor.process(2, ["not-hex", "Ana"])
    assert outcome.draft is None and outcome.errors[-1].startswith("no valid email, phone or unique key")
