"""WebhookReceiver + ChannelService: connect channels, verify deliveries, queue commands, reject the rest."""

import json

import pytest

from leadtide.capture.receive import WebhookReceiver
from leadtide.capture.signatures import meta_signature, twilio_signature
from leadtide.channels.service import ChannelService
from leadtide.models.auth import Principal
from leadtide.models.channels import (
    InstagramChannelCreate,
    TwilioChannelCreate,
    WebFormChannelCreate,
    WhatsAppChannelCreate,
)
from leadtide.models.common import ChannelType, Role
from leadtide.models.errors import (
    ChannelConflictError,
    ForbiddenError,
    InvalidSignatureError,
    MalformedPayloadError,
    NotFoundError,
    UnprocessableError,
)
from tests.fakes import FakeChannelRepository, FakeQueue, FakeSecretStore

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


def test_only_admins_manage_channels_and_accounts_connect_once(channels):
    req = InstagramChannelCreate(
        type="instagram", account_id="17841400000", verify_token="token-123", app_secret="x" * 32
    )
    with pytest.raises(ForbiddenError):
        channels.connect(Principal("acme", "u2", Role.MANAGER), req)
    channels.connect(ADMIN, req)
    with pytest.raises(ChannelConflictError):
        channels.connect(
            Principal("globex", "u9", Role.ADMIN),
            InstagramChannelCreate(
                type="instagram", account_id="17841400000", verify_token="other-token", app_secret="y" * 32
            ),
        )


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
