"""Column mapping: real CRM export headers, synthetic Zoho/Pipedrive/HubSpot headers, validation."""

import csv
from pathlib import Path

import pytest

from leadtide.customfields.models import CustomFieldDefinition
from leadtide.imports.mapping import (
    FieldMapping,
    InvalidMappingError,
    detect_source,
    explain_unmapped,
    normalize_header,
    propose_mapping,
    slugify,
    suggest_custom_field,
    validate_mapping,
)
from leadtide.imports.reading import open_table

RATING = CustomFieldDefinition(key="member_rating", label="Member rating", type="number")
QUALITY = CustomFieldDefinition(key="lead_quality", label="Lead Quality", type="text")
BUDGET = CustomFieldDefinition(key="budget", label="Budget", type="number", required=True)


def _headers(path) -> list[str]:
    return open_table(path.read_bytes(), path.name).headers


def _mapped(proposal) -> dict[str, str]:
    return {h: t for h, t in proposal.mapping.columns.items() if t}


def test_salesforce_lead_export(shared_data):
    # Given the real Salesforce lead export (BOM, API names, JSON Address, custom __c fields)
    headers = _headers(shared_data / "crm_exports" / "salesforce_lead_export_sfdc_assets.csv")
    # When a mapping is proposed
    proposal = propose_mapping(headers, [])
    mapped = _mapped(proposal)
    # Then the standard Lead fields land on Leadtide's, and the file is recognised
    assert proposal.detected_source == "salesforce"
    assert mapped["Email"] == "email" and mapped["Phone"] == "phone"
    assert (mapped["FirstName"], mapped["LastName"], mapped["Name"]) == ("first_name", "last_name", "name")
    assert (mapped["Company"], mapped["Title"], mapped["Status"]) == ("company", "job_title", "status")
    assert (mapped["LeadSource"], mapped["OwnerId"], mapped["Address"]) == (
        "lead_source",
        "owner_email",
        "address",
    )
    assert (mapped["City"], mapped["Country"], mapped["Website"], mapped["Description"]) == (
        "city",
        "country",
        "website",
        "notes",
    )
    assert mapped["CreatedDate"] == "source_created_at"
    # the home phone loses the phone target to the main Phone column; system columns map to nothing
    for unmapped in ("Home_Phone__c", "Id", "IsDeleted", "Industry", "Rating", "Street"):
        assert unmapped not in mapped
    reasons = {c.header: c.reason for c in proposal.unmapped}
    assert (reasons["Home_Phone__c"], reasons["Street"], reasons["IsDeleted"]) == (
        "ambiguous",
        "ambiguous",
        "not_imported",
    )
    validate_mapping(proposal.mapping, headers, [])


def test_salesforce_custom_field_by_api_name(shared_data):
    headers = _headers(shared_data / "crm_exports" / "salesforce_lead_export_sfdc_assets.csv")
    gender = CustomFieldDefinition(key="gender", label="Gender", type="dropdown", options=["male", "female"])
    assert propose_mapping(headers, [gender]).mapping.columns["Gender__c"] == "custom:gender"


def test_mailchimp_audience_export(shared_data):
    headers = _headers(shared_data / "crm_exports" / "mailchimp_audience_export_sample.csv")
    bare = propose_mapping(headers, [])
    assert bare.detected_source == "mailchimp"
    assert _mapped(bare) == {
        "Email Address": "email",
        "First Name": "first_name",
        "Last Name": "last_name",
        "CC": "country",
        "NOTES": "notes",
    }
    # MEMBER_RATING has no lead field; with the tenant's custom field it maps there
    with_rating = propose_mapping(headers, [RATING])
    assert with_rating.mapping.columns["MEMBER_RATING"] == "custom:member_rating"
    assert with_rating.confidence["MEMBER_RATING"] > 0.9


def test_hubspot_import_example(shared_data):
    headers = _headers(shared_data / "crm_exports" / "hubspot_contacts_import_example.csv")
    proposal = propose_mapping(headers, [])
    assert _mapped(proposal) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email Address": "email",
    }
    assert proposal.detected_source is None  # three generic columns say nothing about the CRM


def test_hubspot_default_export_header():
    # HubSpot's contacts-view export header, as SOURCES.md quotes it
    headers = [
        "Record ID",
        "First Name",
        "Last Name",
        "Email",
        "Phone Number",
        "Contact owner",
        "Primary Associated Company ID",
        "Last Activity Date",
        "Lead Status",
        "Marketing contact status",
        "Create Date",
        "Associated Company",
    ]
    proposal = propose_mapping(headers, [])
    assert proposal.detected_source == "hubspot"
    assert _mapped(proposal) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone Number": "phone",
        "Contact owner": "owner_email",
        "Lead Status": "status",
        "Associated Company": "company",
        "Create Date": "source_created_at",
    }


def test_xeducation_leads(shared_data):
    headers = _headers(shared_data / "xeducation_leads.csv")
    proposal = propose_mapping(headers, [QUALITY])
    assert proposal.detected_source == "xeducation" and proposal.null_values == ["Select"]
    assert _mapped(proposal) == {
        "Lead Source": "lead_source",
        "Country": "country",
        "Tags": "tags",
        "City": "city",
        "Lead Quality": "custom:lead_quality",
    }
    # no email, phone or name: usable only with a unique custom key (the Prospect ID)
    with pytest.raises(InvalidMappingError, match="email, phone or a name"):
        validate_mapping(proposal.mapping, headers, [QUALITY])
    prospect = CustomFieldDefinition(key="prospect_id", label="Prospect ID", type="text")
    proposal = propose_mapping(headers, [QUALITY, prospect])
    assert proposal.mapping.columns["Prospect ID"] == "custom:prospect_id"
    validate_mapping(proposal.mapping, headers, [QUALITY, prospect], unique_key="custom:prospect_id")


def test_zoho_leads_export(shared_data):
    headers = _headers(shared_data / "zoho_crm_analytics_sample" / "Leads.csv")
    proposal = propose_mapping(headers, [])
    assert proposal.detected_source == "zoho"
    mapped = _mapped(proposal)
    assert mapped == {
        "Last Name": "last_name",
        "Company": "company",
        "Lead Owner": "owner_email",
        "Email": "email",
        "Mobile": "phone",
        "Website": "website",
        "Lead Source": "lead_source",
        "Lead Status": "status",
        "Created Time": "source_created_at",
    }


def test_zoho_synthetic_header():
    headers = [
        "Lead Owner",
        "First Name",
        "Last Name",
        "Email",
        "Mobile",
        "Annual Revenue",
        "No of Employees",
    ]
    proposal = propose_mapping(headers, [])
    assert proposal.detected_source == "zoho"
    assert _mapped(proposal)["Mobile"] == "phone" and "Annual Revenue" not in _mapped(proposal)


def test_pipedrive_export_header():
    headers = [
        "Person - Name",
        "Person - Email - Work",
        "Person - Email - Home",
        "Person - Phone - Mobile",
        "Organization - Name",
        "Lead - Title",
        "Lead - Source",
        "Person - Labels",
        "Person - Job title",
    ]
    proposal = propose_mapping(headers, [])
    assert proposal.detected_source == "pipedrive"
    assert _mapped(proposal) == {
        "Person - Name": "name",
        "Person - Email - Work": "email",  # the work email beats the home email
        "Person - Phone - Mobile": "phone",
        "Organization - Name": "company",
        "Lead - Source": "lead_source",
        "Person - Labels": "tags",
        "Person - Job title": "job_title",  # "Lead - Title" names the deal, not the person's job
    }


def test_near_misses_map_fuzzily_with_lower_confidence():
    proposal = propose_mapping(["Frist Name", "Compnay Name", "Emial", "County", "Notes", "Votes"], [])
    assert _mapped(proposal) == {
        "Frist Name": "first_name",
        "Compnay Name": "company",
        "Emial": "email",
        "Notes": "notes",
    }
    assert proposal.confidence["Frist Name"] < 0.95 and proposal.confidence["Notes"] == 1.0


def test_normalize_header():
    assert normalize_header("FirstName") == "first name"
    assert normalize_header("MEMBER_RATING") == "member rating"
    assert normalize_header("Person - Email - Work") == "person email work"
    assert normalize_header("Home_Phone__c") == "home phone"
    assert normalize_header("  Téléphone ") == "telephone"


def test_detect_source_needs_two_signals():
    assert detect_source(["Email", "Lead Owner"]) is None
    assert detect_source(["Email", "Lead Owner", "LEADID"]) == "zoho"


def test_validate_mapping_names_every_problem():
    headers = ["Email", "Mail 2", "Budget", "Name"]
    mapping = FieldMapping(
        columns={"Email": "email", "Mail 2": "email", "Missing": "phone", "Name": "custom:nope"}
    )
    with pytest.raises(InvalidMappingError) as caught:
        validate_mapping(mapping, headers, [BUDGET])
    problems = {(d["field"], d["problem"]) for d in caught.value.details}
    assert ("Missing", "no column with this header in the file") in problems
    assert any(f == "email" and "Email, Mail 2" in p for f, p in problems)
    assert any(f == "Name" and "custom:nope" in p for f, p in problems)
    assert any(f == "custom:budget" and "required" in p for f, p in problems)
    assert caught.value.status_code == 422 and caught.value.code == "invalid_mapping"


def test_validate_mapping_requires_an_identity_and_the_unique_key():
    with pytest.raises(InvalidMappingError, match="email, phone or a name"):
        validate_mapping(FieldMapping(columns={"Company": "company"}), ["Company"], [])
    with pytest.raises(InvalidMappingError, match="unique key phone"):
        validate_mapping(FieldMapping(columns={"E": "email"}), ["E"], [], unique_key="phone")
    validate_mapping(FieldMapping(columns={"N": "name", "T1": "tags", "T2": "tags"}), ["N", "T1", "T2"], [])


def test_field_mapping_aliases_and_unknown_targets():
    mapping = FieldMapping(columns={"a": "source", "b": "custom:country", "c": None, "d": ""})
    assert mapping.columns == {"a": "lead_source", "b": "country", "c": None, "d": None}
    with pytest.raises(ValueError, match="unknown targets"):
        FieldMapping(columns={"a": "birthday"})


def test_suggest_custom_field_infers_types(shared_data):
    assert slugify("Total Time Spent on Website") == "total_time_spent_on_website"
    assert slugify("2nd Phone") == "f_2nd_phone"
    assert suggest_custom_field("MEMBER_RATING", ["2", "4", "5"]).type == "number"
    assert suggest_custom_field("Annual Revenue", ["$22,700.00", "1,200"]).type == "number"
    assert suggest_custom_field("Do Not Email", ["No", "Yes", "No"]).type == "checkbox"
    assert suggest_custom_field("Signup", ["2024-03-01", "03/02/2024"]).type == "date"
    assert suggest_custom_field("Site", ["https://a.com", "b.org/x"]).type == "url"
    # the real X Education column: few distinct values repeating -> dropdown, "Select" ignored
    with (shared_data / "xeducation_leads.csv").open(encoding="utf-8") as handle:
        column = [row["Lead Quality"] for _, row in zip(range(300), csv.DictReader(handle), strict=False)]
    suggestion = suggest_custom_field("Lead Quality", column, null_values=["Select"])
    assert suggestion.key == "lead_quality" and suggestion.type == "dropdown"
    assert set(suggestion.options or []) <= {
        "Low in Relevance",
        "Might be",
        "Not Sure",
        "High in Relevance",
        "Worst",
    }
    assert suggest_custom_field("Comment", [f"free text {i}" for i in range(30)]).type == "text"


# ------------------------------------------------------------------ standard export header sets
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm_exports"


def _table(path):
    table = open_table(path.read_bytes(), path.name)
    return table.headers, [cells for _, cells in table.rows]


def _reasons(proposal) -> dict[str, str]:
    return {column.header: column.reason for column in proposal.unmapped}


STANDARD_EXPORTS = {
    "zoho_contacts.csv": (
        "zoho",
        {
            "Last Name": "last_name",
            "Contact Owner": "owner_email",
            "Email": "email",
            "Lead Source": "lead_source",
            "Mobile": "phone",
            "Created Time": "source_created_at",
        },
        {"CONTACTID": "not_imported", "Account Id": "not_imported"},
    ),
    "zoho_leads.csv": (
        "zoho",
        {
            "Lead Owner": "owner_email",
            "First Name": "first_name",
            "Last Name": "last_name",
            "Title": "job_title",
            "Company": "company",
            "Email": "email",
            "Phone": "phone",
            "Website": "website",
            "Lead Source": "lead_source",
            "Lead Status": "status",
            "Street": "address",
            "City": "city",
            "Country": "country",
            "Description": "notes",
            "Tag": "tags",
            "Created Time": "source_created_at",
        },
        {
            "Secondary Email": "ambiguous",
            "Mobile": "ambiguous",
            "Fax": "no_values",
            "Record Id": "not_imported",
        },
    ),
    "salesforce_contacts.csv": (
        "salesforce",
        {
            "LastName": "last_name",
            "FirstName": "first_name",
            "Name": "name",
            "MailingCity": "city",
            "MailingCountry": "country",
            "MailingAddress": "address",
            "Phone": "phone",
            "Email": "email",
            "Title": "job_title",
            "LeadSource": "lead_source",
            "Description": "notes",
            "OwnerId": "owner_email",
            "CreatedDate": "source_created_at",
        },
        {"MobilePhone": "ambiguous", "MailingStreet": "ambiguous", "OtherCity": "no_values"},
    ),
    "salesforce_report_leads.csv": (
        "salesforce",
        {
            "Lead Owner": "owner_email",
            "First Name": "first_name",
            "Last Name": "last_name",
            "Title": "job_title",
            "Company / Account": "company",
            "Email": "email",
            "Phone": "phone",
            "Lead Source": "lead_source",
            "Lead Status": "status",
            "Street": "address",
            "City": "city",
            "Country": "country",
            "Created Date": "source_created_at",
        },
        {"Mobile": "ambiguous", "Lead ID": "not_imported", "Zip/Postal Code": "not_imported"},
    ),
    "hubspot_contacts_export.csv": (
        "hubspot",
        {
            "First Name": "first_name",
            "Last Name": "last_name",
            "Email": "email",
            "Phone Number": "phone",
            "Contact owner": "owner_email",
            "Lead Status": "status",
            "Company Name": "company",
            "Job Title": "job_title",
            "Street Address": "address",
            "City": "city",
            "Country/Region": "country",
            "Website URL": "website",
            "Create Date": "source_created_at",
            "Original Source": "lead_source",
        },
        {
            "Mobile Phone Number": "ambiguous",
            "Associated Company": "ambiguous",
            "Record ID": "not_imported",
            "Original Source Drill-Down 2": "no_values",
        },
    ),
    "pipedrive_people.csv": (
        "pipedrive",
        {
            "Person - Name": "name",
            "Person - First name": "first_name",
            "Person - Last name": "last_name",
            "Person - Label": "tags",
            "Person - Organization": "company",
            "Person - Email - Work": "email",
            "Person - Phone - Work": "phone",
            "Person - Owner": "owner_email",
            "Person - Person created": "source_created_at",
            "Person - Job title": "job_title",
            "Person - Postal address": "address",
            "Person - Notes": "notes",
        },
        {
            "Person - Email - Home": "ambiguous",
            "Person - Phone - Mobile": "ambiguous",
            "Organization - Name": "ambiguous",
            "Organization - Address": "ambiguous",
            "Person - Visible to": "not_imported",
        },
    ),
    "pipedrive_leads.csv": (
        "pipedrive",
        {
            "Lead - Owner": "owner_email",
            "Lead - Source": "lead_source",
            "Lead - Labels": "tags",
            "Lead - Lead created": "source_created_at",
            "Person - Name": "name",
            "Person - Email": "email",
            "Person - Phone": "phone",
            "Organization - Name": "company",
        },
        {"Lead - Title": "not_imported", "Lead - Value": "not_imported"},
    ),
    "mailchimp_unsubscribed.csv": (
        "mailchimp",
        {
            "Email Address": "email",
            "First Name": "first_name",
            "Last Name": "last_name",
            "Address": "address",
            "Phone Number": "phone",
            "TAGS": "tags",
            "CC": "country",
            "NOTES": "notes",
        },
        {"UNSUB_TIME": "not_imported", "UNSUB_REASON_OTHER": "no_values", "OPTIN_IP": "no_values"},
    ),
}


@pytest.mark.parametrize("name", sorted(STANDARD_EXPORTS))
def test_standard_export_headers_map_themselves_and_say_why_a_column_is_not_mapped(name):
    # Given a synthetic export with a CRM's standard header set and two or three invented rows
    source, expected, some_reasons = STANDARD_EXPORTS[name]
    headers, sample = _table(FIXTURES / name)
    # When Leadtide proposes a mapping from the header and the first rows
    proposal = propose_mapping(headers, [], sample=sample)
    # Then the CRM is recognised, the standard columns map to their fields
    assert proposal.detected_source == source
    assert _mapped(proposal) == expected
    # and every other column is listed with why it is not mapped - never "unknown" for a standard column
    reasons = _reasons(proposal)
    assert set(reasons) == set(headers) - set(expected)
    assert {h: reasons[h] for h in some_reasons} == some_reasons
    assert "unknown_header" not in reasons.values(), {
        h: r for h, r in reasons.items() if r == "unknown_header"
    }
    assert all(column.detail for column in proposal.unmapped)
    validate_mapping(proposal.mapping, headers, [], unique_key="email")


def test_unmapped_reasons_name_the_competing_column_and_the_empty_ones():
    headers = ["Email", "Work Email", "IsDeleted", "Favourite Colour", "Spare", "Nickname"]
    sample = [
        ["ana@x.com", "ana@work.com", "0", "blue", "", "#N/A"],
        ["bo@x.com", "", "0", "red", "", ""],
    ]
    proposal = propose_mapping(headers, [], sample=sample)
    by_header = {c.header: c for c in proposal.unmapped}
    assert {h: c.reason for h, c in by_header.items()} == {
        "Work Email": "ambiguous",
        "IsDeleted": "not_imported",
        "Favourite Colour": "unknown_header",
        "Spare": "no_values",
        "Nickname": "no_values",  # the reader turns #N/A into an empty cell; here the sample holds it raw
    }
    assert "email" in by_header["Work Email"].detail and "'Email'" in by_header["Work Email"].detail
    assert "Favourite Colour" in by_header["Favourite Colour"].detail


def test_a_column_with_values_wins_its_field_over_an_empty_one():
    # Given a Salesforce contact whose Phone column is empty in every sampled row but MobilePhone is not
    headers = ["LastName", "Email", "Phone", "MobilePhone"]
    sample = [["Marsh", "e@x.com", "", "(660) 485-0391"], ["Okafor", "c@x.com", "#N/A", "(860) 253-6410"]]
    proposal = propose_mapping(headers, [], sample=sample)
    # Then the column that has values feeds the phone, and the empty one says why it is not mapped
    assert proposal.mapping.columns["MobilePhone"] == "phone" and proposal.mapping.columns["Phone"] is None
    assert _reasons(proposal)["Phone"] == "no_values"
    # and without a sample, the most confident column wins as before
    assert propose_mapping(headers, []).mapping.columns["Phone"] == "phone"


def test_explained_reasons_follow_an_explicit_mapping():
    headers = ["Email", "Phone", "Company"]
    sample = [["a@x.com", "+14155552671", "Acme"]]
    columns = {"Email": "email", "Phone": None}
    explained = explain_unmapped(headers, columns, [], sample)
    reasons = {c.header: (c.reason, c.detail) for c in explained}
    assert reasons["Phone"][0] == "ignored" and "phone" in reasons["Phone"][1]
    assert reasons["Company"][0] == "ignored" and "not in the mapping" in reasons["Company"][1]
    # a mapping a person chose leaves unknown columns out on purpose: ignored, saying what they are
    chosen = explain_unmapped(
        ["Email", "Family", "IsDeleted"], {"Email": "email", "Family": None}, [], chosen=True
    )
    assert [(c.header, c.reason) for c in chosen] == [("Family", "ignored"), ("IsDeleted", "ignored")]
    assert "does not recognise" in chosen[0].detail and "no Leadtide field" in chosen[1].detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16 Apr, 2021 00:02:00", "2021-04-16"),  # Zoho (en_GB)
        ("Apr 16, 2021 12:02 AM", "2021-04-16"),  # Zoho (en_US)
        ("2024-01-22T20:36:47.000+0000", "2024-01-22"),  # Salesforce API
        ("1/22/2024, 8:36 PM", "2024-01-22"),  # Salesforce report (en_US)
        ("22/01/2024 20:36", "2024-01-22"),  # Salesforce report (en_GB)
        ("22.01.2024, 20:36", "2024-01-22"),  # Salesforce report (de_DE)
        ("2023-05-17 10:41", "2023-05-17"),  # HubSpot
        ("2021-03-04 10:20:30", "2021-03-04"),  # Pipedrive, Mailchimp
        ("Fri, 16 Apr 2021 00:02:00 GMT", "2021-04-16"),  # RFC 2822 (e-mail and HTTP tools)
    ],
)
def test_crm_export_date_formats(text, expected):
    from leadtide.customfields.models import parse_date

    assert str(parse_date(text)) == expected
    assert suggest_custom_field("When", [text, text]).type == "date"
