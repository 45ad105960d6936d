"""GET /api/events: Server-Sent Events from stream EVENTS.

The SSE `id:` is the EVENTS stream sequence, so `Last-Event-ID` resumes exactly after the
last event the client saw: one ordered consumer replays from there and continues live, with
no gap and no duplicate at the switch-over. Each client has its own bounded buffer; a client
that falls too far behind is disconnected (it resumes by id), so it never slows the others
or the pipeline.
"""

from __future__ import annotations

import asyncio
from typing import Final, cast

import nats.errors
import orjson
from aiohttp import web
from nats.aio.msg import Msg
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


_SUBJECT_PREFIX: Final = subjects.EVENTS_ALL.removesuffix(">")


def _event_type(msg: Msg) -> str:
    """The type from the subject (`inbox.events.<type>`): no need to parse the body."""
    return msg.subject.removeprefix(_SUBJECT_PREFIX) or "message"


def _wanted(msg: Msg, etype: str, types: set[str], teams: set[str]) -> bool:
    if types and etype not in types:
        return False
    if teams:
        try:
            body = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return False
        conversation = body.get("conversation") if isinstance(body, dict) else None
        team = conversation.get("team") if isinstance(conversation, dict) else None
        if team not in teams:
            return False
    return True


def _frame(msg: Msg, etype: str) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        msg.metadata.sequence.stream,
        etype.encode(),
        msg.data,
    )


class _Pending:
    """Events the subscription delivered that are not yet written to this client. The
    subscription's callback only appends; the writer takes everything there is at once, so
    a burst of events costs one wake-up and one socket write, not one each. Past `limit`
    the client is too far behind: nothing more is kept, and it is told to resume by id."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.msgs: list[Msg] = []
        self.ready = asyncio.Event()
        self.overflow = False

    async def put(self, msg: Msg) -> None:
        if len(self.msgs) >= self.limit:
            self.overflow = True
        else:
            self.msgs.append(msg)
        self.ready.set()

    def wake(self, *_: object) -> None:
        self.ready.set()

    def take(self) -> list[Msg]:
        msgs, self.msgs = self.msgs, []
        self.ready.clear()
        return msgs


_KEEPALIVE: Final = object()


async def _wait(pending: _Pending, wait_s: float, shutdown: asyncio.Event) -> object:
    """`None` once shutting down, `_KEEPALIVE` after `wait_s` without an event, else the
    events."""
    try:
        await asyncio.wait_for(pending.ready.wait(), timeout=wait_s)
    except TimeoutError:
        return None if shutdown.is_set() else _KEEPALIVE
    return None if shutdown.is_set() else pending.take()


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
    pending = _Pending(settings.sse_buffer)
    sub = await runtime.bus.js.subscribe(
        subjects.EVENTS_ALL,
        stream=subjects.STREAM_EVENTS,
        ordered_consumer=True,
        config=config,
        cb=pending.put,
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
    watch = asyncio.ensure_future(shutdown.wait())
    watch.add_done_callback(pending.wake)
    try:
        await resp.write(b"retry: 2000\n\n")
        while not shutdown.is_set():
            if pending.overflow:
                # Too far behind: drop this client; it reconnects with its Last-Event-ID.
                await resp.write(b"event: overflow\ndata: {}\n\n")
                break
            got = await _wait(pending, settings.sse_keepalive_s, shutdown)
            if got is None:
                break  # stopping
            if got is _KEEPALIVE:
                await resp.write(b": keep-alive\n\n")
                continue
            frames = []
            for msg in cast(list[Msg], got):
                etype = _event_type(msg)
                if _wanted(msg, etype, types, teams):
                    frames.append(_frame(msg, etype))
            if frames:
                await asyncio.wait_for(
                    resp.write(b"".join(frames)), timeout=settings.sse_write_timeout_s
                )
        if shutdown.is_set():
            await resp.write_eof()  # ended before anything else is cleaned up
    except (TimeoutError, ConnectionResetError, nats.errors.ConnectionClosedError):
        pass  # the client went away or is too slow; it resumes with Last-Event-ID
    finally:
        watch.cancel()
        try:
            await asyncio.wait_for(sub.unsubscribe(), timeout=2)
        except (TimeoutError, nats.errors.Error):
            pass  # the ordered consumer is ephemeral: the server drops it by itself
    return resp
