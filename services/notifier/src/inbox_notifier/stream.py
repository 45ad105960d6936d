"""GET /api/events: Server-Sent Events from stream EVENTS.

The SSE `id:` is the EVENTS stream sequence, so `Last-Event-ID` resumes exactly after the
last event the client saw: one ordered consumer replays from there and continues live, with
no gap and no duplicate at the switch-over. Each client has its own bounded buffer; a client
that falls too far behind is disconnected (it resumes by id), so it never slows the others
or the pipeline.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import nats.errors
import orjson
from aiohttp import web
from nats.js.api import ConsumerConfig, DeliverPolicy

from inbox_core import subjects
from inbox_core.runtime import RUNTIME
from inbox_notifier.models import EventsQuery
from inbox_notifier.routing import ApiError
from inbox_notifier.settings import NotifierSettings

SETTINGS = web.AppKey("settings", NotifierSettings)
SHUTDOWN = web.AppKey("shutdown", asyncio.Event)


def _start_sequence(request: web.Request, query: EventsQuery) -> int | None:
    raw = request.headers.get("Last-Event-ID") or query.last_event_id
    if raw is None or not raw.strip():
        return None
    if not raw.strip().isdigit():
        raise ApiError(400, "invalid_last_event_id", "Last-Event-ID must be an id from this stream")
    return int(raw) + 1


def _wanted(body: dict[str, object], types: set[str], teams: set[str]) -> bool:
    if types and body.get("type") not in types:
        return False
    if teams:
        conversation = body.get("conversation")
        team = conversation.get("team") if isinstance(conversation, dict) else None
        if team not in teams:
            return False
    return True


_KEEPALIVE: Final = object()


async def _next_or_stop(sub: Any, wait_s: float, stopping: asyncio.Future[Any]) -> Any:
    """The next event, `_KEEPALIVE` after `wait_s` without one, or None once stopping."""
    if stopping.done():
        return None
    receive = asyncio.ensure_future(sub.next_msg(timeout=wait_s))
    await asyncio.wait({receive, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not receive.done():
        receive.cancel()
        await asyncio.gather(receive, return_exceptions=True)
        return None
    try:
        return receive.result()
    except nats.errors.TimeoutError:
        return _KEEPALIVE


async def stream_events(request: web.Request, query: EventsQuery) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    settings = request.app[SETTINGS]
    shutdown = request.app[SHUTDOWN]
    types = {t.strip() for t in (query.types or "").split(",") if t.strip()}
    teams = {t.strip() for t in (query.team or "").split(",") if t.strip()}
    start = _start_sequence(request, query)
    if start is None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    else:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
    sub = await runtime.bus.js.subscribe(
        subjects.EVENTS_ALL,
        stream=subjects.STREAM_EVENTS,
        ordered_consumer=True,
        config=config,
        pending_msgs_limit=settings.sse_buffer * 2,
    )
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    # A stop ends every stream at once (the client resumes by Last-Event-ID from another
    # replica or after the restart), instead of holding the shutdown for a keep-alive period.
    stopping = asyncio.ensure_future(shutdown.wait())
    try:
        await resp.write(b"retry: 2000\n\n")
        while not shutdown.is_set():
            if sub.pending_msgs > settings.sse_buffer:
                # Too far behind: drop this client; it reconnects with its Last-Event-ID.
                await resp.write(b"event: overflow\ndata: {}\n\n")
                break
            msg = await _next_or_stop(sub, settings.sse_keepalive_s, stopping)
            if msg is None:
                break  # stopping
            if msg is _KEEPALIVE:
                await resp.write(b": keep-alive\n\n")
                continue
            try:
                body = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                continue
            if not _wanted(body, types, teams):
                continue
            frame = (
                f"id: {msg.metadata.sequence.stream}\nevent: {body.get('type', 'message')}\n"
                f"data: {msg.data.decode()}\n\n"
            )
            await asyncio.wait_for(resp.write(frame.encode()), timeout=settings.sse_write_timeout_s)
        if shutdown.is_set():
            await resp.write_eof()  # ended before anything else is cleaned up
    except (TimeoutError, ConnectionResetError, nats.errors.ConnectionClosedError):
        pass  # the client went away or is too slow; it resumes with Last-Event-ID
    finally:
        stopping.cancel()
        try:
            await asyncio.wait_for(sub.unsubscribe(), timeout=2)
        except (TimeoutError, nats.errors.Error):
            pass  # the ordered consumer is ephemeral: the server drops it by itself
    return resp
