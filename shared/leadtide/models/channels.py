"""Channels: a tenant's connected WhatsApp, Instagram, Twilio and web-form sources."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from leadtide.models.common import ChannelType, Count, Flag

_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WhatsAppChannelCreate(_Strict):
    """Connect a WhatsApp Cloud API phone number. ``app_secret`` signs deliveries (X-Hub-Signature-256)."""

    type: Literal["whatsapp"]
    name: str | None = Field(default=None, max_length=120)
    phone_number_id: str = Field(pattern=r"^\d{5,30}$", description="Meta's phone number id (digits)")
    verify_token: SecretStr = Field(min_length=8, max_length=256)
    app_secret: SecretStr = Field(min_length=16, max_length=256)


class InstagramChannelCreate(_Strict):
    """Connect an Instagram professional account (Instagram Messaging API webhooks)."""

    type: Literal["instagram"]
    name: str | None = Field(default=None, max_length=120)
    account_id: str = Field(pattern=r"^[0-9A-Za-z_.-]{1,64}$", description="Instagram account id (entry.id)")
    verify_token: SecretStr = Field(min_length=8, max_length=256)
    app_secret: SecretStr = Field(min_length=16, max_length=256)


class TwilioChannelCreate(_Strict):
    """Connect a Twilio WhatsApp sender. ``auth_token`` signs deliveries (X-Twilio-Signature)."""

    type: Literal["twilio"]
    name: str | None = Field(default=None, max_length=120)
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr = Field(min_length=16, max_length=256)
    phone_number: str = Field(
        description="the WhatsApp sender, E.164, with or without the 'whatsapp:' prefix"
    )


class FormFieldType(StrEnum):
    """Input types a web form field may have."""

    TEXT = "text"
    TEXTAREA = "textarea"
    EMAIL = "email"
    PHONE = "phone"
    NUMBER = "number"
    URL = "url"
    SELECT = "select"
    CHECKBOX = "checkbox"


LEAD_FIELDS = ("first_name", "last_name", "name", "email", "phone", "company", "job_title", "message")
"""Lead attributes a form field may fill; anything else is kept as a custom field on the lead."""


class FormField(_Strict):
    """One field of a web form.

    ``maps_to`` names the lead attribute the value fills (one of LEAD_FIELDS); when omitted it is
    inferred: ``email``/``phone`` types fill email/phone, and a field named like a lead attribute fills it.
    """

    name: str = Field(description="snake_case key used in submissions")
    label: str | None = Field(default=None, max_length=200)
    type: FormFieldType = FormFieldType.TEXT
    required: Flag = False
    max_length: Count = Field(default=2000, ge=1, le=10000)
    options: list[str] | None = Field(default=None, max_length=200)
    maps_to: str | None = None

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, v: str) -> str:
        if not _FIELD_NAME.match(v):
            raise ValueError("must be snake_case: a lower-case letter, then letters, digits or _ (max 64)")
        return v

    @model_validator(mode="after")
    def _check(self) -> FormField:
        if self.type == FormFieldType.SELECT and not self.options:
            raise ValueError(f"field '{self.name}' of type select needs options")
        if self.maps_to is not None and self.maps_to not in LEAD_FIELDS:
            raise ValueError(f"maps_to must be one of {', '.join(LEAD_FIELDS)}")
        if self.maps_to is None:
            inferred = {FormFieldType.EMAIL: "email", FormFieldType.PHONE: "phone"}.get(self.type)
            if inferred is None and self.name in LEAD_FIELDS:
                inferred = self.name
            object.__setattr__(self, "maps_to", inferred)
        return self


class WebFormChannelCreate(_Strict):
    """Create a hosted web form; submissions go to ``POST /forms/{form_id}/submissions``.

    A submission that fills ``honeypot_field`` (hidden from people, filled by bots) is acknowledged
    with 201 and discarded.
    """

    type: Literal["web_form"]
    name: str = Field(min_length=1, max_length=120)
    fields: list[FormField] = Field(min_length=1, max_length=50)
    honeypot_field: str = Field(default="website_url", pattern=r"^[a-z][a-z0-9_]{0,63}$")

    @model_validator(mode="after")
    def _identity_and_unique(self) -> WebFormChannelCreate:
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate field names: {', '.join(dupes)}")
        if self.honeypot_field in names:
            raise ValueError("honeypot_field must not be one of the form's fields")
        if not any(f.maps_to in ("email", "phone") for f in self.fields):
            raise ValueError("a form needs an email or phone field to identify the lead")
        return self


ChannelCreate = Annotated[
    WhatsAppChannelCreate | InstagramChannelCreate | TwilioChannelCreate | WebFormChannelCreate,
    Field(discriminator="type"),
]
"""Body of ``POST /channels``: one of the four shapes, chosen by ``type``."""


class ChannelStatus(StrEnum):
    """Whether a channel has proved it owns its provider account.

    A WhatsApp, Instagram or Twilio channel is ``pending`` when connected: anyone can type an account id,
    so it receives only deliveries signed with its own secret, and the first such delivery (captured like
    any other) makes it ``active``. Web forms are ``active`` at once (their id is Leadtide's own).
    """

    PENDING = "pending"
    ACTIVE = "active"


class Channel(BaseModel):
    """A connected channel as the API returns it. Secrets are never included."""

    channel_id: str
    type: ChannelType
    name: str | None = None
    status: ChannelStatus = Field(
        default=ChannelStatus.ACTIVE,
        description=(
            "pending: connected, waiting for the first delivery signed with this channel's secret (which "
            "is captured and activates it); active: a signed delivery proved the account (web forms: at "
            "once)"
        ),
    )
    activated_at: datetime | None = Field(
        default=None, description="when the first verified delivery (or, for a form, the connect) arrived"
    )
    created_at: datetime
    created_by: str | None = None
    webhook_path: str = Field(description="path the provider must call (after the API's base URL)")
    phone_number_id: str | None = None
    account_id: str | None = None
    account_sid: str | None = None
    phone_number: str | None = None
    form_id: str | None = None
    fields: list[FormField] | None = None
    honeypot_field: str | None = None


class ChannelList(BaseModel):
    """``GET /channels`` response."""

    items: list[Channel]


class ChannelRoute(BaseModel):
    """How the Webhooks function finds the tenant and secret for a delivery (stored in the channels table).

    For a provider account (phone_number_id, Instagram account id, ``<AccountSid>:<E.164 number>``) it is
    one tenant's *claim* on the account: several tenants may claim one account id, and a delivery goes to
    the claim whose secret verifies its signature (``status`` says whether one already has).
    ``secret_name`` names a Secrets Manager secret holding JSON such as
    ``{"app_secret": ..., "verify_token": ...}`` or ``{"auth_token": ...}``.
    """

    tenant_id: str
    channel_id: str
    channel_type: ChannelType
    secret_name: str | None = None
    form_fields: list[FormField] | None = None
    honeypot_field: str | None = None
    route_key: str | None = Field(default=None, description="the provider account id the claim is on")
    status: ChannelStatus = ChannelStatus.ACTIVE
    claimed_at: datetime | None = None
    activated_at: datetime | None = None
