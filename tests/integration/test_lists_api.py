from leadtide.wiring import get_wiring

"""Static lists over the template's routes: CRUD, counts, add by ids / by filter / from a CSV of emails and
phones, removal, member pages, roles, tenant isolation, what is stored on the lead."""


ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
REP = {"sub": "u-rep", "custom:tenant_id": "acme", "custom:role": "rep"}
REP2 = {"sub": "u-rep2", "custom:tenant_id": "acme", "custom:role": "rep"}
OTHER = {"sub": "u-admin", "custom:tenant_id": "globex", "custom:role": "admin"}


def _lead(stack, claims=ADMIN, **body):
    res = stack.request("POST", "/leads", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()["lead_id"]


def _list(stack, claims=ADMIN, name="Fair"):
    res = stack.request("POST", "/lists", json_body={"name": name}, claims=claims)
    assert res.status == 201, res.text
    return res.json()


def _member_ids(stack, list_id, claims=ADMIN, limit=100):
    res = stack.request("GET", f"/lists/{list_id}/leads", query={"limit": limit}, claims=claims)
    assert res.status == 200, res.text
    return [row["lead_id"] for row in res.json()["items"]]


def test_list_crud_counts_members_and_lead_attribute(stack):
    a = _lead(stack, email="a@example.com")
    b = _lead(stack, email="b@example.com")
    lst = _list(stack)
    assert lst["count"] == 0
    # add by ids: unknown and repeated ids are reported, not added
    res = stack.request(
        "POST", f"/lists/{lst['list_id']}/leads", json_body={"lead_ids": [a, b, a, "0" * 32]}, claims=ADMIN
    )
    assert res.status == 200, res.text
    assert res.json() == {
        "added": 2,
        "already_members": 0,
        "not_found": ["0" * 32],
        "not_visible": [],
        "queued": False,
        "job_id": None,
    }
    again = stack.request(
        "POST", f"/lists/{lst['list_id']}/leads", json_body={"lead_ids": [a]}, claims=ADMIN
    ).json()
    assert again["added"] == 0 and again["already_members"] == 1
    got = stack.request("GET", f"/lists/{lst['list_id']}", claims=ADMIN).json()
    assert got["count"] == 2 and got["updated_at"] >= lst["updated_at"]
    # newest added first
    assert _member_ids(stack, lst["list_id"]) == [b, a]
    # paginated
    page = stack.request("GET", f"/lists/{lst['list_id']}/leads", query={"limit": 1}, claims=ADMIN).json()
    assert [r["lead_id"] for r in page["items"]] == [b] and page["next_cursor"]
    page2 = stack.request(
        "GET",
        f"/lists/{lst['list_id']}/leads",
        query={"limit": 1, "cursor": page["next_cursor"]},
        claims=ADMIN,
    ).json()
    assert [r["lead_id"] for r in page2["items"]] == [a]
    # the lead record carries the list id (segments read membership from it)
    refs = get_wiring().list_repository.lead_refs("acme", [a])
    assert refs[a].list_ids == {lst["list_id"]}
    # remove
    res = stack.request(
        "DELETE", f"/lists/{lst['list_id']}/leads", json_body={"lead_ids": [a, a]}, claims=ADMIN
    )
    assert res.json()["removed"] == 1
    assert stack.request("GET", f"/lists/{lst['list_id']}", claims=ADMIN).json()["count"] == 1
    assert get_wiring().list_repository.lead_refs("acme", [a])[a].list_ids == frozenset()
    # rename, list, delete
    res = stack.request("PATCH", f"/lists/{lst['list_id']}", json_body={"name": "Fair 2024"}, claims=ADMIN)
    assert res.status == 200 and res.json()["name"] == "Fair 2024"
    listed = stack.request("GET", "/lists", claims=ADMIN).json()["items"]
    assert [(x["name"], x["count"]) for x in listed] == [("Fair 2024", 1)]
    assert stack.request("DELETE", f"/lists/{lst['list_id']}", claims=ADMIN).status == 204
    assert stack.request("GET", f"/lists/{lst['list_id']}", claims=ADMIN).status == 404
    assert get_wiring().list_repository.lead_refs("acme", [b])[b].list_ids == frozenset()


def test_add_by_filter(stack):
    ids = [_lead(stack, email=f"f{i}@example.com", status="Contacted" if i % 2 else "New") for i in range(6)]
    lst = _list(stack)
    res = stack.request(
        "POST", f"/lists/{lst['list_id']}/leads", json_body={"filter": {"status": "Contacted"}}, claims=ADMIN
    )
    assert res.status == 200, res.text
    assert res.json()["added"] == 3
    assert set(_member_ids(stack, lst["list_id"])) == {ids[1], ids[3], ids[5]}


def test_csv_import_matches_emails_and_phones(stack):
    a = _lead(stack, email="ana@example.com")
    b = _lead(stack, phone="+14155550123")
    lst = _list(stack)
    csv_text = (
        "Name,E-mail,Phone\nAna,ANA@Example.com,\nBob,,(415) 555-0123\n"
        "Nobody,nobody@example.com,\nBad,not-an-email,12\n"
    )
    res = stack.request("POST", f"/lists/{lst['list_id']}/imports", json_body={"csv": csv_text}, claims=ADMIN)
    assert res.status == 200, res.text
    body = res.json()
    assert (body["rows"], body["matched"], body["unmatched"], body["invalid"], body["added"]) == (
        4,
        2,
        1,
        1,
        2,
    )
    assert body["unmatched_values"] == ["nobody@example.com"]
    assert set(_member_ids(stack, lst["list_id"])) == {a, b}
    # headerless: each cell guessed
    res = stack.request(
        "POST", f"/lists/{lst['list_id']}/imports", json_body={"csv": "ana@example.com\n"}, claims=ADMIN
    )
    assert res.json()["already_members"] == 1
    bad = stack.request(
        "POST",
        f"/lists/{lst['list_id']}/imports",
        json_body={"csv": "a,b\n1,2\n", "column": "email"},
        claims=ADMIN,
    )
    assert bad.status == 422


def test_reps_only_add_and_see_leads_they_can_see(stack):
    mine = _lead(stack, claims=REP, email="mine@example.com")
    theirs = _lead(stack, claims=REP2, email="theirs@example.com")
    lst = _list(stack, claims=ADMIN)
    res = stack.request(
        "POST", f"/lists/{lst['list_id']}/leads", json_body={"lead_ids": [mine, theirs]}, claims=REP
    )
    assert res.json()["added"] == 1 and res.json()["not_visible"] == [theirs]
    stack.request("POST", f"/lists/{lst['list_id']}/leads", json_body={"lead_ids": [theirs]}, claims=ADMIN)
    assert _member_ids(stack, lst["list_id"], claims=REP) == [mine]
    assert set(_member_ids(stack, lst["list_id"], claims=ADMIN)) == {mine, theirs}
    # reps may not rename or delete a list they did not create, but may their own
    assert (
        stack.request("PATCH", f"/lists/{lst['list_id']}", json_body={"name": "x"}, claims=REP).status == 403
    )
    assert stack.request("DELETE", f"/lists/{lst['list_id']}", claims=REP).status == 403
    own = _list(stack, claims=REP, name="Mine")
    assert stack.request("DELETE", f"/lists/{own['list_id']}", claims=REP).status == 204


def test_lists_are_tenant_isolated(stack):
    lead = _lead(stack, email="x@example.com")
    lst = _list(stack)
    assert stack.request("GET", f"/lists/{lst['list_id']}", claims=OTHER).status == 404
    assert stack.request("GET", "/lists", claims=OTHER).json()["items"] == []
    assert (
        stack.request(
            "POST", f"/lists/{lst['list_id']}/leads", json_body={"lead_ids": [lead]}, claims=OTHER
        ).status
        == 404
    )
    other_list = _list(stack, claims=OTHER)
    res = stack.request(
        "POST", f"/lists/{other_list['list_id']}/leads", json_body={"lead_ids": [lead]}, claims=OTHER
    )
    assert res.json()["not_found"] == [lead] and res.json()["added"] == 0
    assert stack.request("GET", "/lists/not-an-id", claims=ADMIN).status == 404
    bad = stack.request(
        "POST", f"/lists/{lst['list_id']}/leads", json_body={"lead_ids": [lead], "filter": {}}, claims=ADMIN
    )
    assert bad.status == 422


def test_moving_memberships_of_a_lead_whose_profile_is_gone_touches_only_its_lists(stack):
    # A merge resumed after the merged lead's profile was deleted: its list_ids are gone with it.
    from leadtide.dal.items import LeadItem, lead_pk

    gone, survivor = _lead(stack, email="gone@example.com"), _lead(stack, email="kept@example.com")
    fair, other, third = _list(stack, name="Fair"), _list(stack, name="Other"), _list(stack, name="Third")
    for lst in (fair, third):
        res = stack.request(
            "POST", f"/lists/{lst['list_id']}/leads", json_body={"lead_ids": [gone]}, claims=ADMIN
        )
        assert res.status == 200, res.text
    LeadItem(lead_pk("acme", gone), "PROFILE").delete()
    joined = get_wiring().list_service.move_memberships("acme", gone, survivor)
    assert joined == 2
    assert _member_ids(stack, fair["list_id"]) == [survivor]
    assert _member_ids(stack, third["list_id"]) == [survivor]
    assert _member_ids(stack, other["list_id"]) == []


def test_empty_lead_ids_in_the_deprecated_shape_are_a_422_not_a_500(stack):
    # Given a list, and a body in the deprecated top-level shape whose ids are empty strings (schemathesis)
    list_id = _list(stack)["list_id"]
    for body in (
        {"filter": None, "lead_ids": [""] * 1000, "selection": None},
        {"lead_ids": ["", "x"]},
        {"selection": {"lead_ids": [""]}},
    ):
        # When it is sent
        res = stack.request("POST", f"/lists/{list_id}/leads", claims=ADMIN, json_body=body)
        # Then it is refused naming the ids, and the list is unchanged
        assert res.status == 422, (body, res.status, res.text)
        assert "lead_ids" in res.text
    assert stack.request("GET", f"/lists/{list_id}", claims=ADMIN).json()["count"] == 0
