"""What a rep receives is computed over what the rep may see (their own and unassigned leads): segment
counts, previews and members, static-list counts and CSV matches, bulk-action totals and reports, exports,
duplicate pairs and 409 bodies - with two reps (Ron, Dana) and an admin, through the template's routes.

The probe that found it: a rep saved a segment ``owner_id eq ron`` + ``company starts_with HYP`` and read
``count: 1`` with no members, so any attribute of another rep's lead could be guessed a value at a time."""

from __future__ import annotations

import pytest

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
RON = {"sub": "ron", "custom:tenant_id": "acme", "custom:role": "rep"}
DANA = {"sub": "dana", "custom:tenant_id": "acme", "custom:role": "rep"}


def _lead(stack, claims=ADMIN, **body) -> str:
    res = stack.request("POST", "/leads", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


@pytest.fixture
def team(stack):
    """Ron's two leads (one at Hyperion), Dana's lead and an unassigned one, all created by the admin."""
    leads = {
        "ron_hyp": _lead(
            stack, name="Rhea Hyde", email="rhea@hyperion.io", company="HYPERION", owner_id="ron"
        ),
        "ron_other": _lead(stack, name="Rob", email="rob@acme.io", company="Acme", owner_id="ron"),
        "dana": _lead(stack, name="Dan", email="dan@hypnos.io", company="HYPNOS", owner_id="dana"),
        "free": _lead(stack, name="Fay", email="fay@hype.io", company="HYPE"),
    }
    stack.settle()
    return leads


def _segment(stack, claims, include) -> dict:
    res = stack.request("POST", "/segments", json_body={"name": "probe", "include": include}, claims=claims)
    assert res.status == 201, res.text
    stack.settle()
    return res.json()


def _count(stack, claims, path) -> int:
    res = stack.request("GET", path, claims=claims)
    assert res.status == 200, res.text
    return res.json()["count"]


def _member_ids(stack, claims, path) -> set[str]:
    res = stack.request("GET", path, query={"limit": 100}, claims=claims)
    assert res.status == 200, res.text
    return {row["lead_id"] for row in res.json()["items"]}


def test_a_rep_s_segment_count_never_reveals_another_rep_s_leads(stack, team):
    # Given Dana's probe for an attribute of one of Ron's leads
    probe = {
        "all": [
            {"field": "owner_id", "op": "eq", "value": "ron"},
            {"field": "company", "op": "starts_with", "value": "HYP"},
        ]
    }
    segment = _segment(stack, DANA, probe)
    path = f"/segments/{segment['segment_id']}"
    # Then the segment holds Ron's lead (the admin sees it), but Dana's count, list and members are empty
    assert _count(stack, ADMIN, path) == 1
    assert _member_ids(stack, ADMIN, f"{path}/leads") == {team["ron_hyp"]}
    assert _count(stack, DANA, path) == 0
    assert _member_ids(stack, DANA, f"{path}/leads") == set()
    listed = stack.request("GET", "/segments", claims=DANA).json()["items"]
    assert [s["count"] for s in listed if s["segment_id"] == segment["segment_id"]] == [0]
    # and Ron, whose lead it is, counts it
    assert _count(stack, RON, path) == 1
    # and the preview agrees: count, evaluated and sample over Dana's own and unassigned leads only
    preview = stack.request("POST", "/segments/preview", json_body={"include": probe}, claims=DANA).json()
    assert (preview["count"], preview["sample"]) == (0, [])
    broad = {"field": "company", "op": "starts_with", "value": "HYP"}
    preview = stack.request("POST", "/segments/preview", json_body={"include": broad}, claims=DANA).json()
    assert preview["count"] == 2 and preview["evaluated"] == 2
    assert {row["lead_id"] for row in preview["sample"]} == {team["dana"], team["free"]}
    # When a broader segment matches leads of both reps, each rep counts what they can see
    shared = _segment(stack, ADMIN, broad)
    shared_path = f"/segments/{shared['segment_id']}"
    assert _count(stack, ADMIN, shared_path) == 3
    assert _count(stack, DANA, shared_path) == 2 == len(_member_ids(stack, DANA, f"{shared_path}/leads"))
    assert _count(stack, RON, shared_path) == 2 == len(_member_ids(stack, RON, f"{shared_path}/leads"))


def test_a_rep_s_member_pages_are_full_pages_of_visible_leads(stack, team):
    # Given a segment of every lead, Ron's two first in the newest-first member order
    segment = _segment(stack, ADMIN, {"field": "email", "op": "is_not_empty"})
    path = f"/segments/{segment['segment_id']}/leads"
    # When Dana pages with limit 1
    seen, cursor = [], None
    for _ in range(5):
        query = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = stack.request("GET", path, query=query, claims=DANA).json()
        # Then every page but the last holds one lead (a short page would count the invisible ones)
        seen += [row["lead_id"] for row in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 1
    assert set(seen) == {team["dana"], team["free"]}


def test_a_rep_s_static_list_counts_and_csv_matches_are_over_visible_leads(stack, team):
    created = stack.request("POST", "/lists", json_body={"name": "Expo"}, claims=ADMIN).json()
    path = f"/lists/{created['list_id']}"
    added = stack.request("POST", f"{path}/leads", json_body={"lead_ids": list(team.values())}, claims=ADMIN)
    assert added.json()["added"] == 4
    assert _count(stack, ADMIN, path) == 4
    assert _count(stack, DANA, path) == 2 == len(_member_ids(stack, DANA, f"{path}/leads"))
    assert _count(stack, RON, path) == 3 == len(_member_ids(stack, RON, f"{path}/leads"))
    listed = stack.request("GET", "/lists", claims=DANA).json()["items"]
    assert [lst["count"] for lst in listed] == [2]
    # A CSV of Ron's and Dana's emails, imported by Dana into her own list, matches only what she can see
    mine = stack.request("POST", "/lists", json_body={"name": "Mine"}, claims=DANA).json()
    csv_text = "email\nrhea@hyperion.io\ndan@hypnos.io\n"
    res = stack.request("POST", f"/lists/{mine['list_id']}/imports", json_body={"csv": csv_text}, claims=DANA)
    body = res.json()
    assert (body["matched"], body["unmatched"], body["added"], body["not_visible"]) == (1, 1, 1, 0)
    assert body["unmatched_values"] == ["rhea@hyperion.io"]


def test_a_rep_s_bulk_action_and_export_of_a_segment_cover_only_visible_leads(stack, team):
    segment = _segment(stack, ADMIN, {"field": "email", "op": "is_not_empty"})
    selection = {"segment_id": segment["segment_id"]}
    res = stack.request(
        "POST",
        "/bulk-actions",
        json_body={"selection": selection, "action": "add_tags", "params": {"tags": ["expo"]}},
        claims=DANA,
    )
    assert res.status == 202, res.text
    stack.settle()
    done = stack.request("GET", f"/bulk-actions/{res.json()['bulk_action_id']}", claims=DANA).json()
    # Then the total and the report know nothing of Ron's leads (not even as "forbidden")
    assert (done["total"], done["succeeded"], done["failed"], done["skipped"]) == (2, 2, 0, 0)
    assert done["report"]["failures"] == []
    assert stack.request("GET", f"/leads/{team['ron_hyp']}", claims=ADMIN).json()["tags"] == []
    export = stack.request(
        "POST", "/exports", json_body={"format": "csv", "selection": selection}, claims=DANA
    )
    assert export.status == 202, export.text
    stack.settle()
    assert stack.request("GET", f"/exports/{export.json()['export_id']}", claims=DANA).json()["rows"] == 2


def test_a_duplicate_identity_409_names_only_a_lead_the_rep_can_see(stack, team):
    # When Dana creates a lead with the email of Ron's lead
    res = stack.request("POST", "/leads", json_body={"email": "RHEA@hyperion.io"}, claims=DANA)
    # Then she learns that the email is taken, not which lead holds it
    assert res.status == 409, res.text
    assert team["ron_hyp"] not in res.text
    assert res.json()["error"]["details"] == [{"field": "email", "problem": "already taken"}]
    # and the same on a change of her own lead's email
    res = stack.request("PATCH", f"/leads/{team['dana']}", json_body={"email": "rob@acme.io"}, claims=DANA)
    assert res.status == 409 and team["ron_other"] not in res.text
    # but a lead she can see (unassigned) is named, and the admin is told which lead it is
    res = stack.request("POST", "/leads", json_body={"email": "fay@hype.io"}, claims=DANA)
    assert res.status == 409 and res.json()["error"]["details"][0]["lead_id"] == team["free"]
    res = stack.request("POST", "/leads", json_body={"email": "rhea@hyperion.io"}, claims=ADMIN)
    assert res.status == 409 and res.json()["error"]["details"][0]["lead_id"] == team["ron_hyp"]


def test_duplicate_pairs_and_merges_stay_within_what_a_rep_can_see(stack, team):
    # Given near-duplicates: Ron's "Rhea Hyde" and a Dana lead of the same name, and one of Dana's own
    dana_rhea = _lead(stack, name="Rhea Hyde", email="rhea.hyde@gmail.com", owner_id="dana")
    dana_dan = _lead(stack, name="Dan", email="dan.h@gmail.com", company="HYPNOS", owner_id="dana")
    assert stack.request("POST", "/duplicates/scan", claims=ADMIN).status == 202
    stack.settle()
    pairs = lambda claims: {  # noqa: E731
        frozenset((p["lead_a"], p["lead_b"]))
        for p in stack.request("GET", "/duplicates", query={"min_score": 0}, claims=claims).json()["items"]
    }
    assert frozenset((team["ron_hyp"], dana_rhea)) in pairs(ADMIN)
    # Then Dana sees her own pair but not the one with Ron's lead, and cannot merge across
    assert frozenset((team["dana"], dana_dan)) in pairs(DANA)
    assert all(team["ron_hyp"] not in pair and team["ron_other"] not in pair for pair in pairs(DANA))
    res = stack.request(
        "POST",
        "/leads/merge",
        json_body={"survivor_id": dana_rhea, "merged_ids": [team["ron_hyp"]]},
        claims=DANA,
    )
    assert res.status == 403 and "HYPERION" not in res.text
