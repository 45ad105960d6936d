"""Desk routes of the agent API: bulk actions, merge and split."""

from __future__ import annotations

from aiohttp import web

from inbox_notifier.api_common import DESK, action_result
from inbox_notifier.auth import AGENT, is_admin
from inbox_notifier.bulk import run_bulk
from inbox_notifier.desk_models import (
    BulkIn,
    BulkOut,
    MergeConversationIn,
    SplitIn,
    SplitOut,
)
from inbox_notifier.merge import merge_conversations
from inbox_notifier.models import ActionResult
from inbox_notifier.queue import conversation_view
from inbox_notifier.routing import RouteTable
from inbox_notifier.split import split_conversation

desk_api = RouteTable()


@desk_api.add(
    "POST",
    "/api/conversations/bulk",
    body=BulkIn,
    response=BulkOut,
    errors=(404,),
    summary="One action on up to 500 conversations; a result per conversation",
)
async def bulk(request: web.Request, body: BulkIn) -> BulkOut:
    results = await run_bulk(request.app[DESK], body, request[AGENT], admin=is_admin(request))
    return BulkOut(results=results)


@desk_api.add(
    "POST",
    "/api/conversations/{conversation_id}/merge",
    body=MergeConversationIn,
    response=ActionResult,
    errors=(404, 409, 503),
    summary="Merge another conversation into this one (its messages, notes and thread keys)",
)
async def merge(request: web.Request, body: MergeConversationIn) -> ActionResult:
    conv = await merge_conversations(
        request.app[DESK], request.match_info["conversation_id"], body.other_id, request[AGENT]
    )
    return action_result(conv)


@desk_api.add(
    "POST",
    "/api/conversations/{conversation_id}/split",
    body=SplitIn,
    response=SplitOut,
    status=201,
    errors=(404, 409, 503),
    summary="Move messages to a new conversation, linked both ways; replies follow them",
)
async def split(request: web.Request, body: SplitIn) -> SplitOut:
    new, original = await split_conversation(
        request.app[DESK], request.match_info["conversation_id"], body.message_ids, request[AGENT]
    )
    return SplitOut.model_validate(
        {"conversation": conversation_view(new), "original": conversation_view(original)}
    )
