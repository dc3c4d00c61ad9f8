"""WebhookReceiver + ChannelService: connect channels, verify deliveries, queue commands, reject the rest."""

import json

import pytest

from leadtide.capture.receive import StoredDeliveryReader, WebhookReceiver
from leadtide.capture.signatures import meta_signature, twilio_signature
from leadtide.channels.service import ChannelService
from leadtide.models.auth import Principal
from leadtide.models.channels import (
    ChannelStatus,
    InstagramChannelCreate,
    TwilioChannelCreate,
    WebFormChannelCreate,
    WhatsAppChannelCreate,
)
from leadtide.models.common import ChannelType, Role
from leadtide.models.errors import (
    ChannelConflictError,
    ChannelUnavailableError,
    ForbiddenError,
    InvalidSignatureError,
    MalformedPayloadError,
    NotFoundError,
    UnprocessableError,
)
from leadtide.models.messages import CLAIM_CHECK_BYTES, IngestEnvelope
from tests.fakes import FakeChannelRepository, FakeDeliveryStore, FakeQueue, FakeSecretStore

ADMIN = Principal("acme", "u1", Role.ADMIN)


@pytest.fixture
def stores():
    return FakeChannelRepository(), FakeSecretStore(), FakeQueue()


@pytest.fixture
def channels(stores):
    repo, secrets, _ = stores
    return ChannelService(repo, secrets, secrets_prefix="leadtide/test")


@pytest.fixture
def receiver(stores):
    repo, secrets, queue = stores
    return WebhookReceiver(repo, secrets, queue, default_region="US")


def _connect_pywa(channels, shared_data):
    vector = json.loads((shared_data / "webhooks" / "meta_signed_delivery_pywa.json").read_text())
    channels.connect(
        ADMIN,
        WhatsAppChannelCreate(
            type="whatsapp",
            phone_number_id="277321005464405",
            verify_token="meatyhamhock",
            app_secret=vector["app_secret"],
        ),
    )
    raw = (shared_data / "webhooks" / "meta_signed_delivery_pywa.body.json").read_bytes()
    return raw, vector["headers"]["X-Hub-Signature-256"]


def test_secrets_go_to_the_secret_store_never_into_the_channel(channels, stores):
    repo, secrets, _ = stores
    channel = channels.connect(
        ADMIN,
        WhatsAppChannelCreate(
            type="whatsapp",
            phone_number_id="1122334455667",
            verify_token="verify-me-please",
            app_secret="s" * 32,
        ),
    )
    dumped = channel.model_dump_json()
    assert "s" * 32 not in dumped and "verify-me-please" not in dumped
    (secret,) = secrets.secrets.values()
    assert secret == {"app_secret": "s" * 32, "verify_token": "verify-me-please"}
    stored = repr(repo.channels) + repr(repo.routes) + repr(repo.tokens)
    assert "s" * 32 not in stored and "verify-me-please" not in stored


def test_only_admins_manage_channels_and_a_tenant_connects_an_account_once(channels):
    req = InstagramChannelCreate(
        type="instagram", account_id="17841400000", verify_token="token-123", app_secret="x" * 32
    )
    with pytest.raises(ForbiddenError):
        channels.connect(Principal("acme", "u2", Role.MANAGER), req)
    first = channels.connect(ADMIN, req)
    assert first.status == ChannelStatus.PENDING and first.activated_at is None
    # The same tenant cannot connect the account twice (told which of its own channels has it) ...
    with pytest.raises(ChannelConflictError, match=first.channel_id):
        channels.connect(
            ADMIN,
            InstagramChannelCreate(
                type="instagram", account_id="17841400000", verify_token="token-456", app_secret="z" * 32
            ),
        )
    # ... but another tenant's connection of it is not a conflict (it waits for its own signed delivery).
    # Before claims, this was a 409 that told globex that some tenant had the account.
    other = channels.connect(
        Principal("globex", "u9", Role.ADMIN),
        InstagramChannelCreate(
            type="instagram", account_id="17841400000", verify_token="other-token", app_secret="y" * 32
        ),
    )
    assert other.status == ChannelStatus.PENDING


A_SECRET, B_SECRET = "a" * 32, "b" * 32
TENANT_A, TENANT_B = Principal("acme", "u-a", Role.ADMIN), Principal("globex", "u-b", Role.ADMIN)


def _whatsapp_text(phone_number_id: str, message_id: str = "wamid.1") -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550783881",
                                    "phone_number_id": phone_number_id,
                                },
                                "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "16505551234"}],
                                "messages": [
                                    {
                                        "from": "16505551234",
                                        "id": message_id,
                                        "timestamp": "1749416383",
                                        "type": "text",
                                        "text": {"body": "Do you have boards for rent?"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def _connect_whatsapp(channels, principal, secret, token):
    return channels.connect(
        principal,
        WhatsAppChannelCreate(
            type="whatsapp", phone_number_id="1122334455667", verify_token=token, app_secret=secret
        ),
    )


def test_squatting_blocks_nobody_and_receives_nothing(channels, receiver, stores):
    _, _, queue = stores
    # Given tenant B connects tenant A's phone_number_id first, then A connects it
    squat = _connect_whatsapp(channels, TENANT_B, B_SECRET, "b-verify-token")
    owned = _connect_whatsapp(channels, TENANT_A, A_SECRET, "a-verify-token")
    assert squat.status == owned.status == ChannelStatus.PENDING
    # When Meta delivers a message for the number, signed with A's app secret
    body = _whatsapp_text("1122334455667")
    assert receiver.receive_meta(ChannelType.WHATSAPP, body, meta_signature(body, A_SECRET)) == 1
    # Then it is captured for A (the proving delivery itself), and A's channel is active
    (queued,) = queue.json()
    assert (queued["command"]["tenant_id"], queued["command"]["channel_id"]) == ("acme", owned.channel_id)
    (a_channel,) = channels.list(TENANT_A)
    assert a_channel.status == ChannelStatus.ACTIVE and a_channel.activated_at is not None
    # and B's connection stays pending and receives nothing
    (b_channel,) = channels.list(TENANT_B)
    assert b_channel.status == ChannelStatus.PENDING
    second = _whatsapp_text("1122334455667", "wamid.2")
    receiver.receive_meta(ChannelType.WHATSAPP, second, meta_signature(second, A_SECRET))
    assert [m["command"]["tenant_id"] for m in queue.json()] == ["acme", "acme"]
    # Nothing B was answered names A: its channel documents hold only its own ids
    seen_by_b = json.dumps([c.model_dump(mode="json") for c in channels.list(TENANT_B)])
    assert "acme" not in seen_by_b and owned.channel_id not in seen_by_b


def test_a_squatter_signing_its_own_forgery_only_fills_its_own_tenant(channels, receiver, stores):
    _, _, queue = stores
    squat = _connect_whatsapp(channels, TENANT_B, B_SECRET, "b-verify-token")
    # B knows its own secret, so it can sign a delivery naming A's number: that activates only B's claim
    forged = _whatsapp_text("1122334455667", "wamid.forged")
    receiver.receive_meta(ChannelType.WHATSAPP, forged, meta_signature(forged, B_SECRET))
    assert channels.list(TENANT_B)[0].status == ChannelStatus.ACTIVE
    # A can still connect (no conflict, nothing said about B), and A's real deliveries go to A alone
    owned = _connect_whatsapp(channels, TENANT_A, A_SECRET, "a-verify-token")
    real = _whatsapp_text("1122334455667", "wamid.real")
    receiver.receive_meta(ChannelType.WHATSAPP, real, meta_signature(real, A_SECRET))
    assert [(m["command"]["tenant_id"], m["command"]["channel_id"]) for m in queue.json()] == [
        ("globex", squat.channel_id),
        ("acme", owned.channel_id),
    ]
    assert channels.list(TENANT_A)[0].status == ChannelStatus.ACTIVE
    # A signature no claim's secret verifies is still a 401; an unclaimed account still a 403
    with pytest.raises(InvalidSignatureError):
        receiver.receive_meta(ChannelType.WHATSAPP, real, meta_signature(real, "c" * 32))
    other = _whatsapp_text("99999999999")
    with pytest.raises(ForbiddenError):
        receiver.receive_meta(ChannelType.WHATSAPP, other, meta_signature(other, A_SECRET))
    assert len(queue.bodies) == 2


def test_the_verification_handshake_works_for_pending_channels_but_proves_nothing(channels, receiver):
    _connect_whatsapp(channels, TENANT_B, B_SECRET, "b-verify-token")
    query = {"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": "b-verify-token"}
    # Meta sends the handshake before any delivery, so a pending channel must answer it ...
    assert receiver.verify_subscription(ChannelType.WHATSAPP, query) == "42"
    # ... but the token is the connecting tenant's own and names no account: the channel stays pending
    assert channels.list(TENANT_B)[0].status == ChannelStatus.PENDING


def test_a_full_account_cannot_be_connected_and_the_answer_names_nobody(channels, monkeypatch):
    monkeypatch.setattr("leadtide.channels.service.MAX_CLAIMS_PER_ACCOUNT", 2)
    for n in range(2):
        _connect_whatsapp(channels, Principal(f"tenant{n}", "u", Role.ADMIN), f"{n}" * 32, f"token-{n}-xyz")
    with pytest.raises(ChannelUnavailableError) as caught:
        _connect_whatsapp(channels, TENANT_A, A_SECRET, "a-verify-token")
    err = caught.value
    assert (err.status_code, err.message) == (409, "this whatsapp account cannot be connected")
    assert "tenant" not in json.dumps(err.details) and "tenant" not in err.message


def test_real_signed_whatsapp_delivery_is_verified_and_queued(channels, receiver, stores, shared_data):
    raw, signature = _connect_pywa(channels, shared_data)
    assert receiver.receive_meta(ChannelType.WHATSAPP, raw, signature) == 1
    (body,) = stores[2].json()
    assert body["command"]["provider_message_id"].startswith("wamid.HBgMOTcy")
    assert body["command"]["tenant_id"] == "acme"


@pytest.mark.parametrize("tamper", ["body", "signature", "missing"])
def test_tampered_delivery_is_rejected_and_nothing_is_queued(channels, receiver, stores, shared_data, tamper):
    raw, signature = _connect_pywa(channels, shared_data)
    if tamper == "body":
        raw = raw.replace(b"Hey there", b"Hey thera")
    elif tamper == "signature":
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    else:
        signature = None
    with pytest.raises(InvalidSignatureError):
        receiver.receive_meta(ChannelType.WHATSAPP, raw, signature)
    assert stores[2].bodies == []


def test_unknown_account_is_forbidden_and_junk_is_a_400(receiver):
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {"metadata": {"phone_number_id": "999"}, "messages": []},
                        }
                    ],
                }
            ],
        }
    ).encode()
    with pytest.raises(ForbiddenError):
        receiver.receive_meta(ChannelType.WHATSAPP, body, meta_signature(body, "k" * 32))
    with pytest.raises(MalformedPayloadError, match="not valid JSON"):
        receiver.receive_meta(ChannelType.WHATSAPP, b"{nope", "sha256=" + "0" * 64)
    with pytest.raises(InvalidSignatureError, match="64 hex digits"):  # refused before the body is read
        receiver.receive_meta(ChannelType.WHATSAPP, b"{nope", "sha256=00")


def test_meta_handshake_echoes_challenge_only_for_the_right_token(channels, receiver, shared_data):
    _connect_pywa(channels, shared_data)
    case = json.loads((shared_data / "webhooks" / "meta_verification_handshake.json").read_text())
    assert receiver.verify_subscription(ChannelType.WHATSAPP, case["request"]["query"]) == "1158201444"
    wrong = {**case["request"]["query"], "hub.verify_token": "meatyhamhocks"}
    with pytest.raises(ForbiddenError):
        receiver.verify_subscription(ChannelType.WHATSAPP, wrong)
    with pytest.raises(ForbiddenError):  # a token of another channel type does not open this one
        receiver.verify_subscription(ChannelType.INSTAGRAM, case["request"]["query"])


def test_twilio_delivery_verifies_against_the_exact_url(channels, receiver, stores):
    channels.connect(
        ADMIN,
        TwilioChannelCreate(
            type="twilio",
            account_sid="AC" + "a" * 32,
            auth_token="t" * 32,
            phone_number="whatsapp:+14155238886",
        ),
    )
    url = "https://api.example.com/webhooks/twilio"
    params = [
        ("AccountSid", "AC" + "a" * 32),
        ("From", "whatsapp:+14158675309"),
        ("To", "whatsapp:+14155238886"),
        ("Body", "How much is a tour?"),
        ("MessageSid", "SM" + "1" * 32),
        ("ProfileName", "Sam"),
        ("NumMedia", "0"),
    ]
    assert receiver.receive_twilio(url, params, twilio_signature(url, params, "t" * 32)) == 1
    with pytest.raises(InvalidSignatureError):
        receiver.receive_twilio(url + "?x=1", params, twilio_signature(url, params, "t" * 32))
    assert len(stores[2].bodies) == 1


def test_form_submission_validates_and_honeypot_is_discarded(channels, receiver, stores):
    form = channels.connect(
        ADMIN,
        WebFormChannelCreate.model_validate(
            {
                "type": "web_form",
                "name": "Summer camp",
                "fields": [
                    {"name": "name", "required": True},
                    {"name": "email", "type": "email", "required": True},
                    {"name": "message", "type": "textarea"},
                ],
            }
        ),
    )
    _, accepted = receiver.submit_form(
        form.form_id, {"name": "Kim", "email": "kim@example.org", "message": "Is July available?"}
    )
    assert accepted and len(stores[2].bodies) == 1
    _, accepted = receiver.submit_form(
        form.form_id, {"name": "Bot", "email": "b@example.org", "website_url": "http://spam"}
    )
    assert not accepted and len(stores[2].bodies) == 1
    with pytest.raises(UnprocessableError) as err:
        receiver.submit_form(form.form_id, {"email": "not-an-email"})
    assert {d["field"] for d in err.value.details} == {"name", "email"}
    with pytest.raises(NotFoundError):
        receiver.submit_form("f" * 32, {})


def test_disconnect_removes_routes_and_secret(channels, receiver, stores, shared_data):
    raw, signature = _connect_pywa(channels, shared_data)
    (channel,) = channels.list(ADMIN)
    channels.disconnect(ADMIN, channel.channel_id)
    assert stores[1].secrets == {}
    with pytest.raises(ForbiddenError):
        receiver.receive_meta(ChannelType.WHATSAPP, raw, signature)


def _whatsapp_text_delivery(texts: list[tuple[str, str]]) -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "metadata": {"phone_number_id": "1122334455667"},
                                "contacts": [{"wa_id": "15550001111", "profile": {"name": "Ann"}}],
                                "messages": [
                                    {
                                        "from": "15550001111",
                                        "id": msg_id,
                                        "timestamp": "1697043223",
                                        "type": "text",
                                        "text": {"body": text},
                                    }
                                    for msg_id, text in texts
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


@pytest.mark.parametrize(
    "texts",
    [
        [("wamid.big", "x" * (CLAIM_CHECK_BYTES + 1))],  # the body is too large
        [(f"wamid.{i}", "y" * (CLAIM_CHECK_BYTES // 8)) for i in range(9)],  # the messages together are
    ],
)
def test_a_large_delivery_is_queued_as_a_claim_check_that_replays_the_same_commands(channels, stores, texts):
    # Given a receiver that can store deliveries, a connected number, and the same receiver without a store
    repo, secrets, queue = stores
    deliveries = FakeDeliveryStore()
    receiver = WebhookReceiver(repo, secrets, queue, deliveries=deliveries)
    channels.connect(
        ADMIN,
        WhatsAppChannelCreate(
            type="whatsapp", phone_number_id="1122334455667", verify_token="verify-me", app_secret="k" * 32
        ),
    )
    body = _whatsapp_text_delivery(texts)
    # When a delivery above the claim-check threshold is verified
    assert receiver.receive_meta(ChannelType.WHATSAPP, body, meta_signature(body, "k" * 32)) == len(texts)
    # Then one small queue message names the stored delivery, which holds the body byte for byte
    (message,) = queue.json()
    assert message["command"] is None and len(queue.bodies[0]) < 1_000
    stored = IngestEnvelope.model_validate(message).delivery
    assert (stored.size, stored.channel_type) == (len(body), ChannelType.WHATSAPP)
    assert deliveries.objects[stored.key].endswith(b"\n" + body)
    # And the worker's reader turns it into exactly the commands a small delivery would have queued
    commands = StoredDeliveryReader(deliveries).commands(stored)
    assert [(c.provider_message_id, c.text, c.tenant_id) for c in commands] == [
        (msg_id, text, "acme") for msg_id, text in texts
    ]
    # And a stored object that no longer matches its claim check is refused, not half-read
    deliveries.objects[stored.key] += b" "
    with pytest.raises(ValueError, match="does not match its claim check"):
        StoredDeliveryReader(deliveries).commands(stored)


def test_a_small_delivery_is_queued_command_by_command(channels, stores):
    repo, secrets, queue = stores
    deliveries = FakeDeliveryStore()
    receiver = WebhookReceiver(repo, secrets, queue, deliveries=deliveries)
    channels.connect(
        ADMIN,
        WhatsAppChannelCreate(
            type="whatsapp", phone_number_id="1122334455667", verify_token="verify-me", app_secret="k" * 32
        ),
    )
    body = _whatsapp_text_delivery([("wamid.1", "hi"), ("wamid.2", "there")])
    assert receiver.receive_meta(ChannelType.WHATSAPP, body, meta_signature(body, "k" * 32)) == 2
    assert [m["delivery"] for m in queue.json()] == [None, None] and deliveries.objects == {}
    assert [m["command"]["text"] for m in queue.json()] == ["hi", "there"]
