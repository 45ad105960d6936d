"""The channels route of the agent API: every channel installed (entry points
`inbox.channels`, see inbox_core.channels) with the console's badge for it, so a new
channel package shows up in the console without an edit here."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from inbox_core.channels import registered
from inbox_notifier.routing import RouteTable

channels_api = RouteTable()


class ChannelOut(BaseModel):
    name: str = Field(description="channel id, as on the bus and in conversations")
    service: str = Field(description="the service that hosts it")
    labels: dict[str, str] = Field(description="language → badge text, e.g. ko, en")
    colour: str = Field(description="badge background, #rrggbb")
    text_colour: str = Field(description="badge text colour, #rrggbb")
    simulator: bool = Field(description="has a simulator for `make demo`")


class ChannelList(BaseModel):
    items: list[ChannelOut]


@channels_api.add(
    "GET",
    "/api/channels",
    response=ChannelList,
    tag="channels",
    summary="Installed channels with their console badges (from the channel registry)",
)
async def list_channels(request: web.Request) -> ChannelList:
    return ChannelList(items=[ChannelOut(**spec.public()) for spec in registered()])
