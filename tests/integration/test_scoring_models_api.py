"""Scoring models through the template's routes and functions under moto: CRUD + validation, activation
re-scoring in the background, overrides, score history, the nightly page fan-out, tenant isolation."""

from __future__ import annotations

from tests.integration.conftest import FakeContext, handler_of

FIT_CEO = {
    "id": "fit.ceo",
    "label": "CEO",
    "field": "job_title",
    "op": "contains",
    "value": "ceo",
    "points": 30,
}
REPLY = {"id": "eng.reply", "label": "Replied", "event_type": "email_replied", "points": 25}


def _lead(stack, tenant="t1", **body) -> str:
    response = stack.request(
        "POST", "/leads", json_body={"email": "ann@acme.io", **body}, claims=stack.claims(tenant, "admin")
    )
    assert response.status == 201, response.text
    return response.json()["lead_id"]


def _model(stack, tenant="t1", **spec) -> dict:
    response = stack.request(
        "POST",
        "/scoring-models",
        json_body={"name": "Ours", "decay": None, **spec},
        claims=stack.claims(tenant, "manager"),
    )
    assert response.status == 201, response.text
    return response.json()


def test_validation_errors_are_422_naming_the_path_and_reps_cannot_write(stack):
    admin = stack.claims("t1", "admin")
    bad = stack.request(
        "POST",
        "/scoring-models",
        json_body={"name": "x", "fit_rules": [{**FIT_CEO, "op": "gte"}]},
        claims=admin,
    )
    assert bad.status == 422 and bad.json()["error"]["details"][0]["field"] == "fit_rules[0].op"
    order = stack.request(
        "POST", "/scoring-models", json_body={"name": "x", "grades": {"hot": 10, "warm": 40}}, claims=admin
    )
    assert order.status == 422 and order.json()["error"]["details"][0]["field"] == "grades"
    rep = stack.request(
        "POST", "/scoring-models", json_body={"template": "agency"}, claims=stack.claims("t1", "rep")
    )
    assert rep.status == 403
    templates = stack.request("GET", "/scoring-models/templates", claims=stack.claims("t1", "rep"))
    assert templates.status == 200 and len(templates.json()["items"]) == 5


def test_a_boolean_or_a_numeric_string_is_not_a_number(stack):
    # Given a model, and bodies whose numbers are booleans or strings (schemathesis: weight false was 0.0)
    model = _model(stack)
    manager = stack.claims("t1", "manager")
    for spec, field in (
        ({"predictive": {"enabled": False, "weight": False}}, "predictive.weight"),
        ({"predictive": {"enabled": 0}}, "predictive.enabled"),
        ({"priority": "7"}, "priority"),
        ({"total_cap": True}, "total_cap"),
        ({"fit_rules": [{**FIT_CEO, "points": "30"}]}, "fit_rules.0.points"),
    ):
        # When it replaces the model
        res = stack.request(
            "PUT", f"/scoring-models/{model['model_id']}", json_body={"name": "Ours", **spec}, claims=manager
        )
        # Then it is a 422 naming the field, and the model is unchanged
        assert res.status == 422, (spec, res.status, res.text)
        assert res.json()["error"]["details"][0]["field"] == field, res.text
    kept = stack.request("GET", f"/scoring-models/{model['model_id']}", claims=manager).json()
    assert kept["version"] == model["version"]


def test_activation_rescores_the_tenant_in_the_background_with_history(stack):
    lead_id = _lead(stack, job_title="CEO")
    stack.settle()  # built-in formula first
    model = _model(stack, fit_rules=[FIT_CEO], behaviour_rules=[REPLY])
    admin = stack.claims("t1", "admin")
    activated = stack.request("POST", f"/scoring-models/{model['model_id']}/activate", claims=admin)
    assert activated.status == 200 and activated.json()["is_default"] is True
    stack.settle()  # jobs queue -> page on the scoring queue -> scoring worker
    lead = stack.request("GET", f"/leads/{lead_id}", claims=admin).json()
    assert lead["score"] == 30 and lead["fit_score"] == 30 and lead["scoring_model_id"] == model["model_id"]
    assert lead["grade"] == "warm" and lead["score_breakdown"][0]["factor"] == "fit.ceo"
    history = stack.request("GET", f"/leads/{lead_id}/score-history", claims=admin).json()["items"]
    assert history[0]["cause"] == "model changed" and history[0]["score"] == 30
    assert history[-1]["cause"] == "lead created"
    # change the model: re-scored again
    spec = {k: v for k, v in model.items() if k in ("name", "fit_rules", "behaviour_rules", "decay")}
    spec["fit_rules"] = [{**FIT_CEO, "points": 40}]
    changed = stack.request("PUT", f"/scoring-models/{model['model_id']}", json_body=spec, claims=admin)
    assert changed.status == 200 and changed.json()["version"] > model["version"]
    stack.settle()
    assert stack.request("GET", f"/leads/{lead_id}", claims=admin).json()["score"] == 40
    assert stack.request("DELETE", f"/scoring-models/{model['model_id']}", claims=admin).status == 409


def test_grade_override_sticks_and_is_on_timeline_and_history(stack):
    admin = stack.claims("t1", "admin")
    lead_id = _lead(stack, job_title="CEO")
    model = _model(stack, fit_rules=[FIT_CEO])
    stack.request("POST", f"/scoring-models/{model['model_id']}/activate", claims=admin)
    stack.settle()
    set_ = stack.request(
        "PUT",
        f"/leads/{lead_id}/grade-override",
        json_body={"grade": "hot", "reason": "Met at the fair"},
        claims=admin,
    )
    assert set_.status == 200 and set_.json()["grade"] == "hot" and set_.json()["computed_grade"] == "warm"
    stack.request("PATCH", f"/leads/{lead_id}", json_body={"job_title": "Analyst"}, claims=admin)
    stack.settle()
    lead = stack.request("GET", f"/leads/{lead_id}", claims=admin).json()
    assert lead["score"] == 0 and lead["computed_grade"] == "cold" and lead["grade"] == "hot"
    cleared = stack.request("DELETE", f"/leads/{lead_id}/grade-override", claims=admin).json()
    assert cleared["grade"] == "cold" and cleared["grade_override"] is None
    causes = [
        h["cause"]
        for h in stack.request("GET", f"/leads/{lead_id}/score-history", claims=admin).json()["items"]
    ]
    assert causes[:3] == ["manual override cleared", "profile changed: job_title", "manual override"]
    timeline = stack.request("GET", f"/leads/{lead_id}/activities", claims=admin).json()["items"]
    assert [a["type"] for a in timeline].count("grade_override") == 2


def test_nightly_fan_out_queues_pages_and_scores_every_tenant(stack):
    ids = [_lead(stack, email=f"p{i}@acme.io", job_title="CEO") for i in range(3)]
    other = _lead(stack, tenant="t2", email="x@beta.io", job_title="CEO")
    model = _model(stack, fit_rules=[FIT_CEO])
    # activate without letting the jobs queue run: the nightly fan-out must do the work
    stack.request("POST", f"/scoring-models/{model['model_id']}/activate", claims=stack.claims("t1", "admin"))
    result = handler_of("NightlyRescoreFunction")(
        {"job": "nightly_rescore"}, FakeContext("NightlyRescoreFunction")
    )
    assert result == {"queued": 4}
    stack.settle()
    for lead_id in ids:
        assert (
            stack.request("GET", f"/leads/{lead_id}", claims=stack.claims("t1", "admin")).json()["score"]
            == 30
        )
    t2_lead = stack.request("GET", f"/leads/{other}", claims=stack.claims("t2", "admin")).json()
    assert t2_lead["scoring_model_id"] is None  # t2 keeps the built-in formula
    assert (
        stack.request(
            "GET", f"/scoring-models/{model['model_id']}", claims=stack.claims("t2", "admin")
        ).status
        == 404
    )
    assert (
        stack.request("GET", f"/leads/{ids[0]}/score-history", claims=stack.claims("t2", "admin")).status
        == 404
    )


def test_entering_a_segment_with_its_own_model_rescores_with_that_model_in_the_same_hop(stack):
    admin = stack.claims("t1", "admin")
    default = _model(stack, fit_rules=[FIT_CEO])
    assert (
        stack.request("POST", f"/scoring-models/{default['model_id']}/activate", claims=admin).status == 200
    )
    segment = stack.request(
        "POST",
        "/segments",
        json_body={"name": "VIP", "include": {"field": "tags", "op": "has_any", "value": ["vip"]}},
        claims=admin,
    )
    assert segment.status == 201, segment.text
    segment = segment.json()
    vip_rule = {**FIT_CEO, "id": "fit.vip_ceo", "points": 35}
    vip = _model(stack, name="VIP model", fit_rules=[vip_rule], segment_id=segment["segment_id"], priority=1)
    assert stack.request("POST", f"/scoring-models/{vip['model_id']}/activate", claims=admin).status == 200
    lead_id = _lead(stack, job_title="CEO")
    stack.settle()
    assert stack.request("GET", f"/leads/{lead_id}", claims=admin).json()["score"] == 30
    # When the lead is tagged vip: the rescore of lead.updated puts it in the segment, and the segment's
    # model must score it in the same delivery (no second event needed)
    patched = stack.request("PATCH", f"/leads/{lead_id}", json_body={"tags": ["vip"]}, claims=admin)
    assert patched.status == 200, patched.text
    delivered = stack.settle()
    lead = stack.request("GET", f"/leads/{lead_id}", claims=admin).json()
    assert segment["segment_id"] in (lead.get("segment_ids") or [segment["segment_id"]])
    assert lead["score"] == 35, (lead["score"], delivered)
    history = stack.request("GET", f"/leads/{lead_id}/score-history", claims=admin).json()["items"]
    assert history[0]["cause"] == "segment membership changed"
    # and leaving it goes back to the default model
    stack.request("PATCH", f"/leads/{lead_id}", json_body={"tags": []}, claims=admin)
    stack.settle()
    assert stack.request("GET", f"/leads/{lead_id}", claims=admin).json()["score"] == 30


def test_message_intent_scores_under_an_active_template(stack):
    # Given the B2B SaaS template active and a quote form whose message field is the lead's message
    admin = stack.claims("t1", "admin")
    model = stack.request("POST", "/scoring-models", json_body={"template": "b2b_saas"}, claims=admin).json()
    assert stack.request("POST", f"/scoring-models/{model['model_id']}/activate", claims=admin).status == 200
    form = stack.request(
        "POST",
        "/channels",
        json_body={
            "type": "web_form",
            "name": "Quote",
            "fields": [
                {"name": "email", "type": "email", "required": True},
                {"name": "message", "type": "textarea"},
            ],
        },
        claims=admin,
    )
    assert form.status == 201, form.text
    stack.settle()
    # When a visitor writes "Need pricing for 20 seats asap"
    sub = stack.request(
        "POST",
        f"/forms/{form.json()['form_id']}/submissions",
        json_body={"email": "kim@example.org", "message": "Need pricing for 20 seats asap"},
    )
    assert sub.status == 201, sub.text
    stack.settle()
    # Then the template's intent rules score it, next to the form submission itself
    rows = stack.request("GET", "/leads", claims=admin).json()["items"]
    lead = next(r for r in rows if r["email"] == "kim@example.org")
    lead = stack.request("GET", f"/leads/{lead['lead_id']}", claims=admin).json()
    points = {f["factor"]: f["points"] for f in lead["score_breakdown"]}
    assert points["intent.pricing"] == 12 and points["intent.timing"] == 6 and points["eng.form"] == 12
    assert lead["scoring_model_id"] == model["model_id"] and lead["score"] >= 30
    assert lead["engaged_counts"]["intent.pricing"] == 1
