"""Channel squatting, end to end over the template's routes with the real DynamoDB repository: a provider
channel is a pending claim until a delivery signed with its own secret proves it; a squatter's claim
blocks nobody, receives nothing and is never told who else holds the account."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import boto3

from leadtide.capture.signatures import meta_signature, twilio_signature
from tests.conftest import REPO_ROOT

A = {"sub": "u-a", "custom:tenant_id": "acme", "custom:role": "admin"}
B = {"sub": "u-b", "custom:tenant_id": "globex", "custom:role": "admin"}
A_SECRET, B_SECRET = "a" * 32, "b" * 32
PHONE_NUMBER_ID = "1122334455667"  # the phone_number_id of the demo's WhatsApp text
TEXT = (REPO_ROOT / "infra" / "local" / "demo_data" / "whatsapp_cloud_text.json").read_bytes()


def _whatsapp(token: str, secret: str) -> dict:
    return {
        "type": "whatsapp",
        "phone_number_id": PHONE_NUMBER_ID,
        "verify_token": token,
        "app_secret": secret,
    }


def _deliver(stack, body: bytes, secret: str):
    return stack.request(
        "POST",
        "/webhooks/whatsapp",
        body=body,
        headers={"content-type": "application/json", "x-hub-signature-256": meta_signature(body, secret)},
    )


def _channels(stack, claims) -> list[dict]:
    return stack.request("GET", "/channels", claims=claims).json()["items"]


def test_squatter_connecting_first_blocks_nobody_and_receives_nothing(stack):
    # Given tenant B connects tenant A's WhatsApp number first
    squat = stack.request("POST", "/channels", json_body=_whatsapp("b-verify-token", B_SECRET), claims=B)
    assert squat.status == 201, squat.text
    # When A connects it too: not a conflict (it was a 409 telling A the account was taken)
    owned = stack.request("POST", "/channels", json_body=_whatsapp("a-verify-token", A_SECRET), claims=A)
    assert owned.status == 201, owned.text
    assert "globex" not in owned.text and squat.json()["channel_id"] not in owned.text
    # Both wait, pending, for a delivery signed with their own secret
    assert squat.json().get("status") == owned.json().get("status") == "pending"
    # and Meta delivers a text signed with A's app secret
    assert _deliver(stack, TEXT, A_SECRET).status == 200
    stack.settle()
    # Then A's channel is active and the proving delivery itself is A's lead
    (a_channel,) = _channels(stack, A)
    assert a_channel["status"] == "active" and a_channel["activated_at"]
    (row,) = stack.request("GET", "/leads", claims=A).json()["items"]
    lead = stack.request("GET", f"/leads/{row['lead_id']}", claims=A).json()
    assert lead["source_channel_id"] == a_channel["channel_id"], lead
    # B's connection stays pending and received nothing
    (b_channel,) = _channels(stack, B)
    assert b_channel["status"] == "pending" and b_channel.get("activated_at") is None
    assert stack.request("GET", "/leads", claims=B).json()["items"] == []
    # Nothing B was ever answered names A
    b_answers = squat.text + json.dumps(_channels(stack, B))
    again = stack.request("POST", "/channels", json_body=_whatsapp("b-other-token", B_SECRET), claims=B)
    assert again.status == 409 and again.json()["error"]["code"] == "channel_conflict"
    assert b_channel["channel_id"] in again.text  # its own channel, the only one it is told about
    for text in (b_answers, again.text):
        assert "acme" not in text and a_channel["channel_id"] not in text
    # The stored claims: one per tenant on the account, A's active
    items = boto3.client("dynamodb").query(
        TableName=stack.resources.tables["ChannelsTable"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"R#whatsapp#{PHONE_NUMBER_ID}"}},
    )["Items"]
    assert {(i["sk"]["S"], i["status"]["S"]) for i in items} == {
        ("C#acme", "active"),
        ("C#globex", "pending"),
    }


def test_a_squatters_self_signed_forgery_lands_in_its_own_tenant_only(stack):
    stack.request("POST", "/channels", json_body=_whatsapp("b-verify-token", B_SECRET), claims=B)
    # B signs a delivery naming A's number with its own secret: it activates B's claim, in B's tenant
    assert _deliver(stack, TEXT, B_SECRET).status == 200
    stack.settle()
    assert _channels(stack, B)[0]["status"] == "active"
    # A connects afterwards: no conflict, and A's real deliveries reach A, not B
    owned = stack.request("POST", "/channels", json_body=_whatsapp("a-verify-token", A_SECRET), claims=A)
    assert owned.status == 201, owned.text
    real = TEXT.replace(b"wamid.xyzxyz", b"wamid.real")
    assert real != TEXT
    assert _deliver(stack, real, A_SECRET).status == 200
    stack.settle()
    (a_lead,) = stack.request("GET", "/leads", claims=A).json()["items"]
    (b_lead,) = stack.request("GET", "/leads", claims=B).json()["items"]
    a_acts = stack.request("GET", f"/leads/{a_lead['lead_id']}/activities", claims=A).json()["items"]
    assert [a["provider_message_id"] for a in a_acts] == ["wamid.real"]
    assert b_lead["lead_id"] != a_lead["lead_id"]
    # A signature no claim verifies is a 401; an account nobody connected a 403
    assert _deliver(stack, real, "c" * 32).status == 401
    unknown = TEXT.replace(PHONE_NUMBER_ID.encode(), b"999999999")
    assert _deliver(stack, unknown, A_SECRET).status == 403


def test_twilio_channel_is_activated_by_its_first_signed_delivery(stack):
    sid, number, token = "AC" + "d" * 32, "+14155238886", "t" * 32
    body = {"type": "twilio", "account_sid": sid, "auth_token": token, "phone_number": f"whatsapp:{number}"}
    assert stack.request("POST", "/channels", json_body=body, claims=A).json()["status"] == "pending"
    params = [
        ("AccountSid", sid),
        ("From", "whatsapp:+14158675309"),
        ("To", f"whatsapp:{number}"),
        ("Body", "Surf lessons in July?"),
        ("MessageSid", "SM" + "1" * 32),
        ("NumMedia", "0"),
    ]
    url = "https://api.example.com/webhooks/twilio"
    res = stack.request(
        "POST",
        "/webhooks/twilio",
        body=urlencode(params),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(url, params, token),
        },
    )
    assert res.status == 200, res.text
    stack.settle()
    assert _channels(stack, A)[0]["status"] == "active"
    assert len(stack.request("GET", "/leads", claims=A).json()["items"]) == 1


def test_a_full_account_cannot_be_connected_and_the_answer_names_nobody(stack, monkeypatch):
    monkeypatch.setattr("leadtide.channels.service.MAX_CLAIMS_PER_ACCOUNT", 1)
    assert (
        stack.request("POST", "/channels", json_body=_whatsapp("a-verify-token", A_SECRET), claims=A).status
        == 201
    )
    full = stack.request("POST", "/channels", json_body=_whatsapp("b-verify-token", B_SECRET), claims=B)
    assert full.status == 409, full.text
    error = full.json()["error"]
    assert error == {
        "code": "channel_unavailable",
        "message": "this whatsapp account cannot be connected",
        "details": [{"field": "phone_number_id", "problem": "cannot be connected"}],
    }
    assert stack.request("GET", "/channels", claims=B).json()["items"] == []  # nothing half-written


def test_a_channel_connected_before_claims_keeps_receiving_and_disconnects(stack):
    # Given a channel stored the old way: one ROUTE item owning the account, no status on the channel
    created = stack.request(
        "POST", "/channels", json_body=_whatsapp("a-verify-token", A_SECRET), claims=A
    ).json()
    client, table = boto3.client("dynamodb"), stack.resources.tables["ChannelsTable"]
    pk = {"S": f"R#whatsapp#{PHONE_NUMBER_ID}"}
    claim = client.get_item(TableName=table, Key={"pk": pk, "sk": {"S": "C#acme"}})["Item"]
    client.delete_item(TableName=table, Key={"pk": pk, "sk": {"S": "C#acme"}})
    client.put_item(TableName=table, Item={"pk": pk, "sk": {"S": "ROUTE"}, "doc": claim["doc"]})
    client.update_item(
        TableName=table,
        Key={"pk": {"S": "T#acme"}, "sk": {"S": f"C#{created['channel_id']}"}},
        UpdateExpression="REMOVE #s, claim_sk",
        ExpressionAttributeNames={"#s": "status"},
    )
    stored = client.get_item(
        TableName=table, Key={"pk": {"S": "T#acme"}, "sk": {"S": f"C#{created['channel_id']}"}}
    )
    doc = json.loads(stored["Item"]["doc"]["S"])
    doc.pop("status")
    client.update_item(
        TableName=table,
        Key={"pk": {"S": "T#acme"}, "sk": {"S": f"C#{created['channel_id']}"}},
        UpdateExpression="SET doc = :d",
        ExpressionAttributeValues={":d": {"S": json.dumps(doc)}},
    )
    # Then it reads as active, receives its deliveries, and another tenant's claim does not disturb it
    assert _channels(stack, A)[0]["status"] == "active"
    assert (
        stack.request("POST", "/channels", json_body=_whatsapp("b-verify-token", B_SECRET), claims=B).status
        == 201
    )
    assert _deliver(stack, TEXT, A_SECRET).status == 200
    stack.settle()
    assert len(stack.request("GET", "/leads", claims=A).json()["items"]) == 1
    assert stack.request("GET", "/leads", claims=B).json()["items"] == []
    # and disconnecting removes its old route
    assert stack.request("DELETE", f"/channels/{created['channel_id']}", claims=A).status == 204
    left = client.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": pk}
    )
    assert [i["sk"]["S"] for i in left["Items"]] == ["C#globex"]
