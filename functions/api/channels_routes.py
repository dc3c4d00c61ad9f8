"""Channel routes: connect (secrets to Secrets Manager, never returned), list and disconnect the tenant's
WhatsApp, Instagram, Twilio and web-form channels. Logic: ``leadtide.channels.service``."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.app import created
from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.models.channels import Channel, ChannelCreate, ChannelList
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

ChannelId = Annotated[str, Path(description="channel id", max_length=64)]


@router.post(
    "/channels",
    summary="Connect a channel (admin). Secrets go to Secrets Manager and are never returned",
    responses={
        201: {"description": "Connected", "content": {JSON: {"model": Channel}}},
        **documented_errors(400, 401, 403, 409, 422),
    },
)
def create_channel(channel: Annotated[ChannelCreate, Body()]) -> Response[Channel]:
    """WhatsApp Cloud API, Instagram, Twilio WhatsApp or a web form. Secrets are stored in AWS Secrets
    Manager and never returned."""

    result = get_wiring().channel_service.connect(current_principal(router), channel)
    return created(result)


@router.get(
    "/channels",
    summary="List the tenant's channels (admin)",
    responses={
        200: {"description": "Channels", "content": {JSON: {"model": ChannelList}}},
        **documented_errors(401, 403),
    },
)
def list_channels() -> ChannelList:
    """Every channel of the caller's tenant, without secrets."""

    return ChannelList(items=get_wiring().channel_service.list(current_principal(router)))


@router.delete(
    "/channels/<channel_id>",
    summary="Disconnect a channel (admin)",
    responses={204: {"description": "Disconnected"}, **documented_errors(401, 403, 404, 422)},
)
def delete_channel(channel_id: ChannelId) -> Response[None]:
    """Removes the channel and its routing; its secret is scheduled for deletion."""

    get_wiring().channel_service.disconnect(current_principal(router), channel_id)
    return Response(status_code=204, body="")
