"""Segment membership across a lead merge: the merged lead leaves every segment one settle after the
merge (its profile is gone), the survivor stays, and an undo brings the merged lead back into the
segments it matches."""

from __future__ import annotations

import pytest

NEW_LEADS = {"field": "status", "op": "eq", "value": "New"}


@pytest.fixture
def admin(stack):
    return stack.claims("t1", "admin", "boss")


def _lead(stack, admin, email: str) -> str:
    res = stack.request("POST", "/leads", json_body={"email": email, "first_name": "Ana"}, claims=admin)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


def _members(stack, admin, segment_id: str) -> set[str]:
    res = stack.request("GET", f"/segments/{segment_id}/leads", query={"limit": 100}, claims=admin)
    assert res.status == 200, res.text
    return {row["lead_id"] for row in res.json()["items"]}


def test_a_merged_lead_leaves_its_segments_and_undo_brings_it_back(stack, admin):
    res = stack.request(
        "POST", "/segments", json_body={"name": "new leads", "include": NEW_LEADS}, claims=admin
    )
    assert res.status == 201, res.text
    segment_id = res.json()["segment_id"]
    survivor, merged = _lead(stack, admin, "ana@acme.io"), _lead(stack, admin, "ana.s@acme.io")
    stack.settle()
    assert _members(stack, admin, segment_id) == {survivor, merged}

    res = stack.request(
        "POST", "/leads/merge", json_body={"survivor_id": survivor, "merged_ids": [merged]}, claims=admin
    )
    assert res.status == 200 and res.json()["status"] == "completed", res.text
    merge_id = res.json()["merge_id"]
    stack.settle()
    assert _members(stack, admin, segment_id) == {survivor}
    detail = stack.request("GET", f"/segments/{segment_id}", claims=admin).json()
    assert detail["count"] == 1

    res = stack.request("POST", f"/merges/{merge_id}/undo", claims=admin)
    assert res.status == 200, res.text
    stack.settle()
    assert _members(stack, admin, segment_id) == {survivor, merged}
