"""Real and synthetic CRM exports through the whole import pipeline (in-memory fakes): Zoho contacts and
leads, Salesforce (API names, report labels, empty cells written as #N/A and other spreadsheet error
values), HubSpot, Pipedrive and Mailchimp auto-map, parse their dates and import without a mapping."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from tests.unit.test_import_pipeline import ADMIN, Harness, T

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm_exports"
SALESFORCE_LEADS = ("crm_exports", "salesforce_lead_export_sfdc_assets.csv")

# file -> (the first row's creation date as the CRM wrote it, as a date); the first row is Ellen Marsh
CREATED = {
    "zoho_contacts.csv": ("16 Apr, 2021 00:02:00", "2021-04-16"),
    "zoho_leads.csv": ("Apr 16, 2021 12:02 AM", "2021-04-16"),
    "salesforce_contacts.csv": ("2024-01-22T20:36:47.000+0000", "2024-01-22"),
    "salesforce_report_leads.csv": ("1/22/2024, 8:36 PM", "2024-01-22"),
    "hubspot_contacts_export.csv": ("2023-05-17 10:41", "2023-05-17"),
    "pipedrive_people.csv": ("2021-03-04 10:20:30", "2021-03-04"),
    "pipedrive_leads.csv": ("2021-03-04 10:20:30", "2021-03-04"),
    "mailchimp_unsubscribed.csv": (None, None),
}


def _leads(h: Harness) -> list:
    return [h.store.lead(tenant, lead_id) for (tenant, lead_id) in sorted(h.store.leads) if tenant == T]


def _import(data: bytes | str, filename: str = "export.csv", **options):
    h = Harness()
    import_id = h.upload(data, filename=filename, **options)
    h.run()
    return h, import_id, h.job(import_id)


@pytest.mark.parametrize("name", sorted(CREATED))
def test_standard_exports_import_without_a_mapping_and_keep_their_creation_date(name):
    # Given a synthetic export with a CRM's standard header, imported with the default options
    data = (FIXTURES / name).read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))[1:]
    h, import_id, job = _import(data, filename=name)
    # Then it never waits for a mapping: every row is a lead
    assert (job.status, job.created, job.failed, job.rows_total) == ("completed", len(rows), 0, len(rows))
    written, as_date = CREATED[name]
    first = next(lead for lead in _leads(h) if "Marsh" in (lead.name or ""))
    # and the creation date in the CRM's own format is kept as a date
    if written is not None:
        assert written in rows[0]
        assert first.custom_fields["source_created_at"] == as_date
    # and the preview says why every other column is not imported
    preview = h.service.preview(ADMIN, import_id)
    assert {c.header for c in preview.unmapped} == {h for h, t in preview.mapping.items() if t is None}
    assert "unknown_header" not in {c.reason for c in preview.unmapped}


def test_zoho_contacts_export_imports_its_leads_and_reports_the_disposable_addresses():
    # Given the Zoho contacts export of issue 10 (the sample's fakenamegenerator domains are disposable)
    data = (FIXTURES / "zoho_contacts.csv").read_bytes()
    # When it is imported with the defaults (reject_disposable, invalid_values: drop_field)
    h, import_id, job = _import(data, filename="Contacts.csv")
    # Then every contact is a lead: a disposable address is left out and named in the report
    assert (job.status, job.created, job.failed, job.rows_with_dropped_values) == ("completed", 4, 0, 3)
    leads = {lead.last_name: lead for lead in _leads(h)}
    assert set(leads) == {"Marsh", "Okafor", "Lindqvist", "Baptiste"}
    assert leads["Lindqvist"].email == "annalindqvist@example.com" and leads["Marsh"].email is None
    assert leads["Marsh"].phone == "+16604850391"
    assert leads["Marsh"].custom_fields["owner_email"] == "David Love"
    assert leads["Marsh"].custom_fields["lead_source"] == "Employee Referral"
    assert leads["Baptiste"].custom_fields["source_created_at"] == "2021-04-14"
    link = h.service.error_report(ADMIN, import_id)
    assert (link.rows, link.rejected, link.rows_with_dropped_values) == (3, 0, 3)
    preview = h.service.preview(ADMIN, import_id)
    assert preview.detected_source == "zoho"
    reasons = {c.header: c.reason for c in preview.unmapped}
    assert reasons == {"CONTACTID": "not_imported", "Account Id": "not_imported"}


def _rewrite(data: bytes, fill: str) -> str:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(rows[0])
    writer.writerows([cell if cell.strip() else fill for cell in row] for row in rows[1:])
    return out.getvalue()


def _stored(h: Harness) -> dict:
    return {
        lead.email: (lead.name, lead.phone, lead.company, lead.status, lead.custom_fields)
        for lead in _leads(h)
    }


@pytest.mark.parametrize("fill", ["#N/A", "N/A", "NULL", "-", "#VALUE!", "#n/a"])
def test_salesforce_export_whose_empty_cells_read_as_an_error_value_imports_like_the_original(
    shared_data, fill
):
    # Given the real Salesforce lead export, and the same file with every empty cell written as `fill`
    data = shared_data.joinpath(*SALESFORCE_LEADS).read_bytes()
    original, _, original_job = _import(data, filename="Lead.csv")
    # When the rewritten file is imported
    h, import_id, job = _import(_rewrite(data, fill), filename="Lead.csv")
    # Then it maps itself and imports exactly as the original did: the markers are empty cells
    assert job.status == "completed" and job.mapping == original_job.mapping
    assert (job.created, job.failed) == (original_job.created, original_job.failed) == (60, 0)
    assert _stored(h) == _stored(original)
    # and the preview says a column is unmapped because it holds no value
    reasons = {c.header: c.reason for c in h.service.preview(ADMIN, import_id).unmapped}
    assert reasons["MasterRecordId"] == "no_values" and reasons["IsDeleted"] == "no_values"


def test_salesforce_workbook_with_error_cells_imports_like_the_csv(shared_data):
    # Given the Salesforce export saved as a workbook whose empty cells hold Excel's #N/A error
    data = shared_data.joinpath(*SALESFORCE_LEADS).read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(rows[0])
    for row in rows[1:]:
        sheet.append([cell if cell.strip() else "#N/A" for cell in row])
    buffer = io.BytesIO()
    book.save(buffer)
    original, _, _ = _import(data, filename="Lead.csv")
    # When it is imported
    h, _, job = _import(buffer.getvalue(), filename="Lead.xlsx")
    # Then the leads are those of the CSV
    assert (job.status, job.created, job.failed) == ("completed", 60, 0)
    assert _stored(h) == _stored(original)


def test_zoho_leads_sample_imports_its_leads(shared_data):
    # Given the first 200 leads of the real Zoho CRM sample (fakenamegenerator e-mail domains, which the
    # disposable-domain list holds)
    text = shared_data.joinpath("zoho_crm_analytics_sample", "Leads.csv").read_text(encoding="utf-8")
    data = "".join(text.splitlines(keepends=True)[:201])
    # When it is imported with the defaults
    h, import_id, job = _import(data, filename="Leads.csv")
    # Then every lead is imported (the disposable addresses left out and reported), dated from Created Time
    assert (job.status, job.created, job.failed) == ("completed", 200, 0)
    assert job.rows_with_dropped_values == 200
    assert all(lead.phone and lead.custom_fields.get("source_created_at") for lead in _leads(h))
    reasons = {c.header: c.reason for c in h.service.preview(ADMIN, import_id).unmapped}
    assert reasons["LEADID"] == "not_imported" and reasons["Industry"] == "not_imported"
