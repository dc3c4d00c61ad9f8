"""Unit tests of the import pipeline (analyse, plan, chunks, rollback) over in-memory fakes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from leadtide.imports.models import ColumnMapping, DedupeOptions, ImportCreate, ImportOptions, MappingUpdate
from leadtide.imports.pipeline import ImportPipeline, data_key, new_lead_id
from leadtide.imports.ports import ImportStorageError
from leadtide.imports.service import ImportService
from leadtide.models.auth import Principal
from leadtide.models.common import ChannelType, LeadStatus, Role
from leadtide.models.errors import ForbiddenError, ImportNotFoundError, ImportStateError, UnprocessableError
from leadtide.models.leads import Lead
from leadtide.models.scoring import GradeOverride
from tests.fakes import FakeEventPublisher
from tests.import_fakes import FakeArtifacts, FakeImportRepository, FakeLeadBulkStore, RecordingQueue

T = "t1"
ADMIN = Principal(T, "admin-1", Role.ADMIN)
HEADER = "First Name,Last Name,Email,Phone,Company\n"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=7)
        return self.now


class Harness:
    """The pipeline and the service over fakes; ``artifacts``: makes the artifacts store from the clock."""

    def __init__(
        self, chunk_rows: int = 1000, artifacts: Callable[[Clock], FakeArtifacts] | None = None
    ) -> None:
        self.repo = FakeImportRepository()
        self.store = FakeLeadBulkStore()
        self.clock = Clock()
        self.artifacts = artifacts(self.clock) if artifacts is not None else FakeArtifacts()
        self.events = FakeEventPublisher()
        self.queue = RecordingQueue()
        self.pipeline = ImportPipeline(
            self.repo,
            self.store,
            self.artifacts,
            self.events,
            self.queue,
            lambda tenant: [],
            clock=self.clock,
            chunk_rows=chunk_rows,
        )
        self.service = ImportService(self.repo, self.artifacts, self.pipeline, self.queue, clock=self.clock)

    def upload(
        self, text: str | bytes, *, principal: Principal = ADMIN, filename: str = "leads.csv", **options
    ):
        created = self.service.create(principal, ImportCreate(filename=filename, **options))
        record = self.repo.get(principal.tenant_id, created.import_id)
        key = record.source_key
        data = text.encode() if isinstance(text, str) else text
        self.artifacts.put(key, data)
        self.pipeline.analyse(principal.tenant_id, created.import_id, key, len(data))
        return created.import_id

    def run(self, *, shuffle: bool = False, limit: int = 10_000) -> int:
        """Run queued steps until none are left (as the Jobs worker would)."""
        ran = 0
        while self.queue.steps and ran < limit:
            step = self.queue.steps.pop(-1 if shuffle else 0)
            kind = step["kind"]
            if kind == "imports.plan":
                self.pipeline.plan(step["tenant_id"], step["import_id"])
            elif kind == "imports.chunk":
                self.pipeline.run_chunk(step["tenant_id"], step["import_id"], step["chunk"])
            elif kind == "imports.rollback_chunk":
                self.pipeline.rollback_chunk(step["tenant_id"], step["import_id"], step["chunk"])
            ran += 1
        return ran

    def job(self, import_id: str, principal: Principal = ADMIN):
        return self.service.get(principal, import_id)

    def existing(self, lead_id: str, **values) -> Lead:
        at = datetime(2024, 1, 1, tzinfo=UTC)
        lead = Lead(
            lead_id=lead_id,
            tenant_id=T,
            source_channel=ChannelType.WHATSAPP,
            created_at=at,
            updated_at=at,
            last_activity_at=at,
            **values,
        )
        keys = [(k, getattr(lead, k)) for k in ("email", "phone") if getattr(lead, k)]
        self.store.put_lead(lead, keys)
        return lead


def rows(*lines: str) -> str:
    return HEADER + "".join(line + "\n" for line in lines)


def test_new_rows_become_leads_with_identities_counters_and_events():
    # Given a file of three valid rows
    h = Harness()
    import_id = h.upload(
        rows(
            "Ada,Lovelace,ada@example.com,+1 415 555 0101,Analytical",
            "Alan,Turing,ALAN@example.com,,Bletchley",
            "Grace,Hopper,grace@example.com,+14155550103,Navy",
        )
    )
    # When the queued steps run
    h.run()
    # Then three leads exist, found by their email and phone identities
    job = h.job(import_id)
    assert (job.status, job.rows_total, job.created, job.updated, job.skipped, job.failed) == (
        "completed",
        3,
        3,
        0,
        0,
        0,
    )
    ada_id = h.store.identities[(T, "email", "ada@example.com")]
    assert h.store.identities[(T, "phone", "+14155550101")] == ada_id
    ada = h.store.lead(T, ada_id)
    assert (ada.first_name, ada.company, ada.source_channel, ada.import_id) == (
        "Ada",
        "Analytical",
        "import",
        import_id,
    )
    assert ada.name == "Ada Lovelace"
    assert (T, "email", "alan@example.com") in h.store.identities  # lower-cased
    # and the dashboard counters moved once, by the chunk
    assert h.repo.counters[(T, "total")] == 3
    assert h.repo.counters[(T, "status#New")] == 3
    assert h.repo.counters[(T, "source#import")] == 3
    assert h.events.types() == ["lead.created"] * 3
    assert all(e.data["import_id"] == import_id for e in h.events.events)


def test_skip_leaves_existing_leads_alone_and_counts_them():
    h = Harness()
    before = h.existing("a" * 32, email="ada@example.com", first_name="Augusta")
    snapshot = h.store.snapshot()
    import_id = h.upload(rows("Ada,Lovelace,ada@example.com,,Analytical", "Bob,Smith,bob@example.com,,"))
    h.run()
    job = h.job(import_id)
    assert (job.created, job.skipped, job.updated) == (1, 1, 0)
    assert h.store.leads[(T, before.lead_id)] == snapshot["leads"][(T, before.lead_id)]


def test_update_fill_empty_only_fills_blank_fields():
    h = Harness()
    lead = h.existing("b" * 32, email="ada@example.com", first_name="Augusta", company=None)
    import_id = h.upload(
        rows("Ada,Lovelace,ada@example.com,+14155550101,Analytical"),
        dedupe=DedupeOptions(strategy="update", update_mode="fill_empty"),
    )
    h.run()
    job = h.job(import_id)
    assert (job.created, job.updated) == (0, 1)
    updated = h.store.lead(T, lead.lead_id)
    assert updated.first_name == "Augusta"  # kept
    assert (updated.last_name, updated.company, updated.phone) == ("Lovelace", "Analytical", "+14155550101")
    assert h.store.identities[(T, "phone", "+14155550101")] == lead.lead_id  # new identity claimed
    assert updated.source_channel == "whatsapp" and updated.import_id is None  # provenance unchanged
    assert h.events.types() == ["lead.updated"]


def test_update_overwrite_replaces_values_and_moves_identities():
    h = Harness()
    lead = h.existing("c" * 32, email="ada@example.com", first_name="Augusta", phone="+14155550199")
    import_id = h.upload(
        rows("Ada,Lovelace,ada@example.com,+14155550101,Analytical"),
        dedupe=DedupeOptions(strategy="update", update_mode="overwrite"),
    )
    h.run()
    updated = h.store.lead(T, lead.lead_id)
    assert (updated.first_name, updated.phone) == ("Ada", "+14155550101")
    assert h.store.identities[(T, "phone", "+14155550101")] == lead.lead_id
    assert (T, "phone", "+14155550199") not in h.store.identities
    assert h.job(import_id).updated == 1


def test_update_onto_a_lead_with_a_grade_override_keeps_the_override():
    # Given a lead whose grade was pinned by hand, stored as the scoring API stores an override (its JSON
    # dump: ``at`` as ISO text), so reading it back gives a GradeOverride holding a datetime
    h = Harness()
    lead = h.existing("f" * 32, email="ada@example.com", first_name="Augusta", grade="cold")
    override = GradeOverride(
        grade="hot", reason="Met at the fair", by="boss", at=datetime(2025, 2, 1, tzinfo=UTC)
    )
    raw = h.store.leads[(T, lead.lead_id)]
    raw["grade"] = {"S": "hot"}
    raw["grade_override"] = {"S": json.dumps(override.model_dump(mode="json"))}
    # When an import updates it
    import_id = h.upload(
        rows("Ada,Lovelace,ada@example.com,,Analytical"),
        dedupe=DedupeOptions(strategy="update", update_mode="overwrite"),
    )
    h.run()
    # Then the row updates the lead (the chunk does not fail) and the override is kept exactly
    job = h.job(import_id)
    assert (job.status, job.updated, job.failed) == ("completed", 1, 0)
    updated = h.store.lead(T, lead.lead_id)
    assert (updated.first_name, updated.company) == ("Ada", "Analytical")
    assert updated.grade_override == override and updated.grade == "hot"
    assert json.loads(h.store.leads[(T, lead.lead_id)]["grade_override"]["S"]) == override.model_dump(
        mode="json"
    )


def test_update_never_steals_an_identity_of_another_lead():
    h = Harness()
    lead = h.existing("d" * 32, email="ada@example.com")
    other = h.existing("e" * 32, email="other@example.com", phone="+14155550101")
    h.upload(
        rows("Ada,Lovelace,ada@example.com,+14155550101,Analytical"),
        dedupe=DedupeOptions(strategy="update", update_mode="overwrite"),
    )
    h.run()
    assert h.store.identities[(T, "phone", "+14155550101")] == other.lead_id
    assert h.store.lead(T, lead.lead_id).phone is None
    assert h.store.lead(T, lead.lead_id).company == "Analytical"


def test_create_adds_a_new_lead_even_when_one_matches_but_keeps_identities_unique():
    h = Harness()
    lead = h.existing("f" * 32, email="ada@example.com")
    import_id = h.upload(
        rows("Ada,Lovelace,ada@example.com,+14155550101,Analytical"),
        dedupe=DedupeOptions(strategy="create"),
    )
    h.run()
    assert h.job(import_id).created == 1
    new_id = new_lead_id(T, import_id, 2)
    assert h.store.lead(T, new_id).email == "ada@example.com"
    assert h.store.identities[(T, "email", "ada@example.com")] == lead.lead_id  # still the first lead's
    assert h.store.identities[(T, "phone", "+14155550101")] == new_id


def test_in_file_duplicates_and_invalid_rows_go_to_the_error_report():
    h = Harness()
    import_id = h.upload(
        rows(
            "Ada,Lovelace,ada@example.com,,",
            "Ada,Again,ADA@example.com,,",
            "Bad,Email,not-an-email,,",
            "Throw,Away,x@mailinator.com,,",
            "=cmd,Formula,eve@example.com,,",
        )
    )
    h.run()
    job = h.job(import_id)
    assert job.status == "completed_with_errors"
    assert job.rows_total == 5
    assert job.failed == 3 and job.created + job.failed + job.skipped == 5
    report = h.artifacts.objects[data_key(T, import_id, "errors.csv")].decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(report)))
    assert lines[0] == [
        "row_number",
        "outcome",
        "reasons",
        "First Name",
        "Last Name",
        "Email",
        "Phone",
        "Company",
    ]
    by_row = {int(r[0]): r for r in lines[1:]}
    assert set(by_row) == {3, 4, 5}
    assert {r[1] for r in by_row.values()} == {"rejected"}
    assert "duplicate of row 2" in by_row[3][2]
    assert by_row[4][5] == "not-an-email"
    link = h.service.error_report(ADMIN, import_id)
    assert link.rows == 3 and "errors.csv" in link.url


def _report(h: Harness, import_id: str) -> dict[int, list[str]]:
    text = h.artifacts.objects[data_key(T, import_id, "errors.csv")].decode("utf-8-sig")
    return {int(r[0]): r for r in list(csv.reader(io.StringIO(text)))[1:]}


def test_an_unparseable_phone_is_dropped_the_lead_imported_and_the_value_reported():
    # Given a file whose second row has a valid email and a phone number that cannot be parsed
    h = Harness()
    import_id = h.upload(
        rows(
            "Ada,Lovelace,ada@example.com,+1 415 555 0101,Analytical", "Alan,Turing,alan@example.com,+1 555,"
        )
    )
    # Then the preview already says the phone would be dropped
    preview = h.service.preview(ADMIN, import_id)
    assert preview.rows[1].errors == [] and preview.rows[1].dropped[0].startswith("Phone: '+1 555'")
    # When the import runs with the default option (drop_field)
    h.run()
    job = h.job(import_id)
    # Then both leads are created, the second without a phone, and nothing failed
    assert (job.status, job.created, job.failed, job.rows_with_dropped_values) == ("completed", 2, 0, 1)
    assert job.options["invalid_values"] == "drop_field"
    alan = h.store.lead(T, h.store.identities[(T, "email", "alan@example.com")])
    assert alan.phone is None and alan.last_name == "Turing"
    assert [k for k in h.store.identities if k[1] == "phone"] == [(T, "phone", "+14155550101")]
    # and the error report lists the row with the dropped value and its original cells
    report = _report(h, import_id)
    assert set(report) == {3}
    assert report[3][1] == "values_dropped" and report[3][2].startswith(
        "Phone: '+1 555' is not a valid phone"
    )
    assert report[3][6] == "'+1 555"  # the report quotes cells a spreadsheet could run as formulas
    link = h.service.error_report(ADMIN, import_id)
    assert (link.rows, link.rejected, link.rows_with_dropped_values) == (1, 0, 1)
    assert job.error_report_available


def test_reject_row_rejects_the_row_with_the_unparseable_phone():
    h = Harness()
    import_id = h.upload(
        rows("Ada,Lovelace,ada@example.com,,", "Alan,Turing,alan@example.com,+1 555,"),
        invalid_values="reject_row",
    )
    h.run()
    job = h.job(import_id)
    assert (job.status, job.created, job.failed, job.rows_with_dropped_values) == (
        "completed_with_errors",
        1,
        1,
        0,
    )
    assert _report(h, import_id)[3][1:3] == [
        "rejected",
        "Phone: '+1 555' is not a valid phone number: not a valid number",
    ]


def test_a_row_whose_identities_are_all_invalid_is_rejected_with_every_reason():
    h = Harness()
    import_id = h.upload(rows("Bob,Builder,bob@,+1 555,Yard", "Ada,Lovelace,ada@example.com,,"))
    h.run()
    job = h.job(import_id)
    assert (job.created, job.failed, job.rows_with_dropped_values) == (1, 1, 0)
    outcome, reasons = _report(h, import_id)[2][1:3]
    assert outcome == "rejected"
    assert reasons.startswith("Email: 'bob@' is not a valid email address")
    assert "Phone: '+1 555' is not a valid phone number" in reasons
    assert reasons.endswith("no valid email, phone or unique key is left to identify the lead")


def test_the_mapping_update_can_change_invalid_values_and_the_preview_follows():
    h = Harness()
    import_id = h.upload(rows("Alan,Turing,alan@example.com,+1 555,"), auto_start=False)
    assert h.service.preview(ADMIN, import_id).rows[0].dropped
    mapping = {"First Name": "first_name", "Last Name": "last_name", "Email": "email", "Phone": "phone"}
    preview = h.service.set_mapping(
        ADMIN, import_id, MappingUpdate(mapping=mapping, invalid_values="reject_row")
    )
    assert preview.rows[0].dropped == [] and preview.rows[0].errors[0].startswith("Phone: '+1 555'")
    assert h.job(import_id).options["invalid_values"] == "reject_row"
    h.service.start(ADMIN, import_id)
    h.run()
    assert (h.job(import_id).created, h.job(import_id).failed) == (0, 1)


def test_imports_created_before_the_option_keep_rejecting_rows():
    # Given an import record written before invalid_values existed (its stored options lack the key)
    h = Harness()
    import_id = h.upload(rows("Alan,Turing,alan@example.com,+1 555,"), auto_start=False)
    stored = h.repo.records[(T, import_id)]
    options = ImportOptions.model_validate(stored.options.model_dump(exclude={"invalid_values"}))
    h.repo.records[(T, import_id)] = stored.with_changes({"options": options})
    h.service.start(ADMIN, import_id)
    h.run()
    assert (h.job(import_id).created, h.job(import_id).failed) == (0, 1)


def test_chunks_are_idempotent_when_redelivered():
    # Given a file split into 3 chunks of 2 rows
    h = Harness(chunk_rows=2)
    lines = [f"P{i},Q{i},p{i}@example.com,,Co{i}" for i in range(6)]
    import_id = h.upload(rows(*lines))
    h.pipeline.plan(T, import_id)
    chunk_steps = [s for s in h.queue.steps if s["kind"] == "imports.chunk"]
    assert len(chunk_steps) == 3
    h.queue.steps.clear()
    # When every chunk is delivered twice (and out of order)
    for step in chunk_steps[::-1] + chunk_steps:
        h.pipeline.run_chunk(T, import_id, step["chunk"])
    # Then each row counted once
    job = h.job(import_id)
    assert (job.status, job.created, job.rows_processed, job.chunks_done) == ("completed", 6, 6, 3)
    assert h.repo.counters[(T, "total")] == 6


def test_a_chunk_that_crashed_after_writing_counts_once_on_redelivery():
    h = Harness()
    h.existing("9" * 32, email="old@example.com")
    import_id = h.upload(
        rows("Old,One,old@example.com,,NewCo", "New,One,new@example.com,,"),
        dedupe=DedupeOptions(strategy="update", update_mode="overwrite"),
    )
    h.pipeline.plan(T, import_id)
    h.queue.steps.clear()
    commit = h.repo.commit_chunk
    h.repo.commit_chunk = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash before commit"))
    with pytest.raises(RuntimeError):
        h.pipeline.run_chunk(T, import_id, 0)
    h.repo.commit_chunk = commit
    h.pipeline.run_chunk(T, import_id, 0)  # SQS redelivers
    job = h.job(import_id)
    assert (job.created, job.updated, job.skipped, job.failed) == (1, 1, 0, 0)
    assert h.repo.counters[(T, "total")] == 1


def test_a_poison_chunk_is_recorded_failed_and_the_import_finishes():
    h = Harness(chunk_rows=1)
    import_id = h.upload(rows("A,B,a@example.com,,", "C,D,c@example.com,,"))
    h.pipeline.plan(T, import_id)
    h.queue.steps.clear()
    h.pipeline.run_chunk(T, import_id, 0)
    h.store.fail_writes = True
    for _ in range(3):  # maxReceiveCount deliveries, then the DLQ
        with pytest.raises(RuntimeError):
            h.pipeline.run_chunk(T, import_id, 1)
    job = h.job(import_id)
    assert (job.status, job.created, job.failed, job.chunks_failed) == ("completed_with_errors", 1, 1, 1)
    assert job.failed_chunks[0].chunk == 1 and "simulated DynamoDB outage" in job.failed_chunks[0].error
    assert (T, "email", "c@example.com") not in h.store.identities  # nothing of the failed chunk remains
    assert len(h.store.leads) == 1


def test_a_failed_chunk_is_recorded_even_when_undoing_its_writes_fails_too():
    # Given a chunk whose writes keep failing, and a store that cannot delete either (an outage)
    h = Harness()
    import_id = h.upload(rows("A,B,a@example.com,,"))
    h.pipeline.plan(T, import_id)
    h.queue.steps.clear()
    h.store.fail_writes = True

    def outage(*args, **kwargs):
        raise ImportStorageError("DynamoDB BatchWriteItem: service unavailable", code="InternalServerError")

    h.store.delete_leads = outage  # type: ignore[method-assign]
    # When its last delivery fails
    for _ in range(3):
        with pytest.raises(RuntimeError, match="simulated DynamoDB outage"):
            h.pipeline.run_chunk(T, import_id, 0)
    # Then the chunk is still recorded as failed and the import finishes (it does not stick in processing)
    job = h.job(import_id)
    assert (job.status, job.failed, job.chunks_failed) == ("failed", 1, 1)


def test_a_chunk_failing_after_its_writes_leaves_nothing_behind():
    h = Harness()
    import_id = h.upload(rows("A,B,a@example.com,+14155550101,"))
    h.pipeline.plan(T, import_id)
    h.queue.steps.clear()
    h.events.publish = lambda events: (_ for _ in ()).throw(RuntimeError("EventBridge down"))
    for _ in range(3):
        with pytest.raises(RuntimeError):
            h.pipeline.run_chunk(T, import_id, 0)
    job = h.job(import_id)
    assert (job.status, job.created, job.failed) == ("failed", 0, 1)
    assert not h.store.leads and not h.store.identities


def test_a_concurrent_capture_of_the_same_email_never_makes_two_leads():
    h = Harness()
    import_id = h.upload(rows("Ada,Lovelace,ada@example.com,,Analytical"))

    def capture() -> None:  # between the chunk's read and its write
        h.existing("7" * 32, email="ada@example.com")

    h.store.before_write = capture
    h.run()
    assert h.store.identities[(T, "email", "ada@example.com")] == "7" * 32
    assert [k for k in h.store.leads if k[0] == T] == [(T, "7" * 32)]
    assert h.job(import_id).skipped == 1


def test_a_lead_edited_between_read_and_write_is_recomputed():
    h = Harness()
    lead = h.existing("8" * 32, email="ada@example.com")
    import_id = h.upload(
        rows("Ada,Lovelace,ada@example.com,,Analytical"),
        dedupe=DedupeOptions(strategy="update", update_mode="fill_empty"),
    )

    def edit() -> None:
        h.existing(lead.lead_id, email="ada@example.com", first_name="Augusta", status=LeadStatus.CONTACTED)
        raw = h.store.leads[(T, lead.lead_id)]
        raw["updated_at"] = {"S": "2024-06-01T00:00:00.000000+0000"}

    h.store.before_write = edit
    h.run()
    merged = h.store.lead(T, lead.lead_id)
    assert (merged.first_name, merged.last_name, merged.status) == ("Augusta", "Lovelace", "Contacted")
    assert h.job(import_id).updated == 1


def test_rollback_restores_the_exact_prior_state():
    # Given existing leads and an import that creates some and updates others
    h = Harness(chunk_rows=2)
    h.existing("1" * 32, email="ada@example.com", first_name="Augusta", status=LeadStatus.CONTACTED)
    h.existing("2" * 32, email="bob@example.com", phone="+14155550177")
    before = h.store.snapshot()
    counters_before = dict(h.repo.counters)
    import_id = h.upload(
        rows(
            "Ada,Lovelace,ada@example.com,+14155550101,Analytical",
            "Bob,Smith,bob@example.com,+14155550102,Acme",
            "Cy,New,cy@example.com,+14155550103,",
            "Di,New,di@example.com,,",
            "Ed,New,ed@example.com,,",
        ),
        dedupe=DedupeOptions(strategy="update", update_mode="overwrite"),
    )
    h.run(shuffle=True)
    job = h.job(import_id)
    assert (job.created, job.updated) == (3, 2)
    assert h.store.snapshot() != before
    # When it is rolled back (chunks in any order, one delivered twice)
    h.service.rollback(ADMIN, import_id)
    assert h.job(import_id).status == "rolling_back"
    h.queue.steps.append(dict(h.queue.steps[0]))
    h.run(shuffle=True)
    # Then leads, identities and counters are exactly as before
    job = h.job(import_id)
    assert job.status == "rolled_back"
    assert job.rollback["deleted"] == 3 and job.rollback["restored"] == 2
    assert h.store.snapshot() == before
    assert {k: v for k, v in h.repo.counters.items() if v} == {k: v for k, v in counters_before.items() if v}
    assert "lead.deleted" in h.events.types()


def test_rollback_reports_leads_changed_after_the_import_and_still_restores_them():
    h = Harness()
    h.existing("3" * 32, email="ada@example.com", first_name="Augusta")
    before = h.store.snapshot()
    import_id = h.upload(
        rows("Ada,Lovelace,ada@example.com,,Analytical"),
        dedupe=DedupeOptions(strategy="update", update_mode="overwrite"),
    )
    h.run()
    raw = h.store.leads[(T, "3" * 32)]
    raw["updated_at"] = {"S": "2030-01-01T00:00:00.000000+0000"}  # someone edited it afterwards
    h.service.rollback(ADMIN, import_id)
    h.run()
    job = h.job(import_id)
    assert job.rollback["changed_since_import"] == 1
    assert h.store.snapshot() == before


def test_only_finished_imports_roll_back_and_only_admins_and_managers_import():
    h = Harness()
    import_id = h.upload(rows("Ada,Lovelace,ada@example.com,,"), auto_start=False)
    assert h.job(import_id).status == "awaiting_mapping"
    with pytest.raises(ImportStateError):
        h.service.rollback(ADMIN, import_id)
    rep = Principal(T, "rep-1", Role.REP)
    with pytest.raises(ForbiddenError):
        h.service.get(rep, import_id)
    with pytest.raises(ForbiddenError):
        h.service.create(rep, ImportCreate(filename="x.csv"))
    with pytest.raises(ImportNotFoundError):  # another tenant's import does not exist for this one
        h.service.get(Principal("t2", "admin-2", Role.ADMIN), import_id)


def test_mapping_correction_saved_mapping_and_explicit_start():
    h = Harness()
    text = "Given,Family,Mail\nAda,Lovelace,ada@example.com\n"
    import_id = h.upload(text, mapping=ColumnMapping(columns={"Mail": "phone"}))
    job = h.job(import_id)
    assert job.status == "awaiting_mapping" and "email" in (job.error or "")
    with pytest.raises(UnprocessableError):
        h.service.set_mapping(ADMIN, import_id, MappingUpdate(columns={"Nope": "email"}))
    preview = h.service.set_mapping(
        ADMIN,
        import_id,
        MappingUpdate(
            columns={"Given": "first_name", "Family": "last_name", "Mail": "email"}, save_as="my crm"
        ),
    )
    assert preview.rows[0].values["email"] == "ada@example.com"
    h.service.start(ADMIN, import_id)
    h.run()
    assert h.job(import_id).created == 1
    # A later file with the same headers picks the saved mapping by itself
    second = h.upload("Given,Family,Mail\nBob,Smith,bob@example.com\n")
    h.run()
    job = h.job(second)
    assert (job.mapping_name, job.created) == ("my crm", 1)
    assert [m.name for m in h.service.list_mappings(ADMIN).items] == ["my crm"]


def test_file_level_problems_fail_the_import_with_a_clear_error():
    h = Harness()
    empty = h.upload(b"")
    garbage = h.upload(bytes(range(256)) * 40)
    too_big = h.service.create(ADMIN, ImportCreate(filename="big.csv")).import_id
    record = h.repo.get(T, too_big)
    h.pipeline.analyse(T, too_big, record.source_key, 60 * 1024 * 1024)
    for import_id in (empty, garbage, too_big):
        job = h.job(import_id)
        assert job.status == "failed", import_id
        assert job.error
    assert "50 MB" in (h.job(too_big).error or "")
    assert not h.store.leads


def test_an_xlsx_decompression_bomb_fails_the_import_naming_the_limit():
    # Given a 3.5 MB workbook whose shared strings inflate to 1.5 GiB (issue 10, defect 17)
    from tests.xlsx_bombs import shared_strings_bomb

    h = Harness()
    # When it is uploaded as an import
    import_id = h.upload(shared_strings_bomb(1536 << 20), filename="crm.xlsx")
    # Then the import fails with the limit in its error, no step is queued and nothing is written
    job = h.job(import_id)
    assert job.status == "failed"
    assert "at most 512 MiB" in (job.error or "") and "uncompressed" in (job.error or ""), job.error
    assert not h.queue.steps and not h.store.leads


def test_header_only_file_fails_and_preview_shows_first_rows():
    h = Harness()
    only_header = h.upload(HEADER)
    h.run()
    assert h.job(only_header).status == "failed"
    import_id = h.upload(rows("Ada,Lovelace,ada@example.com,,", "Bad,Row,nope,,"), auto_start=False)
    preview = h.service.preview(ADMIN, import_id)
    assert preview.headers == ["First Name", "Last Name", "Email", "Phone", "Company"]
    assert preview.mapping["Email"] == "email"
    assert [r.row_number for r in preview.rows] == [2, 3]
    assert preview.rows[1].errors and not preview.rows[0].errors


def test_history_is_newest_first_and_paginated():
    h = Harness()
    ids = [h.upload(rows(f"A{i},B,a{i}@example.com,,"), auto_start=False) for i in range(3)]
    page = h.service.history(ADMIN, limit=2, cursor=None)
    assert [j.import_id for j in page.items] == ids[::-1][:2]
    rest = h.service.history(ADMIN, limit=2, cursor=page.next_cursor)
    assert [j.import_id for j in rest.items] == [ids[0]]


def test_chunk_plan_is_saved_before_any_write():
    h = Harness()
    h.existing("4" * 32, email="ada@example.com", first_name="Augusta")
    import_id = h.upload(
        rows("Ada,Lovelace,ada@example.com,,Analytical"),
        dedupe=DedupeOptions(strategy="update", update_mode="overwrite"),
    )
    h.pipeline.plan(T, import_id)
    h.store.fail_writes = True
    with pytest.raises(RuntimeError):
        h.pipeline.run_chunk(T, import_id, 0)
    plan = json.loads(h.artifacts.objects[data_key(T, import_id, "plans/000000.json")])
    (action,) = plan["actions"]
    assert action["action"] == "update"
    assert action["before"]["first_name"] == {"S": "Augusta"}


def test_rollback_removes_the_score_history_the_import_caused():
    h = Harness()
    lead = h.existing("5" * 32, email="ada@example.com")
    h.store.history[(T, lead.lead_id)] = ["S#2024-01-02T00:00:00.000Z"]
    before = h.store.snapshot()
    import_id = h.upload(
        rows("Ada,Lovelace,ada@example.com,,Analytical"),
        dedupe=DedupeOptions(strategy="update", update_mode="overwrite"),
    )
    h.run()
    # the scoring worker reacts to lead.updated: a new score and a score-history entry
    scored_at = h.clock()
    raw = h.store.leads[(T, lead.lead_id)]
    scored = h.store.lead(T, lead.lead_id).model_copy(update={"score": 40, "scored_at": scored_at})
    h.store.put_lead(scored)
    h.store.leads[(T, lead.lead_id)]["updated_at"] = raw["updated_at"]
    h.store.history[(T, lead.lead_id)].append(f"S#{scored_at.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z")
    h.service.rollback(ADMIN, import_id)
    h.run()
    assert h.store.snapshot() == before


@pytest.mark.parametrize("strategy", ["skip", "update", "create"])
def test_decide_treats_identities_of_missing_leads_as_free_with_one_existence_read(strategy):
    h = Harness()
    live = h.existing("1" * 32, email="live@example.com", phone="+14155550101")
    h.store.identities[(T, "email", "ghost@example.com")] = "9" * 32  # its profile is gone
    import_id = h.upload(
        rows("Ghost,,ghost@example.com,+14155550101,", "Live,,live@example.com,,"),
        dedupe=DedupeOptions(strategy=strategy, update_mode="overwrite"),
    )
    record = h.repo.get(T, import_id)
    drafts = [
        {"row": 2, "email": "ghost@example.com", "phone": "+14155550101", "fields": {"first_name": "Ghost"}},
        {"row": 3, "email": "live@example.com", "fields": {"first_name": "Live"}},
    ]
    h.store.calls.clear()
    actions = {a["row"]: a for a in h.pipeline.decide(record, drafts)["actions"]}
    # The ghost's email is free: row 2 creates a lead claiming it on condition it still names the ghost
    # (the phone stays the live lead's); row 3 matches the live lead (create: a new lead without its email)
    assert actions[2]["action"] == "create"
    assert actions[2]["add"] == [["email", "ghost@example.com"]]
    assert actions[2]["stale"] == [["email", "ghost@example.com", "9" * 32]]
    expected_live = {"skip": "skip", "update": "update", "create": "create"}[strategy]
    assert actions[3]["action"] == expected_live and "stale" not in actions[3]
    # Reads: the identity items, then the owners' profiles in one call (update: the matched owners' full
    # profiles, which cover the phone's owner too; else their existence only)
    assert h.store.calls["BatchGetItem"] == 2
    h.run()
    new_id = new_lead_id(T, import_id, 2)
    assert h.store.identities[(T, "email", "ghost@example.com")] == new_id
    assert h.store.identities[(T, "phone", "+14155550101")] == live.lead_id


def test_an_update_applied_before_a_crash_counts_once_on_redelivery():
    # Given an update chunk whose profile write landed but whose step crashed right after it
    h = Harness()
    lead = h.existing("9" * 32, email="old@example.com")
    import_id = h.upload(
        rows("Old,One,old@example.com,+14155550101,NewCo"),
        dedupe=DedupeOptions(strategy="update", update_mode="overwrite"),
    )
    h.pipeline.plan(T, import_id)
    h.queue.steps.clear()
    write = h.store.write_leads

    def write_then_crash(*args, **kwargs):
        write(*args, **kwargs)
        h.store.write_leads = write
        raise RuntimeError("crash after the profile write")

    h.store.write_leads = write_then_crash
    with pytest.raises(RuntimeError):
        h.pipeline.run_chunk(T, import_id, 0)
    # When SQS redelivers it (the saved plan's before-image is now stale: the store reports the replayed
    # update as applied, not as a concurrent change)
    h.pipeline.run_chunk(T, import_id, 0)
    job = h.job(import_id)
    assert (job.created, job.updated, job.skipped, job.failed) == (0, 1, 0, 0)
    assert h.store.lead(T, lead.lead_id).company == "NewCo"
    assert h.store.identities[(T, "phone", "+14155550101")] == lead.lead_id
