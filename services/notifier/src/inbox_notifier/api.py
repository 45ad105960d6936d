"""The agent HTTP API (JSON): the queue, conversations, canned responses, customers and
dead letters. Routes are declared with their pydantic models (see routing.py)."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web
from nats.js.errors import BadRequestError, NotFoundError

from inbox_core import subjects
from inbox_core.blobs import BlobNotFoundError, get_blob
from inbox_core.errors import BusUnavailable
from inbox_core.runtime import RUNTIME
from inbox_core.schema import DeadLetter, new_id, utcnow
from inbox_core.store import CONVERSATIONS, CUSTOMER_KEYS, CUSTOMERS, MESSAGES
from inbox_notifier.api_faq import FAQ_CATALOG
from inbox_notifier.auth import AGENT, ROLE, is_admin, require_admin
from inbox_notifier.desk import Desk
from inbox_notifier.models import (
    ActionResult,
    AgentsOut,
    AssignIn,
    CannedIn,
    CannedList,
    CannedOut,
    ConversationDetail,
    ConversationPage,
    ConversationQuery,
    CustomerOut,
    DeadLetterList,
    DeadLetterOut,
    EventsQuery,
    MeOut,
    MergeIn,
    NoteIn,
    PreviewIn,
    PreviewOut,
    ReplayOut,
    ReplyIn,
    StatusIn,
    TagsIn,
)
from inbox_notifier.queue import CANNED, conversation_view, message_view
from inbox_notifier.queue_page import PageFilter, QueuePage, sort_key
from inbox_notifier.routing import ApiError, RouteTable, not_found
from inbox_notifier.stream import SETTINGS, stream_events
from inbox_notifier.suggestions import suggestions
from inbox_notifier.templates import render, unknown_placeholders, values_for

DESK = web.AppKey("desk", Desk)
MERGES = "customer_merges"
REPLAYS = "dead_letter_replays"

api = RouteTable()


def _desk(request: web.Request) -> Desk:
    return request.app[DESK]


def _action_result(conv: dict[str, Any], msg: dict[str, Any] | None = None) -> ActionResult:
    """What every agent action answers: the conversation after it, and the message it made."""
    return ActionResult.model_validate(
        {"conversation": conversation_view(conv), "message": message_view(msg) if msg else None}
    )


def _encode_cursor(due: datetime, conv_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([due.isoformat(), conv_id])).decode()


def _decode_cursor(raw: str) -> tuple[datetime, str]:
    try:
        due, conv_id = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
        at = datetime.fromisoformat(due)
        return (at if at.tzinfo else at.replace(tzinfo=UTC)), str(conv_id)
    except (ValueError, TypeError) as err:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API gave out") from err


def _values(raw: str | None) -> list[str]:
    return [v.strip() for v in (raw or "").split(",") if v.strip()]


# --- conversations -------------------------------------------------------------------------


@api.add(
    "GET",
    "/api/conversations",
    summary="The queue, sorted by SLA due",
    query=ConversationQuery,
    response=ConversationPage,
)
async def list_conversations(request: web.Request, query: ConversationQuery) -> ConversationPage:
    db = request.app[RUNTIME].store.db
    values: dict[str, list[str | None]] = {}
    for name in ("status", "team", "channel", "account", "assignee", "priority"):
        given: list[str | None] = list(_values(getattr(query, name)))
        if name == "assignee":  # ?assignee=none lists the unassigned
            given = [None if v == "none" else v for v in given]
        if given:
            values[name] = given
    page_filter = PageFilter(values, query.tag or None, (query.q or "").strip() or None)
    after = _decode_cursor(query.cursor) if query.cursor else None
    docs = await QueuePage(db[CONVERSATIONS], page_filter).read(after, query.limit + 1)
    next_cursor = None
    if len(docs) > query.limit:
        docs = docs[: query.limit]
        next_cursor = _encode_cursor(*sort_key(docs[-1]))
    return ConversationPage.model_validate(
        {"items": [conversation_view(d) for d in docs], "next_cursor": next_cursor}
    )


@api.add(
    "GET",
    "/api/conversations/{conversation_id}",
    response=ConversationDetail,
    summary="A conversation with its messages in order",
    errors=(404,),
)
async def get_conversation(request: web.Request) -> ConversationDetail:
    db = request.app[RUNTIME].store.db
    doc = await _desk(request).conversation(request.match_info["conversation_id"])
    messages = [
        message_view(m)
        async for m in db[MESSAGES].find(
            {"conversation_id": doc["_id"]}, sort=[("created_at", 1), ("_id", 1)]
        )
    ]
    # The predecessor and the successors, in two indexed queries: the embedded store would
    # answer one `$or` by reading every conversation.
    predecessor = doc.get("linked_conversation_id")
    queries = [{"linked_conversation_id": doc["_id"]}]
    if predecessor:
        queries.insert(0, {"_id": predecessor})
    linked = [
        conversation_view(c)
        for query in queries
        async for c in db[CONVERSATIONS].find(query, {"search": 0})
    ]
    faq = suggestions(request.app[FAQ_CATALOG].snapshot, doc, messages, request[AGENT])
    return ConversationDetail.model_validate(
        {
            **conversation_view(doc),
            "messages": messages,
            "linked_conversations": linked,
            "suggestions": faq,
        }
    )


@api.add(
    "POST",
    "/api/conversations/{conversation_id}/reply",
    body=ReplyIn,
    response=ActionResult,
    status=201,
    errors=(404, 503),
    summary="Reply to the customer on the conversation's channel",
)
async def reply(request: web.Request, body: ReplyIn) -> ActionResult:
    conv, msg = await _desk(request).reply(
        request.match_info["conversation_id"], body, request[AGENT]
    )
    return _action_result(conv, msg)


@api.add(
    "POST",
    "/api/conversations/{conversation_id}/notes",
    body=NoteIn,
    response=ActionResult,
    status=201,
    errors=(404,),
    summary="Add a private note",
)
async def add_note(request: web.Request, body: NoteIn) -> ActionResult:
    conv, msg = await _desk(request).note(
        request.match_info["conversation_id"], body.text, request[AGENT]
    )
    return _action_result(conv, msg)


@api.add(
    "POST",
    "/api/conversations/{conversation_id}/assign",
    body=AssignIn,
    response=ActionResult,
    errors=(403, 404, 409),
    summary="Claim, assign or unassign (409 when someone else holds it or it changed; "
    "`force` is admin only)",
)
async def assign(request: web.Request, body: AssignIn) -> ActionResult:
    conv = await _desk(request).assign(
        request.match_info["conversation_id"],
        body,
        request[AGENT],
        may_force=is_admin(request),
    )
    return _action_result(conv)


@api.add(
    "POST",
    "/api/conversations/{conversation_id}/status",
    body=StatusIn,
    response=ActionResult,
    errors=(404, 409),
    summary="open / pending (pauses the SLA) / resolved",
)
async def set_status(request: web.Request, body: StatusIn) -> ActionResult:
    conv = await _desk(request).set_status(
        request.match_info["conversation_id"], body, request[AGENT]
    )
    return _action_result(conv)


@api.add(
    "POST",
    "/api/conversations/{conversation_id}/tags",
    body=TagsIn,
    response=ActionResult,
    errors=(404, 409),
    summary="Add and remove tags",
)
async def tags(request: web.Request, body: TagsIn) -> ActionResult:
    conv = await _desk(request).tag(request.match_info["conversation_id"], body, request[AGENT])
    return _action_result(conv)


# --- attachments -------------------------------------------------------------------------


@api.add(
    "GET",
    "/api/attachments/{ref}",
    errors=(404,),
    tag="attachments",
    summary="Download a stored attachment or raw message",
)
async def download_attachment(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    try:
        data, filename, content_type = await get_blob(request.app[RUNTIME].store.db, ref)
    except (BlobNotFoundError, ValueError) as err:
        raise not_found(f"attachment {ref}") from err
    # A name from a platform is data, not a path or a header: no directories, no control
    # characters (header injection), nothing that leaves the quotes.
    filename = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", filename).strip(" .")[:200] or "attachment"
    # RFC 6266/5987: Korean file names survive; the plain name is an ASCII fallback.
    fallback = filename.encode("ascii", "replace").decode().replace('"', "_")
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    return web.Response(
        body=data,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


# --- agents ------------------------------------------------------------------------------

TOKENS = web.AppKey("tokens", dict)


@api.add("GET", "/api/me", response=MeOut, tag="agents", summary="The agent of this token")
async def me(request: web.Request) -> MeOut:
    return MeOut(
        agent=request[AGENT],
        role=request[ROLE],
        sla_warn_ratio=request.app[SETTINGS].sla_warn_ratio,
    )


@api.add(
    "GET",
    "/api/agents",
    response=AgentsOut,
    tag="agents",
    summary="Agents who can be assigned (one per token)",
)
async def agents(request: web.Request) -> AgentsOut:
    return AgentsOut(items=sorted(set(request.app[TOKENS].values())))


# --- canned responses ----------------------------------------------------------------------


def _canned_view(doc: dict[str, Any]) -> CannedOut:
    return CannedOut.model_validate({**doc, "id": doc["_id"]})


def _check_placeholders(text: str) -> None:
    unknown = unknown_placeholders(text)
    if unknown:
        raise ApiError(
            422,
            "validation_error",
            "unknown placeholders",
            [
                {"field": "text", "message": f"unknown placeholder {{{{{name}}}}}"}
                for name in unknown
            ],
        )


@api.add(
    "GET",
    "/api/canned-responses",
    response=CannedList,
    tag="canned responses",
    summary="All canned responses",
)
async def list_canned(request: web.Request) -> CannedList:
    db = request.app[RUNTIME].store.db
    return CannedList(items=[_canned_view(d) async for d in db[CANNED].find(sort=[("title", 1)])])


@api.add(
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
    _check_placeholders(body.text)
    now = utcnow()
    doc = {"_id": new_id(), **body.model_dump(), "created_at": now, "updated_at": now}
    await request.app[RUNTIME].store.db[CANNED].insert_one(doc)
    return _canned_view(doc)


@api.add(
    "GET",
    "/api/canned-responses/{canned_id}",
    response=CannedOut,
    errors=(404,),
    tag="canned responses",
    summary="One canned response",
)
async def get_canned(request: web.Request) -> CannedOut:
    doc = (
        await request.app[RUNTIME]
        .store.db[CANNED]
        .find_one({"_id": request.match_info["canned_id"]})
    )
    if doc is None:
        raise not_found("canned response")
    return _canned_view(doc)


@api.add(
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
    _check_placeholders(body.text)
    doc = (
        await request.app[RUNTIME]
        .store.db[CANNED]
        .find_one_and_update(
            {"_id": request.match_info["canned_id"]},
            {"$set": {**body.model_dump(), "updated_at": utcnow()}},
            return_document=True,
        )
    )
    if doc is None:
        raise not_found("canned response")
    return _canned_view(doc)


@api.add(
    "DELETE",
    "/api/canned-responses/{canned_id}",
    status=204,
    errors=(403, 404),
    tag="canned responses",
    summary="Delete a canned response (admin)",
)
async def delete_canned(request: web.Request) -> web.Response:
    require_admin(request)
    result = (
        await request.app[RUNTIME]
        .store.db[CANNED]
        .delete_one({"_id": request.match_info["canned_id"]})
    )
    if result.deleted_count == 0:
        raise not_found("canned response")
    return web.Response(status=204)


@api.add(
    "POST",
    "/api/canned-responses/{canned_id}/preview",
    body=PreviewIn,
    response=PreviewOut,
    errors=(404,),
    tag="canned responses",
    summary="Render a canned response (or unsaved text) for a conversation",
)
async def preview_canned(request: web.Request, body: PreviewIn) -> PreviewOut:
    desk = _desk(request)
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
        rendered, missing = render(text, values_for({}, {}, agent))
    return PreviewOut(text=rendered, missing=missing)


# --- customers -----------------------------------------------------------------------------


async def _resolve_customer(db: Any, customer_id: str) -> dict[str, Any]:
    seen = set()
    while customer_id not in seen:
        seen.add(customer_id)
        doc = await db[CUSTOMERS].find_one({"_id": customer_id})
        if doc is not None:
            return dict(doc)
        alias = await db[MERGES].find_one({"_id": customer_id})
        if alias is None:
            break
        customer_id = alias["into"]
    raise not_found(f"customer {customer_id}")


@api.add(
    "GET",
    "/api/customers/{customer_id}",
    response=CustomerOut,
    errors=(404,),
    tag="customers",
    summary="A customer with identities and history across channels",
)
async def get_customer(request: web.Request) -> CustomerOut:
    db = request.app[RUNTIME].store.db
    doc = await _resolve_customer(db, request.match_info["customer_id"])
    convs = [
        c
        async for c in db[CONVERSATIONS].find(
            {"customer_id": doc["_id"]}, {"search": 0}, sort=[("last_message_at", -1)], limit=200
        )
    ]
    history = [
        message_view(m)
        async for m in db[MESSAGES].find(
            {"conversation_id": {"$in": [c["_id"] for c in convs]}, "kind": "message"},
            sort=[("created_at", -1)],
            limit=100,
        )
    ]
    identities = []
    for identity in doc.get("identities", []):
        channel, _, rest = identity.partition(":")
        account, _, ident = rest.partition(":")
        identities.append({"channel": channel, "account": account, "id": ident})
    merged = [m["_id"] async for m in db[MERGES].find({"into": doc["_id"]})]
    return CustomerOut.model_validate(
        {
            "id": doc["_id"],
            "name": doc.get("name"),
            "emails": doc.get("emails", []),
            "phones": doc.get("phones", []),
            "identities": identities,
            "conversations": [conversation_view(c) for c in convs],
            "history": list(reversed(history)),
            "merged_from": merged,
        }
    )


@api.add(
    "POST",
    "/api/customers/{customer_id}/merge",
    body=MergeIn,
    response=CustomerOut,
    errors=(403, 404, 409),
    tag="customers",
    summary="Merge another customer into this one (one history across channels; admin)",
)
async def merge_customers(request: web.Request, body: MergeIn) -> CustomerOut:
    require_admin(request)
    db = request.app[RUNTIME].store.db
    target = await _resolve_customer(db, request.match_info["customer_id"])
    other = await _resolve_customer(db, body.other_id)
    if target["_id"] == other["_id"]:
        raise ApiError(409, "same_customer", "a customer cannot be merged into itself")
    # The router finds customers by their keys: point the other's keys here first, so its
    # next message joins this customer even if the merge stops half-way.
    await db[CUSTOMER_KEYS].update_many(
        {"customer_id": other["_id"]}, {"$set": {"customer_id": target["_id"]}}
    )
    # Delete first: identities are unique, so they can only move once the other is gone.
    await db[CUSTOMERS].delete_one({"_id": other["_id"]})
    await db[MERGES].update_one(
        {"_id": other["_id"]}, {"$set": {"into": target["_id"], "at": utcnow()}}, upsert=True
    )
    await db[CUSTOMERS].update_one(
        {"_id": target["_id"]},
        {
            "$addToSet": {
                "identities": {"$each": other.get("identities", [])},
                "emails": {"$each": other.get("emails", [])},
                "phones": {"$each": other.get("phones", [])},
            },
            "$set": {"updated_at": utcnow()},
        },
    )
    await db[CONVERSATIONS].update_many(
        {"customer_id": other["_id"]}, {"$set": {"customer_id": target["_id"]}}
    )
    request.match_info["customer_id"] = target["_id"]  # type: ignore[index]
    return await get_customer(request)


# --- dead letters --------------------------------------------------------------------------


def _letter_data(letter: DeadLetter) -> bytes:
    if letter.data_encoding == "base64":
        return base64.b64decode(letter.data)
    return letter.data.encode()


@api.add(
    "GET",
    "/api/dead-letters",
    response=DeadLetterList,
    tag="dead letters",
    summary="Messages that failed processing: what, why, how many tries",
)
async def list_dead_letters(request: web.Request) -> DeadLetterList:
    runtime = request.app[RUNTIME]
    js = runtime.bus.js
    info = await js.stream_info(subjects.STREAM_DLQ)
    replays = {d["_id"]: d async for d in runtime.store.db[REPLAYS].find()}
    items: list[DeadLetterOut] = []
    seq = info.state.last_seq
    while seq >= max(info.state.first_seq, 1) and len(items) < 200:
        try:
            raw = await js.get_msg(subjects.STREAM_DLQ, seq)
        except NotFoundError:
            seq -= 1
            continue
        letter = DeadLetter.from_json(raw.data or b"{}")
        replay = replays.get(str(seq))
        items.append(
            DeadLetterOut(
                id=str(seq),
                stream=letter.stream,
                consumer=letter.consumer,
                subject=letter.subject,
                error=letter.error,
                deliveries=letter.deliveries,
                failed_at=letter.failed_at,
                data_preview=letter.data[:500],
                replayed_at=replay["at"] if replay else None,
            )
        )
        seq -= 1
    return DeadLetterList(items=items)


@api.add(
    "POST",
    "/api/dead-letters/{letter_id}/replay",
    response=ReplayOut,
    errors=(403, 404, 503),
    tag="dead letters",
    summary="Publish a dead letter again to its original subject (admin)",
)
async def replay_dead_letter(request: web.Request) -> ReplayOut:
    require_admin(request)
    runtime = request.app[RUNTIME]
    letter_id = request.match_info["letter_id"]
    if not letter_id.isdigit() or int(letter_id) < 1:
        raise not_found(f"dead letter {letter_id}")
    try:
        raw = await runtime.bus.js.get_msg(subjects.STREAM_DLQ, int(letter_id))
    except (NotFoundError, BadRequestError) as err:
        raise not_found(f"dead letter {letter_id}") from err
    letter = DeadLetter.from_json(raw.data or b"{}")
    record = await runtime.store.db[REPLAYS].find_one_and_update(
        {"_id": letter_id},
        {"$inc": {"count": 1}, "$set": {"at": utcnow()}},
        upsert=True,
        return_document=True,
    )
    headers = {k: v for k, v in letter.headers.items() if not k.startswith("Nats-")}
    try:
        await runtime.bus.publish(
            letter.subject,
            _letter_data(letter),
            headers=headers,
            msg_id=f"replay:{letter_id}:{record['count'] if record else 1}",
        )
    except BusUnavailable as err:
        raise ApiError(503, "bus_unavailable", "replay could not be published") from err
    assert record is not None  # upserted above
    return ReplayOut(id=letter_id, subject=letter.subject, replayed_at=record["at"])


# --- events --------------------------------------------------------------------------------

api.add(
    "GET",
    "/api/events",
    query=EventsQuery,
    tag="events",
    summary="Server-Sent Events; resume with Last-Event-ID; filters ?types= and ?team=",
)(stream_events)
