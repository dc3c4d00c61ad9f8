"""Lead merge and undo through the API, against the real dal in moto: everything a merged lead owned moves
to the survivor (timeline, identities, message markers, counters), and undo restores every item exactly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from leadtide.models.common import ChannelType, LeadStatus
from leadtide.models.leads import Activity, ActivityType, Lead
from leadtide.models.messages import DeliveryStatus, Direction, MessageKind
from leadtide.wiring import get_wiring

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _seed(
    tenant: str,
    *,
    name,
    email=None,
    phone=None,
    company=None,
    owner=None,
    status=LeadStatus.NEW,
    messages=0,
    tags=(),
    at=T0,
    score=None,
) -> Lead:
    """Create a lead with ``messages`` inbound WhatsApp messages (each with a provider id, hence a marker)
    and one note, straight through the lead repository."""
    repo = get_wiring().lead_repository
    lead_id = uuid.uuid4().hex
    lead = Lead(
        lead_id=lead_id,
        tenant_id=tenant,
        name=name,
        email=email,
        phone=phone,
        company=company,
        source_channel=ChannelType.WHATSAPP if phone else ChannelType.MANUAL,
        status=status,
        owner_id=owner,
        tags=list(tags),
        created_at=at,
        updated_at=at,
        last_activity_at=at,
        score=score,
    )
    identities = [(k, v) for k, v in (("phone", phone), ("email", email)) if v]
    repo.create_lead(lead, identities)
    for n in range(messages):
        repo.append_activity(
            tenant,
            Activity(
                activity_id=uuid.uuid4().hex,
                lead_id=lead_id,
                type=ActivityType.MESSAGE,
                occurred_at=at + timedelta(minutes=n + 1),
                channel=ChannelType.WHATSAPP,
                direction=Direction.INBOUND,
                kind=MessageKind.TEXT,
                text=f"{name} message {n}",
                provider_message_id=f"wamid.{lead_id[:8]}.{n}",
            ),
            touch_lead=True,
        )
    repo.append_activity(
        tenant,
        Activity(
            activity_id=uuid.uuid4().hex,
            lead_id=lead_id,
            type=ActivityType.NOTE,
            occurred_at=at + timedelta(hours=1),
            text=f"note on {name}",
            author_id="u-1",
        ),
        touch_lead=False,
    )
    return repo.get_lead(tenant, lead_id)


def _table_items() -> dict[tuple[str, str], dict]:
    """Every item of the leads table except merge records and duplicate pairs, by key."""
    table = boto3.resource("dynamodb").Table(_table_name())
    items, kwargs = {}, {}
    while True:
        page = table.scan(**kwargs)
        for item in page["Items"]:
            if "#MERGE" in item["pk"] or item["pk"].endswith("#DUP"):
                continue
            items[(item["pk"], item["sk"])] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _table_name() -> str:
    from leadtide.settings import get_settings

    return get_settings().leads_table


@pytest.fixture
def admin(stack):
    return stack.claims("t1", "admin", "boss")


def test_merge_moves_everything_then_undo_restores_every_item(stack, admin):
    # Given a survivor and two duplicates with messages (markers), notes, tags and identities
    survivor = _seed("t1", name="Ana Silva", email="ana@acme.com", messages=2, tags=["vip"], company=None)
    dup1 = _seed(
        "t1",
        name="Ana  Silva",
        phone="+14155550101",
        company="Acme",
        messages=3,
        tags=["expo"],
        status=LeadStatus.CONTACTED,
        at=T0 + timedelta(days=1),
    )
    dup2 = _seed("t1", name="A. Silva", email="ana.silva@gmail.com", messages=1, at=T0 - timedelta(days=2))
    before_items = _table_items()
    before_dash = stack.request("GET", "/dashboard/summary", claims=admin).json()
    assert before_dash["total_leads"] == 3

    # When dup1 and dup2 are merged into the survivor, company explicitly from dup1, status by recency
    res = stack.request(
        "POST",
        "/leads/merge",
        claims=admin,
        json_body={
            "survivor_id": survivor.lead_id,
            "merged_ids": [dup1.lead_id, dup2.lead_id],
            "fields": {"phone": dup1.lead_id},
            "rule": "keep_most_recent",
        },
    )
    assert res.status == 200, res.text
    body = res.json()
    merged = body["survivor"]
    assert body["status"] == "completed"
    # Then fields: the most recent lead (dup1) wins by rule, empty values never overwrite, unions and sums
    assert merged["company"] == "Acme" and merged["status"] == "Contacted"
    assert merged["phone"] == "+14155550101" and merged["email"] == "ana@acme.com"
    assert merged["name"] == "Ana  Silva"  # keep_most_recent: dup1 is the most recently active
    assert merged["tags"] == ["vip", "expo"]
    assert merged["message_count"] == 6
    assert merged["created_at"].startswith((T0 - timedelta(days=2)).date().isoformat())

    # and the merged leads are gone, their timelines on the survivor in order, with a "merged" entry
    for gone in (dup1, dup2):
        assert stack.request("GET", f"/leads/{gone.lead_id}", claims=admin).status == 404
    timeline = stack.request(
        "GET", f"/leads/{survivor.lead_id}/activities", query={"limit": 100}, claims=admin
    ).json()
    items = timeline["items"]
    assert len(items) == 6 + 3 + 1  # 6 messages, 3 notes, the merged entry
    assert [a["occurred_at"] for a in items] == sorted(a["occurred_at"] for a in items)
    assert all(a["lead_id"] == survivor.lead_id for a in items)
    assert items[-1]["type"] == "merged"
    assert {m["lead_id"] for m in items[-1]["data"]["merged"]} == {dup1.lead_id, dup2.lead_id}

    # and identities point at the survivor, so new messages and statuses land there
    repo = get_wiring().lead_repository
    found = repo.lookup_identities("t1", [("phone", "+14155550101"), ("email", "ana.silva@gmail.com")])
    assert set(found.values()) == {survivor.lead_id}
    assert repo.record_delivery_status(
        "t1", ChannelType.WHATSAPP, f"wamid.{dup1.lead_id[:8]}.0", DeliveryStatus.READ, T0 + timedelta(days=3)
    )
    moved = [
        a
        for a in repo.list_activities("t1", survivor.lead_id, limit=100, cursor=None)[0]
        if a.provider_message_id == f"wamid.{dup1.lead_id[:8]}.0"
    ]
    assert moved and moved[0].delivery_status == DeliveryStatus.READ

    # and counters: total down by two, statuses and sources moved
    dash = stack.request("GET", "/dashboard/summary", claims=admin).json()
    assert dash["total_leads"] == 1
    assert dash["by_status"] == {"Contacted": 1}

    # and the history lists the merge
    history = stack.request("GET", "/merges", claims=admin).json()["items"]
    assert [m["merge_id"] for m in history] == [body["merge_id"]]
    detail = stack.request("GET", f"/merges/{body['merge_id']}", claims=admin).json()
    assert {lead["lead_id"] for lead in detail["merged_before"]} == {dup1.lead_id, dup2.lead_id}

    # When the merge is undone (after the delivery status above changed one moved message)
    res = stack.request("POST", f"/merges/{body['merge_id']}/undo", claims=admin)
    assert res.status == 200, res.text
    # Then every item is as before, but for the delivery status recorded meanwhile on the moved message
    after_items = _table_items()
    assert set(after_items) == set(before_items)
    changed = {k for k in before_items if before_items[k] != after_items[k]}
    marker_key = (f"T#t1#M#whatsapp#wamid.{dup1.lead_id[:8]}.0", "MESSAGE")
    activity_key = next(
        k
        for k in before_items
        if k[0] == f"T#t1#L#{dup1.lead_id}"
        and before_items[k].get("provider_message_id") == f"wamid.{dup1.lead_id[:8]}.0"
    )
    assert changed == {marker_key, activity_key}
    assert after_items[activity_key]["delivery_status"] == "read"
    assert stack.request("GET", "/dashboard/summary", claims=admin).json() == before_dash
    assert stack.request("GET", "/merges", claims=admin).json()["items"][0]["status"] == "undone"
    # and a second undo is refused
    assert stack.request("POST", f"/merges/{body['merge_id']}/undo", claims=admin).status == 409


def test_undo_refuses_when_the_survivor_was_edited_since(stack, admin):
    survivor = _seed("t1", name="Bo Li", email="bo@x.com")
    dup = _seed("t1", name="Bo Lee", phone="+14155550102")
    merge_id = stack.request(
        "POST",
        "/leads/merge",
        claims=admin,
        json_body={"survivor_id": survivor.lead_id, "merged_ids": [dup.lead_id]},
    ).json()["merge_id"]
    assert (
        stack.request(
            "PATCH", f"/leads/{survivor.lead_id}", claims=admin, json_body={"company": "New Co"}
        ).status
        == 200
    )
    res = stack.request("POST", f"/merges/{merge_id}/undo", claims=admin)
    assert res.status == 409
    assert res.json()["error"]["details"] == [{"field": "company", "problem": "changed since the merge"}]


def test_permissions_and_tenant_isolation(stack, admin):
    mine = _seed("t1", name="Cy One", email="cy1@x.com", owner="rep-1")
    mine2 = _seed("t1", name="Cy Two", email="cy2@x.com", owner="rep-1")
    theirs = _seed("t1", name="Cy Three", email="cy3@x.com", owner="rep-2")
    other_tenant = _seed("t2", name="Cy Four", email="cy4@x.com")
    rep = stack.claims("t1", "rep", "rep-1")
    # a rep cannot merge a lead owned by someone else
    res = stack.request(
        "POST",
        "/leads/merge",
        claims=rep,
        json_body={"survivor_id": mine.lead_id, "merged_ids": [theirs.lead_id]},
    )
    assert res.status == 403
    # another tenant's lead is simply not found, and nothing changed
    res = stack.request(
        "POST",
        "/leads/merge",
        claims=admin,
        json_body={"survivor_id": mine.lead_id, "merged_ids": [other_tenant.lead_id]},
    )
    assert res.status == 404
    assert stack.request("GET", f"/leads/{mine.lead_id}", claims=admin).json()["name"] == "Cy One"
    # the survivor cannot be merged into itself; unknown field choices are refused
    res = stack.request(
        "POST",
        "/leads/merge",
        claims=admin,
        json_body={"survivor_id": mine.lead_id, "merged_ids": [mine.lead_id]},
    )
    assert res.status == 422
    res = stack.request(
        "POST",
        "/leads/merge",
        claims=admin,
        json_body={
            "survivor_id": mine.lead_id,
            "merged_ids": [mine2.lead_id],
            "fields": {"score": mine2.lead_id},
        },
    )
    assert res.status == 422
    # a rep owning every lead may merge them; another tenant cannot see or undo it
    res = stack.request(
        "POST",
        "/leads/merge",
        claims=rep,
        json_body={"survivor_id": mine.lead_id, "merged_ids": [mine2.lead_id]},
    )
    assert res.status == 200, res.text
    merge_id = res.json()["merge_id"]
    assert stack.request("GET", f"/merges/{merge_id}", claims=stack.claims("t2", "admin")).status == 404
    assert stack.request("POST", f"/merges/{merge_id}/undo", claims=stack.claims("t2", "admin")).status == 404
    assert stack.request("GET", "/merges", claims=stack.claims("t2", "admin")).json()["items"] == []


def test_a_merge_that_crashes_while_moving_the_timeline_resumes(stack, admin, monkeypatch):
    from leadtide.duplicates.merge import run_finish_job
    from leadtide.models.auth import Principal
    from leadtide.models.common import Role
    from leadtide.models.duplicates import MergeRequest

    survivor = _seed("t1", name="Di Ho", email="di@x.com", messages=1)
    dup = _seed("t1", name="Di Hoo", phone="+14155550103", messages=4)
    service = get_wiring().merge_service
    store = service._store
    real_move = store.move_timeline
    calls = []

    def crash_after_one_chunk(tenant, src, dst, keys, chunk=25):
        calls.append(len(keys))
        real_move(tenant, src, dst, keys[:2], chunk=chunk)  # half the entries moved, then the process dies
        raise TimeoutError("Lambda timed out")

    monkeypatch.setattr(store, "move_timeline", crash_after_one_chunk)
    principal = Principal(tenant_id="t1", user_id="boss", role=Role.ADMIN)
    with pytest.raises(TimeoutError):
        service.merge(principal, MergeRequest(survivor_id=survivor.lead_id, merged_ids=[dup.lead_id]))
    merge_id = stack.request("GET", "/merges", claims=admin).json()["items"][0]["merge_id"]
    assert stack.request("GET", f"/merges/{merge_id}", claims=admin).json()["status"] == "moving"
    # When the finish step runs again (the jobs-queue kind "merges.finish")
    monkeypatch.setattr(store, "move_timeline", real_move)
    run_finish_job({"kind": "merges.finish", "tenant_id": "t1", "merge_id": merge_id}, get_wiring())
    # Then the merge completes with every entry on the survivor exactly once
    assert stack.request("GET", f"/merges/{merge_id}", claims=admin).json()["status"] == "completed"
    items = stack.request(
        "GET", f"/leads/{survivor.lead_id}/activities", query={"limit": 100}, claims=admin
    ).json()["items"]
    assert len(items) == 1 + 1 + 4 + 1 + 1  # survivor's message + note, dup's 4 messages + note, merged entry
    assert len({a["activity_id"] for a in items}) == len(items)
    assert stack.request("GET", f"/leads/{dup.lead_id}/activities", claims=admin).status == 404


def test_static_list_memberships_follow_the_survivor(stack, admin):
    survivor = _seed("t1", name="Eve Ng", email="eve@x.com")
    dup = _seed("t1", name="Eve Nng", phone="+14155550104")
    in_list = stack.request("POST", "/lists", json_body={"name": "Expo"}, claims=admin).json()["list_id"]
    other = stack.request("POST", "/lists", json_body={"name": "Other"}, claims=admin).json()["list_id"]
    res = stack.request(
        "POST", f"/lists/{in_list}/leads", json_body={"lead_ids": [dup.lead_id]}, claims=admin
    )
    assert res.status in (200, 201), res.text
    res = stack.request(
        "POST",
        "/leads/merge",
        claims=admin,
        json_body={"survivor_id": survivor.lead_id, "merged_ids": [dup.lead_id]},
    )
    assert res.status == 200, res.text

    def members(list_id):
        return {
            lead["lead_id"]
            for lead in stack.request("GET", f"/lists/{list_id}/leads", claims=admin).json()["items"]
        }

    assert members(in_list) == {survivor.lead_id}
    assert members(other) == set()
    # Undo leaves the memberships with the survivor (and says so), and the restored lead outside the list
    undone = stack.request("POST", f"/merges/{res.json()['merge_id']}/undo", claims=admin)
    assert undone.status == 200, undone.text
    assert members(in_list) == {survivor.lead_id}
    notes = stack.request("GET", f"/merges/{res.json()['merge_id']}", claims=admin).json()["undo_notes"]
    assert "static-list memberships moved by the merge stay with the survivor" in notes
