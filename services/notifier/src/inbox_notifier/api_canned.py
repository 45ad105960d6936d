"""Canned-response routes of the agent API: list and read for agents, writes for admins,
and a preview rendered for a conversation."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from inbox_core.placeholders import render_reply, values_for
from inbox_notifier.api_common import desk_of
from inbox_notifier.auth import AGENT, require_admin
from inbox_notifier.canned import CannedResponses
from inbox_notifier.models import CannedIn, CannedList, CannedOut, PreviewIn, PreviewOut
from inbox_notifier.routing import RouteTable

CANNED_RESPONSES = web.AppKey("canned_responses", CannedResponses)

canned_api = RouteTable()


def _canned_view(doc: dict[str, Any]) -> CannedOut:
    return CannedOut.model_validate({**doc, "id": doc["_id"]})


@canned_api.add(
    "GET",
    "/api/canned-responses",
    response=CannedList,
    tag="canned responses",
    summary="All canned responses",
)
async def list_canned(request: web.Request) -> CannedList:
    return CannedList(items=[_canned_view(d) for d in await request.app[CANNED_RESPONSES].all()])


@canned_api.add(
    "POST",
    "/api/canned-responses",
    body=CannedIn,
    response=CannedOut,
    status=201,
    errors=(403,),
    tag="canned responses",
    summary="Create a canned response (admin)",
)
async def create_canned(request: web.Request, body: CannedIn) -> CannedOut:
    require_admin(request)
    return _canned_view(await request.app[CANNED_RESPONSES].create(body))


@canned_api.add(
    "GET",
    "/api/canned-responses/{canned_id}",
    response=CannedOut,
    errors=(404,),
    tag="canned responses",
    summary="One canned response",
)
async def get_canned(request: web.Request) -> CannedOut:
    return _canned_view(await request.app[CANNED_RESPONSES].get(request.match_info["canned_id"]))


@canned_api.add(
    "PUT",
    "/api/canned-responses/{canned_id}",
    body=CannedIn,
    response=CannedOut,
    errors=(403, 404),
    tag="canned responses",
    summary="Replace a canned response (admin)",
)
async def update_canned(request: web.Request, body: CannedIn) -> CannedOut:
    require_admin(request)
    doc = await request.app[CANNED_RESPONSES].replace(request.match_info["canned_id"], body)
    return _canned_view(doc)


@canned_api.add(
    "DELETE",
    "/api/canned-responses/{canned_id}",
    status=204,
    errors=(403, 404),
    tag="canned responses",
    summary="Delete a canned response (admin)",
)
async def delete_canned(request: web.Request) -> web.Response:
    require_admin(request)
    await request.app[CANNED_RESPONSES].delete(request.match_info["canned_id"])
    return web.Response(status=204)


@canned_api.add(
    "POST",
    "/api/canned-responses/{canned_id}/preview",
    body=PreviewIn,
    response=PreviewOut,
    errors=(404,),
    tag="canned responses",
    summary="Render a canned response (or unsaved text) for a conversation",
)
async def preview_canned(request: web.Request, body: PreviewIn) -> PreviewOut:
    desk = desk_of(request)
    text = (
        body.text
        if body.text is not None
        else await desk.canned_text(request.match_info["canned_id"])
    )
    agent = request[AGENT]
    if body.conversation_id:
        conv = await desk.conversation(body.conversation_id)
        rendered, missing = await desk.render_text(conv, text, agent)
    else:
        rendered, missing = render_reply(text, values_for({}, {}, agent))
    return PreviewOut(text=rendered, missing=missing)
