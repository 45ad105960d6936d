"""Conversation routes of the agent API: the queue, one conversation with its messages, and
the agent actions on it (reply, note, assign, status, tags). Writes go through the desk
(desk.py), reads through `ConversationReads`."""

from __future__ import annotations

from aiohttp import web

from inbox_notifier.api_common import action_result, desk_of
from inbox_notifier.api_faq import FAQ_CATALOG
from inbox_notifier.auth import AGENT, is_admin
from inbox_notifier.conversation_reads import ConversationReads
from inbox_notifier.models import (
    ActionResult,
    AssignIn,
    ConversationDetail,
    ConversationPage,
    ConversationQuery,
    NoteIn,
    ReplyIn,
    StatusIn,
    TagsIn,
)
from inbox_notifier.queue import conversation_view, message_view
from inbox_notifier.routing import RouteTable
from inbox_notifier.suggestions import suggestions

CONVERSATION_READS = web.AppKey("conversation_reads", ConversationReads)

conversations_api = RouteTable()


@conversations_api.add(
    "GET",
    "/api/conversations",
    summary="The queue, sorted by SLA due",
    query=ConversationQuery,
    response=ConversationPage,
)
async def list_conversations(request: web.Request, query: ConversationQuery) -> ConversationPage:
    docs, next_cursor = await request.app[CONVERSATION_READS].page(query)
    return ConversationPage.model_validate(
        {"items": [conversation_view(d) for d in docs], "next_cursor": next_cursor}
    )


@conversations_api.add(
    "GET",
    "/api/conversations/{conversation_id}",
    response=ConversationDetail,
    summary="A conversation with its messages in order",
    errors=(404,),
)
async def get_conversation(request: web.Request) -> ConversationDetail:
    reads = request.app[CONVERSATION_READS]
    doc = await desk_of(request).conversation(request.match_info["conversation_id"])
    messages = [message_view(m) for m in await reads.messages(doc["_id"])]
    linked = [conversation_view(c) for c in await reads.linked(doc)]
    faq = suggestions(request.app[FAQ_CATALOG].snapshot, doc, messages, request[AGENT])
    return ConversationDetail.model_validate(
        {
            **conversation_view(doc),
            "messages": messages,
            "linked_conversations": linked,
            "suggestions": faq,
        }
    )


@conversations_api.add(
    "POST",
    "/api/conversations/{conversation_id}/reply",
    body=ReplyIn,
    response=ActionResult,
    status=201,
    errors=(404, 503),
    summary="Reply to the customer on the conversation's channel",
)
async def reply(request: web.Request, body: ReplyIn) -> ActionResult:
    conv, msg = await desk_of(request).reply(
        request.match_info["conversation_id"], body, request[AGENT]
    )
    return action_result(conv, msg)


@conversations_api.add(
    "POST",
    "/api/conversations/{conversation_id}/notes",
    body=NoteIn,
    response=ActionResult,
    status=201,
    errors=(404,),
    summary="Add a private note",
)
async def add_note(request: web.Request, body: NoteIn) -> ActionResult:
    conv, msg = await desk_of(request).note(
        request.match_info["conversation_id"], body.text, request[AGENT]
    )
    return action_result(conv, msg)


@conversations_api.add(
    "POST",
    "/api/conversations/{conversation_id}/assign",
    body=AssignIn,
    response=ActionResult,
    errors=(403, 404, 409),
    summary="Claim, assign or unassign (409 when someone else holds it or it changed; "
    "`force` is admin only)",
)
async def assign(request: web.Request, body: AssignIn) -> ActionResult:
    conv = await desk_of(request).assign(
        request.match_info["conversation_id"],
        body,
        request[AGENT],
        may_force=is_admin(request),
    )
    return action_result(conv)


@conversations_api.add(
    "POST",
    "/api/conversations/{conversation_id}/status",
    body=StatusIn,
    response=ActionResult,
    errors=(404, 409),
    summary="open / pending (pauses the SLA) / resolved",
)
async def set_status(request: web.Request, body: StatusIn) -> ActionResult:
    conv = await desk_of(request).set_status(
        request.match_info["conversation_id"], body, request[AGENT]
    )
    return action_result(conv)


@conversations_api.add(
    "POST",
    "/api/conversations/{conversation_id}/tags",
    body=TagsIn,
    response=ActionResult,
    errors=(404, 409),
    summary="Add and remove tags",
)
async def tags(request: web.Request, body: TagsIn) -> ActionResult:
    conv = await desk_of(request).tag(request.match_info["conversation_id"], body, request[AGENT])
    return action_result(conv)
