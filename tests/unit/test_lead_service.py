"""LeadService: roles, ownership, de-duplication, status changes on the timeline, dashboard counters."""

import pytest

from leadtide.leads.service import LeadService
from leadtide.models.auth import Principal
from leadtide.models.common import LeadStatus, Role
from leadtide.models.errors import (
    DuplicateLeadError,
    ForbiddenError,
    LeadNotFoundError,
    UnauthenticatedError,
    UnprocessableError,
)
from leadtide.models.leads import LeadCreate, LeadUpdate, NoteCreate
from leadtide.models.selection import LeadFilter

ADMIN = Principal("acme", "u-admin", Role.ADMIN)
REP = Principal("acme", "u-rep", Role.REP)
OTHER_REP = Principal("acme", "u-rep2", Role.REP)
OTHER_TENANT = Principal("globex", "u-admin", Role.ADMIN)


@pytest.fixture
def svc(repo, events):
    return LeadService(repo, events, default_region="US")


def test_create_normalises_and_rejects_duplicates_naming_the_existing_lead(svc):
    lead = svc.create_lead(ADMIN, LeadCreate(name="Ana", email="Ana@Example.com", phone="(415) 555-2671"))
    assert (lead.email, lead.phone, lead.source_channel) == ("ana@example.com", "+14155552671", "manual")
    with pytest.raises(DuplicateLeadError) as err:
        svc.create_lead(ADMIN, LeadCreate(phone="+1 415 555 2671"))
    assert err.value.details[0]["lead_id"] == lead.lead_id
    # The same phone in another tenant is a different person's lead: allowed
    assert svc.create_lead(OTHER_TENANT, LeadCreate(phone="+1 415 555 2671")).tenant_id == "globex"


def test_create_needs_email_or_valid_phone(svc):
    with pytest.raises(UnprocessableError, match="email or a phone"):
        svc.create_lead(ADMIN, LeadCreate(name="Nobody"))
    with pytest.raises(UnprocessableError) as err:
        svc.create_lead(ADMIN, LeadCreate(phone="12"))
    assert err.value.details[0]["field"] == "phone"


def test_reps_own_what_they_create_and_cannot_assign_to_others(svc):
    assert svc.create_lead(REP, LeadCreate(email="a@b.co")).owner_id == "u-rep"
    with pytest.raises(ForbiddenError):
        svc.create_lead(REP, LeadCreate(email="c@d.co", owner_id="u-rep2"))


def test_reps_see_only_their_own_and_unassigned_leads(svc):
    mine = svc.create_lead(REP, LeadCreate(email="mine@x.co"))
    theirs = svc.create_lead(OTHER_REP, LeadCreate(email="theirs@x.co"))
    free = svc.create_lead(ADMIN, LeadCreate(email="free@x.co"))
    seen = {lead.lead_id for lead in svc.list_leads(REP, LeadFilter(), limit=100).items}
    assert seen == {mine.lead_id, free.lead_id}
    # Even asking for the other rep's leads explicitly returns none of them
    assert svc.list_leads(REP, LeadFilter(owner="u-rep2")).items == []
    with pytest.raises(ForbiddenError):
        svc.get_lead(REP, theirs.lead_id)
    with pytest.raises(ForbiddenError):
        svc.update_lead(REP, theirs.lead_id, LeadUpdate(status=LeadStatus.CONTACTED))
    assert len(svc.list_leads(ADMIN, LeadFilter(), limit=100).items) == 3


def test_rep_can_claim_an_unassigned_lead_but_not_give_it_away(svc):
    free = svc.create_lead(ADMIN, LeadCreate(email="free@x.co"))
    claimed = svc.update_lead(REP, free.lead_id, LeadUpdate(owner_id="u-rep"))
    assert claimed.owner_id == "u-rep"
    with pytest.raises(ForbiddenError):
        svc.update_lead(REP, free.lead_id, LeadUpdate(owner_id="u-rep2"))


def test_status_change_moves_counters_goes_on_timeline_and_publishes(svc, repo, events):
    lead = svc.create_lead(ADMIN, LeadCreate(email="a@b.co"))
    svc.update_lead(ADMIN, lead.lead_id, LeadUpdate(status=LeadStatus.FOLLOW_UP))
    assert repo.dashboard("acme").by_status == {"Follow-up": 1}
    timeline = repo.activities[("acme", lead.lead_id)]
    assert [(a.type, a.data) for a in timeline] == [("status_change", {"from": "New", "to": "Follow-up"})]
    assert events.types() == ["lead.created", "lead.updated"]
    with pytest.raises(UnprocessableError):
        svc.update_lead(ADMIN, lead.lead_id, LeadUpdate.model_validate({"status": None}))


def test_changing_email_moves_the_identity_and_refuses_a_taken_one(svc, repo):
    a = svc.create_lead(ADMIN, LeadCreate(email="a@x.co"))
    b = svc.create_lead(ADMIN, LeadCreate(email="b@x.co"))
    svc.update_lead(ADMIN, a.lead_id, LeadUpdate(email="new@x.co"))
    assert repo.find_lead_by_identity("acme", [("email", "new@x.co")]) == a.lead_id
    assert repo.find_lead_by_identity("acme", [("email", "a@x.co")]) is None
    with pytest.raises(DuplicateLeadError):
        svc.update_lead(ADMIN, a.lead_id, LeadUpdate(email="b@x.co"))
    assert repo.get_lead("acme", b.lead_id).email == "b@x.co"


def test_delete_is_for_admins_and_managers_and_updates_counters(svc, repo):
    lead = svc.create_lead(REP, LeadCreate(email="a@x.co"))
    with pytest.raises(ForbiddenError):
        svc.delete_lead(REP, lead.lead_id)
    svc.delete_lead(ADMIN, lead.lead_id)
    assert repo.dashboard("acme").total_leads == 0
    with pytest.raises(LeadNotFoundError):
        svc.get_lead(ADMIN, lead.lead_id)


def test_notes_join_the_timeline_and_other_tenants_cannot_reach_the_lead(svc):
    lead = svc.create_lead(ADMIN, LeadCreate(email="a@x.co"))
    note = svc.add_note(REP, lead.lead_id, NoteCreate(text="Called, wants a quote"))
    assert note.author_id == "u-rep"
    assert [a.text for a in svc.list_activities(ADMIN, lead.lead_id, limit=10, cursor=None).items] == [
        "Called, wants a quote"
    ]
    with pytest.raises(LeadNotFoundError):
        svc.add_note(OTHER_TENANT, lead.lead_id, NoteCreate(text="x"))


def test_principal_from_claims_rejects_bad_tokens():
    assert (
        Principal.from_claims({"sub": "u", "custom:tenant_id": "acme", "custom:role": "rep"}).role == Role.REP
    )
    for claims in (
        {},
        {"sub": "u", "custom:tenant_id": "a#b", "custom:role": "rep"},
        {"sub": "u", "custom:tenant_id": "acme", "custom:role": "owner"},
    ):
        with pytest.raises(UnauthenticatedError):
            Principal.from_claims(claims)
