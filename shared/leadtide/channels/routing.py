"""Which channel a signed provider delivery belongs to: the claim on its account whose secret verifies it.

Anyone can type a WhatsApp phone_number_id, an Instagram account id or a Twilio AccountSid and number, so
connecting one proves nothing, and letting the first tenant to connect own the account let it block the
real owner (and a 409 told the real owner that someone else had it). Instead every tenant's connection is
a *claim* on the account, ``pending`` until a delivery signed with that claim's own secret arrives. For
each account a delivery names, the claims are tried in order - active ones first (the earliest activated
first), then pending ones (the earliest claimed first) - and the first whose secret verifies the signature
gets the delivery; if it was pending, that delivery (captured like any other: nothing verified is lost)
makes it ``active``. A claim therefore only ever receives deliveries signed with its own secret: a squatter's
claim on someone else's account receives nothing of theirs and blocks nobody, whoever connected first.

Answers keep the webhook rules: an account nobody claims is 403 (unverifiable), a signature no claim's
secret verifies is 401.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

from leadtide.channels.ports import ChannelRepository
from leadtide.models.channels import ChannelRoute, ChannelStatus
from leadtide.models.common import ChannelType, utc_now
from leadtide.models.errors import ForbiddenError, InvalidSignatureError, MalformedPayloadError
from leadtide.ports import SecretStore

log = logging.getLogger(__name__)

Verifier = Callable[[str], None]
"""Checks a delivery's signature with one candidate secret; raises InvalidSignatureError when it does not
match (``leadtide.capture.signatures.verify_meta_signature`` / ``verify_twilio_signature`` bound to the
delivery)."""


class ChannelRouter:
    """Routes verified deliveries to claims and activates the pending claims they prove."""

    def __init__(self, channels: ChannelRepository, secrets: SecretStore):
        self._channels = channels
        self._secrets = secrets

    def resolve(
        self, channel_type: ChannelType, keys: Iterable[str], secret_field: str, verify: Verifier
    ) -> dict[str, ChannelRoute]:
        """``{account key: the claim whose secret verifies the delivery}`` for every account it names.

        ``secret_field`` is the secret's JSON field holding the signing key (``app_secret`` for Meta,
        ``auth_token`` for Twilio).

        Raises:
            MalformedPayloadError (400): the delivery names no account.
            ForbiddenError (403, ``unknown_channel``): no channel claims an account it names, or no claim on
                it has usable credentials.
            InvalidSignatureError (401): the signature matches no claim's secret.
        """
        routes: dict[str, ChannelRoute] = {}
        for key in sorted(set(keys)):
            claims = self._channels.find_claims(channel_type, key)
            if not claims:
                raise ForbiddenError(
                    f"no {channel_type} channel is connected for account {key}", code="unknown_channel"
                )
            routes[key] = self._verified_claim(claims, secret_field, verify)
        if not routes:
            raise MalformedPayloadError(f"the {channel_type} delivery names no account to deliver to")
        return routes

    def _verified_claim(
        self, claims: Sequence[ChannelRoute], secret_field: str, verify: Verifier
    ) -> ChannelRoute:
        refused: InvalidSignatureError | None = None
        for claim in claims:
            secret = self._secret(claim, secret_field)
            if secret is None:
                continue
            try:
                verify(secret)
            except InvalidSignatureError as err:
                refused = err
                continue
            return claim
        if refused is None:
            raise ForbiddenError(
                "channel credentials are unavailable; reconnect the channel", code="unknown_channel"
            )
        raise refused

    def _secret(self, claim: ChannelRoute, field: str) -> str | None:
        if not claim.secret_name:
            return None
        try:
            value = self._secrets.get(claim.secret_name).get(field)
        except KeyError:
            value = None
        if not value:
            log.error("channel secret %s has no %s", claim.secret_name, field)
            return None
        return str(value)

    def activate(self, routes: Mapping[str, ChannelRoute]) -> list[ChannelRoute]:
        """Activate the pending claims among ``routes`` (call once their delivery is queued); return those
        activated. A failed activation is logged, never raised: the delivery is already captured, and the
        next one verified with the same secret activates the claim instead."""
        activated = []
        for claim in {r.channel_id: r for r in routes.values()}.values():
            if claim.status != ChannelStatus.PENDING:
                continue
            try:
                if self._channels.activate(claim, utc_now()):
                    activated.append(claim)
                    log.info(
                        "channel %s of tenant %s activated by a signed delivery",
                        claim.channel_id,
                        claim.tenant_id,
                    )
            except Exception:  # the delivery is queued; the next verified one activates the claim
                log.warning("channel %s could not be activated now", claim.channel_id, exc_info=True)
        return activated
