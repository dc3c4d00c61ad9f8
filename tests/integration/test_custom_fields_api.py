"""Custom fields over the template's routes: CRUD, roles, tenant isolation, leads with custom values."""


def _admin(stack, tenant="acme"):
    return stack.claims(tenant, "admin", "u-admin")


def _create_field(stack, claims, **body):
    res = stack.request("POST", "/custom-fields", json_body=body, claims=claims)
    assert res.status == 201, res.text
    return res.json()


def test_custom_field_crud(stack):
    admin, rep = _admin(stack), stack.claims("acme", "rep", "u-rep")
    # Given a manager defines a number and a dropdown field
    manager = stack.claims("acme", "manager", "u-mgr")
    budget = _create_field(stack, manager, key="budget", label="Budget", type="number", min=0)
    assert (budget["key"], budget["type"], budget["min"], budget["builtin"]) == ("budget", "number", 0, False)
    _create_field(stack, admin, key="plan", label="Plan", type="dropdown", options=["Basic", "Pro"])
    # When anyone lists them, built-in fields come first, then the tenant's own by key
    listed = stack.request("GET", "/custom-fields", claims=rep)
    assert listed.status == 200
    keys = [f["key"] for f in listed.json()["items"]]
    assert keys[-2:] == ["budget", "plan"] and "lead_source" in keys
    assert stack.request("GET", "/custom-fields/plan", claims=rep).json()["options"] == ["Basic", "Pro"]
    # A repeat is a 409; a bad definition a 422 naming the problem
    again = stack.request(
        "POST", "/custom-fields", json_body={"key": "budget", "label": "B", "type": "text"}, claims=admin
    )
    assert again.status == 409 and again.json()["error"]["code"] == "custom_field_exists"
    bad = stack.request(
        "POST",
        "/custom-fields",
        json_body={"key": "code", "label": "Code", "type": "text", "pattern": "([a-z]"},
        claims=admin,
    )
    assert bad.status == 422 and "regular expression" in bad.text
    empty = stack.request(
        "POST",
        "/custom-fields",
        json_body={"key": "size", "label": "Size", "type": "dropdown", "options": []},
        claims=admin,
    )
    assert empty.status == 422 and "options" in empty.text
    # PATCH changes the rules; DELETE removes the field
    patched = stack.request(
        "PATCH", "/custom-fields/budget", json_body={"max": 1000, "label": "Budget $"}, claims=admin
    )
    assert patched.status == 200 and (patched.json()["max"], patched.json()["label"]) == (1000, "Budget $")
    inverted = stack.request("PATCH", "/custom-fields/budget", json_body={"min": 5000}, claims=admin)
    assert inverted.status == 422
    assert stack.request("DELETE", "/custom-fields/budget", claims=admin).status == 204
    assert stack.request("GET", "/custom-fields/budget", claims=admin).status == 404
    assert stack.request("DELETE", "/custom-fields/budget", claims=admin).status == 404
    assert stack.request("DELETE", "/custom-fields/country", claims=admin).status == 422  # built-in
    assert stack.request("GET", "/custom-fields/Not-A-Key", claims=admin).status == 404


def test_reps_read_but_cannot_write_definitions(stack):
    rep = stack.claims("acme", "rep", "u-rep")
    res = stack.request(
        "POST", "/custom-fields", json_body={"key": "x", "label": "X", "type": "text"}, claims=rep
    )
    assert res.status == 403
    _create_field(stack, _admin(stack), key="x", label="X", type="text")
    assert stack.request("PATCH", "/custom-fields/x", json_body={"label": "Y"}, claims=rep).status == 403
    assert stack.request("DELETE", "/custom-fields/x", claims=rep).status == 403
    assert stack.request("GET", "/custom-fields/x", claims=rep).status == 200


def test_tenants_do_not_see_each_others_fields(stack):
    _create_field(stack, _admin(stack, "acme"), key="budget", label="Budget", type="number")
    other = _admin(stack, "globex")
    assert "budget" not in [
        f["key"] for f in stack.request("GET", "/custom-fields", claims=other).json()["items"]
    ]
    assert stack.request("GET", "/custom-fields/budget", claims=other).status == 404
    assert stack.request("DELETE", "/custom-fields/budget", claims=other).status == 404
    # globex can define its own "budget" with another type
    _create_field(stack, other, key="budget", label="Budget", type="text")
    lead = stack.request(
        "POST", "/leads", json_body={"email": "g@x.com", "custom_fields": {"budget": "big"}}, claims=other
    )
    assert lead.status == 201 and lead.json()["custom_fields"] == {"budget": "big"}
    acme = stack.request(
        "POST",
        "/leads",
        json_body={"email": "a@x.com", "custom_fields": {"budget": "big"}},
        claims=_admin(stack),
    )
    assert acme.status == 422 and "not a number" in acme.text


def test_leads_store_checked_custom_values(stack):
    admin = _admin(stack)
    _create_field(stack, admin, key="budget", label="Budget", type="number", required=True)
    _create_field(stack, admin, key="topics", label="Topics", type="multi_select", options=["Sun", "Surf"])
    # A required custom field is enforced on create
    missing = stack.request("POST", "/leads", json_body={"email": "a@x.com"}, claims=admin)
    assert missing.status == 422 and missing.json()["error"]["code"] == "invalid_custom_field_value"
    assert missing.json()["error"]["details"][0]["field"] == "custom_fields.budget"
    # Values are converted and stored
    created = stack.request(
        "POST",
        "/leads",
        json_body={
            "email": "a@x.com",
            "custom_fields": {"budget": "1,500", "topics": "surf; sun", "city": "Porto"},
        },
        claims=admin,
    )
    assert created.status == 201, created.text
    lead_id = created.json()["lead_id"]
    stored = stack.request("GET", f"/leads/{lead_id}", claims=admin).json()
    assert stored["custom_fields"] == {"budget": 1500, "topics": ["Surf", "Sun"], "city": "Porto"}
    # Unknown keys are refused by name; PATCH merges and null clears
    unknown = stack.request(
        "PATCH", f"/leads/{lead_id}", json_body={"custom_fields": {"colour": "red"}}, claims=admin
    )
    assert unknown.status == 422 and "colour" in unknown.json()["error"]["message"]
    patched = stack.request(
        "PATCH",
        f"/leads/{lead_id}",
        json_body={"custom_fields": {"budget": 2000, "city": None}},
        claims=admin,
    )
    assert patched.status == 200 and patched.json()["custom_fields"] == {
        "budget": 2000,
        "topics": ["Surf", "Sun"],
    }
    assert stack.request("GET", f"/leads/{lead_id}", claims=admin).json()["custom_fields"]["budget"] == 2000


def test_patterns_run_on_re2_refused_at_definition_and_linear_on_values(stack):
    admin = _admin(stack)
    # Patterns RE2 cannot compile are a 422 naming `pattern`, on create and on change
    for pattern in ("(a)b\\1", "a(?=b)", "(?<=x)a"):
        bad = stack.request(
            "POST",
            "/custom-fields",
            json_body={"key": "code", "label": "Code", "type": "text", "pattern": pattern},
            claims=admin,
        )
        assert bad.status == 422, bad.text
        assert [d["field"] for d in bad.json()["error"]["details"]] == ["pattern"], bad.text
    # Given the patterns the nested-quantifier screen let through (exponential in Python's re)
    _create_field(stack, admin, key="code", label="Code", type="text", pattern="^(a|a)*$", max_length=10000)
    changed = stack.request("PATCH", "/custom-fields/code", json_body={"pattern": "a\\Z"}, claims=admin)
    assert changed.status == 422 and changed.json()["error"]["details"][0]["field"] == "pattern", changed.text
    assert (
        stack.request("PATCH", "/custom-fields/code", json_body={"pattern": "^((a+))+$"}, claims=admin).status
        == 200
    )
    # When a lead is sent a 10,000-character adversarial value, then a matching one
    refused = stack.request(
        "POST",
        "/leads",
        json_body={"email": "a@example.com", "custom_fields": {"code": "a" * 9_999 + "!"}},
        claims=admin,
    )
    accepted = stack.request(
        "POST",
        "/leads",
        json_body={"email": "b@example.com", "custom_fields": {"code": "a" * 10_000}},
        claims=admin,
    )
    # Then the answers are correct (a 422 naming the field, then 201), from the linear-time matcher
    assert refused.status == 422, refused.text
    assert refused.json()["error"]["details"][0]["field"] == "custom_fields.code"
    assert accepted.status == 201 and accepted.json()["custom_fields"]["code"] == "a" * 10_000
