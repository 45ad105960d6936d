"""The agent HTTP API (JSON): the queue, one conversation, and the SSE event stream."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import datetime
from typing import Any

import nats.errors
import orjson
from aiohttp import web
from nats.js.api import ConsumerConfig, DeliverPolicy

from inbox_core import subjects
from inbox_core.runtime import RUNTIME
from inbox_core.store import CONVERSATIONS, MESSAGES
from inbox_notifier.queue import conversation_view, message_view
from inbox_notifier.settings import NotifierSettings

SETTINGS = web.AppKey("settings", NotifierSettings)
SHUTDOWN = web.AppKey("shutdown", asyncio.Event)

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, default=str), status=status, content_type="application/json"
    )


def error(status: int, message: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 409: web.HTTPConflict}[status]
    return cls(text=orjson.dumps({"error": message}).decode(), content_type="application/json")


def _encode_cursor(due: datetime, conv_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([due.isoformat(), conv_id])).decode()


def _decode_cursor(raw: str) -> tuple[datetime, str]:
    try:
        due, conv_id = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
        return datetime.fromisoformat(due), str(conv_id)
    except (ValueError, TypeError) as err:
        raise error(400, "invalid cursor") from err


FILTERS = ("status", "team", "channel", "account", "assignee", "priority")


async def list_conversations(request: web.Request) -> web.Response:
    db = request.app[RUNTIME].store.db
    query: dict[str, Any] = {}
    for name in FILTERS:
        values = request.query.getall(name, [])
        values = [v for value in values for v in value.split(",") if v]
        if values:
            query[name] = values[0] if len(values) == 1 else {"$in": values}
    if tag := request.query.get("tag"):
        query["tags"] = tag
    if q := request.query.get("q", "").strip():
        query["search"] = {"$regex": re.escape(q), "$options": "i"}
    try:
        limit = min(MAX_LIMIT, max(1, int(request.query.get("limit", DEFAULT_LIMIT))))
    except ValueError as err:
        raise error(400, "limit must be an integer") from err
    if cursor := request.query.get("cursor"):
        due, conv_id = _decode_cursor(cursor)
        query = {
            "$and": [
                query,
                {
                    "$or": [
                        {"sort_due": {"$gt": due}},
                        {"sort_due": due, "_id": {"$gt": conv_id}},
                    ]
                },
            ]
        }
    docs = [
        d
        async for d in db[CONVERSATIONS].find(
            query, {"search": 0}, sort=[("sort_due", 1), ("_id", 1)], limit=limit + 1
        )
    ]
    next_cursor = None
    if len(docs) > limit:
        docs = docs[:limit]
        next_cursor = _encode_cursor(docs[-1]["sort_due"], docs[-1]["_id"])
    return json_response(
        {"items": [conversation_view(d) for d in docs], "next_cursor": next_cursor}
    )


async def get_conversation(request: web.Request) -> web.Response:
    db = request.app[RUNTIME].store.db
    conv_id = request.match_info["conversation_id"]
    doc = await db[CONVERSATIONS].find_one({"_id": conv_id}, {"search": 0})
    if doc is None:
        raise error(404, f"no conversation {conv_id}")
    messages = [
        message_view(m)
        async for m in db[MESSAGES].find(
            {"conversation_id": conv_id}, sort=[("created_at", 1), ("_id", 1)]
        )
    ]
    return json_response({**conversation_view(doc), "messages": messages})


def _start_sequence(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw is None or not raw.strip():
        return None
    try:
        seq = int(raw)
    except ValueError as err:
        raise error(400, "Last-Event-ID must be an event id from this stream") from err
    return max(seq, 0) + 1


async def stream_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events from stream EVENTS. The SSE id is the stream sequence, so
    `Last-Event-ID` resumes exactly after the last event the client saw."""
    runtime = request.app[RUNTIME]
    settings = request.app[SETTINGS]
    shutdown = request.app[SHUTDOWN]
    start = _start_sequence(request)
    if start is None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    else:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
    sub = await runtime.bus.js.subscribe(
        subjects.EVENTS_ALL,
        stream=subjects.STREAM_EVENTS,
        ordered_consumer=True,
        config=config,
        pending_msgs_limit=10_000,
    )
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    try:
        await resp.write(b"retry: 2000\n\n")
        while not shutdown.is_set():
            try:
                msg = await sub.next_msg(timeout=settings.sse_keepalive_s)
            except nats.errors.TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            try:
                body = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                continue
            frame = (
                f"id: {msg.metadata.sequence.stream}\nevent: {body.get('type', 'message')}\n"
                f"data: {msg.data.decode()}\n\n"
            )
            await resp.write(frame.encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        try:
            await sub.unsubscribe()
        except nats.errors.Error:
            pass
    return resp


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/conversations", list_conversations)
    app.router.add_get("/api/conversations/{conversation_id}", get_conversation)
    app.router.add_get("/api/events", stream_events)
