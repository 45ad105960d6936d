"""Connector SDK: a channel is one module; the SDK owns everything else.

A channel author writes a subclass of `WebhookChannel` (platform pushes to us) or
`PollingChannel` (we pull). Every hook but `normalise` / `poll` has a default:

    class Kakao(WebhookChannel):
        name = "kakao"
        path = "/webhooks/kakao"
        publish_budget_s = 4.5                                        # prepare + publish
        def verify(self, request: RawRequest) -> None: ...            # raise AuthError → 401
        def normalise(self, request: RawRequest) -> list[InboundMessage]: ...   # no I/O, no clock
        async def prepare(self, messages, http) -> list[InboundMessage]: ...    # I/O, never raises
        def acknowledge(self, request, messages) -> web.Response: ... # after every PubAck
        async def send(self, reply: OutboundReply, http: ClientSession) -> SendResult: ...

    class Shop(PollingChannel):
        name = "shop"
        boards = ("qna",)
        cursor_type = ShopCursor                                      # dump() / load()
        async def poll(self, board, cursor: ShopCursor | None, http, now) -> Page: ...

The SDK (`Connector`) mounts the route, publishes every message with
`Nats-Msg-Id = channel:account:external_id` and answers the platform only after the PubAck
(503 when the bus is down or the publish budget is spent, so the platform retries), keeps
undecodable payloads, consumes `inbox.out.<channel>.>` for replies and reports delivery.
For pollers, `PollerRunner` keeps the cursor in the store and advances it only after every
message of a page got its PubAck. Platform HTTP errors map to `TransientError`,
`PermanentError` or `AuthError` through the one table in `inbox_core.http`.
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy
from nats.aio.msg import Msg
from opentelemetry import trace
from pymongo.errors import PyMongoError

from inbox_core import metrics, subjects
from inbox_core.attachments import reply_file_problem
from inbox_core.blobs import BlobNotFoundError, get_blob
from inbox_core.bus import ORDER_KEY_HEADER, Consumer
from inbox_core.errors import (
    AuthError,
    BusUnavailable,
    InvalidPayload,
    PermanentError,
    TransientError,
)
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime
from inbox_core.schema import (
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    OutboundReply,
    utcnow,
)
from inbox_core.store import CURSORS, RAW
from inbox_core.telemetry import tracer

log = get_logger(__name__)

# A message's context may name the thread it continues (a mail reply: the thread's first
# Message-ID), which its own thread keys cannot know before the router has seen both.
THREAD_ROOT = "thread_root"


def order_key_of(message: InboundMessage) -> str:
    """The `Inbox-Order-Key` a message is published with, which orders the router's batches
    and partitions its work between replicas: the thread it continues when its connector
    names one (`THREAD_ROOT`), so a reply goes with the message it answers; else its own
    first thread key."""
    root = message.context.get(THREAD_ROOT)
    return root if isinstance(root, str) and root else message.thread_keys[0]


@dataclass(frozen=True)
class RawRequest:
    """A platform's HTTP request as received: what `verify` and `normalise` see."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    received_at: datetime

    @classmethod
    async def from_request(cls, request: web.Request) -> RawRequest:
        return cls(
            method=request.method,
            path=request.path,
            headers=CIMultiDictProxy(request.headers.copy()),
            query=MultiDictProxy(MultiDict(request.query)),
            body=await request.read(),
            received_at=utcnow(),
        )


@dataclass(frozen=True)
class SendResult:
    external_id: str | None = None


@dataclass(frozen=True)
class ReplyFile:
    """A file of an agent reply, read from the store for the channel to send."""

    name: str
    content_type: str
    data: bytes


BlobReader = Callable[[str], Awaitable[tuple[bytes, str, str]]]


class Channel(ABC):
    """One platform account. `name` is the channel id of DESIGN.md (lower snake case)."""

    name: ClassVar[str]
    # Set by the Connector before each send: reads a stored blob (bytes, name, type).
    blob_reader: BlobReader | None = None

    def __init__(self, account: str) -> None:
        self.account = account

    async def reply_files(self, reply: OutboundReply) -> list[ReplyFile]:
        """The reply's attachments with their bytes; PermanentError when one is gone."""
        files = []
        for attachment in reply.attachments:
            if self.blob_reader is None or not attachment.ref:
                raise PermanentError(f"{attachment.name}: the file cannot be read here")
            try:
                data, name, content_type = await self.blob_reader(attachment.ref)
            except BlobNotFoundError as err:
                raise PermanentError(f"{attachment.name}: the stored file is gone") from err
            files.append(
                ReplyFile(attachment.name or name, attachment.content_type or content_type, data)
            )
        return files

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        """Deliver an agent reply. Raise TransientError to retry, PermanentError to give up."""
        raise PermanentError(f"{self.name} cannot send replies yet")


class WebhookChannel(Channel):
    path: ClassVar[str]
    # prepare + publish must end within this many seconds, else the webhook answers 503 as
    # for a bus outage (Kakao and TalkTalk wait 5 s for us: give up before they do).
    # None: no budget of our own.
    publish_budget_s: ClassVar[float | None] = None

    def verify(self, request: RawRequest) -> None:
        """Raise AuthError when the request is not from the platform."""

    def handshake(self, request: RawRequest) -> web.Response:
        """Answer a GET on the webhook path (e.g. Meta's verify challenge)."""
        return web.json_response({"error": "method not allowed"}, status=405)

    @abstractmethod
    def normalise(self, request: RawRequest) -> list[InboundMessage]:
        """Pure: the request in, messages out. Raise InvalidPayload for what can't be read."""

    async def prepare(
        self, messages: list[InboundMessage], http: aiohttp.ClientSession
    ) -> list[InboundMessage]:
        """I/O between the pure `normalise` and the publish (fill customer names, drop
        echoes of our own replies). Must bound its own time and never raise: a failed
        lookup leaves the message as it was."""
        return messages

    def acknowledge(self, request: RawRequest, messages: list[InboundMessage]) -> web.Response:
        """The answer the platform expects once the messages are safely on the bus."""
        return web.json_response({"status": "ok", "accepted": len(messages)})


@runtime_checkable
class Cursor(Protocol):
    """Where a poller is on one board, as an object. Stored as JSON (`dump`), read back with
    `load`; saved only after every message of the page got its PubAck, and it only moves
    forward (a replayed page must not move it back)."""

    def dump(self) -> dict[str, Any]: ...

    @classmethod
    def load(cls, state: Mapping[str, Any]) -> Self: ...


@dataclass
class Page:
    messages: list[InboundMessage]
    # Saved only after every message got its PubAck: the channel's `cursor_type`, or a
    # plain dict for a channel without one.
    cursor: Cursor | dict[str, Any]
    more: bool = False  # poll again at once (next page)
    # Items that could not be normalised: (raw bytes, error). Kept in the store, never lost.
    rejected: list[tuple[bytes, str]] = field(default_factory=list)


class PollingChannel(Channel):
    boards: ClassVar[tuple[str, ...]] = ("default",)
    # The cursor object `poll` gets (None on the first poll of a board); None here: the
    # stored dict as it is.
    cursor_type: ClassVar[type[Cursor] | None] = None

    def load_cursor(self, state: Mapping[str, Any] | None) -> Cursor | dict[str, Any] | None:
        """The stored state as the object `poll` expects."""
        if state is None:
            return None
        if self.cursor_type is None:
            return dict(state)
        try:
            return self.cursor_type.load(state)
        except ValueError as err:  # a bad cursor must not stop the board: start it over
            log.error("unreadable cursor, starting over", channel=self.name, error=str(err))
            return None

    @abstractmethod
    async def poll(
        self, board: str, cursor: Any, http: aiohttp.ClientSession, now: datetime
    ) -> Page:
        """Read one page after `cursor` (see `cursor_type`; None on the first poll).
        Raise AuthError, TransientError or PermanentError (`inbox_core.http` maps
        statuses to them)."""

    async def acknowledge(self, board: str, page: Page) -> None:
        """After every message of `page` got its PubAck, before the cursor is saved: tell
        the platform (mark a mail seen). An error here leaves the cursor where it was."""

    async def wait(self, seconds: float) -> None:
        """The pause between two rounds of polls; a channel that can be told about news
        (IMAP IDLE) returns as soon as there is some."""
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        """The runner stops: release connections the channel keeps between polls."""


class Connector:
    """The SDK side shared by every connector service."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.http: aiohttp.ClientSession | None = None
        self._outbound: list[Consumer] = []

    async def context(self, app: web.Application) -> Any:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            yield
        finally:
            # Replies in flight finish before the HTTP session they use goes away; otherwise
            # a reply sent at shutdown would fail, be retried, and reach the customer twice.
            grace = self.runtime.settings.shutdown_grace_s
            await asyncio.gather(*(c.stop(grace) for c in self._outbound), return_exceptions=True)
            await self.http.close()

    async def publish_webhook(
        self, channel: WebhookChannel, messages: list[InboundMessage]
    ) -> None:
        """`prepare`, then publish, within the channel's `publish_budget_s` (raises
        BusUnavailable when the budget is spent: the platform is asked to retry)."""
        budget = channel.publish_budget_s
        if budget is None:
            await self.publish(await self._prepare(channel, messages))
            return
        try:
            async with asyncio.timeout(budget):
                await self.publish(await self._prepare(channel, messages))
        except TimeoutError as err:
            raise BusUnavailable(f"no PubAck within the {budget:g}s webhook budget") from err

    async def _prepare(
        self, channel: WebhookChannel, messages: list[InboundMessage]
    ) -> list[InboundMessage]:
        if not messages or self.http is None:
            return messages
        return await channel.prepare(messages, self.http)

    async def publish(self, messages: list[InboundMessage]) -> None:
        """Publish each message and wait for every PubAck (raises BusUnavailable)."""
        for message in messages:
            await self.runtime.bus.publish_model(
                subjects.inbound(message.channel, message.account),
                message,
                msg_id=message.dedup_id,
                headers={ORDER_KEY_HEADER: order_key_of(message)},
            )
            metrics.CONNECTOR_RECEIVED.labels(message.channel).inc()

    async def keep_raw(self, channel: str, account: str | None, body: bytes, error: str) -> None:
        """Keep a payload we could not read, so nothing is lost to a parser bug."""
        try:
            await self.runtime.store.db[RAW].insert_one(
                {
                    "channel": channel,
                    "account": account,
                    "body": body,
                    "error": error,
                    "received_at": utcnow(),
                }
            )
        except Exception as err:
            log.error("could not keep raw payload", channel=channel, error=repr(err))

    def mount(self, app: web.Application, channel: WebhookChannel) -> None:
        async def handle(request: web.Request) -> web.Response:
            raw = await RawRequest.from_request(request)
            if request.method == "GET":
                return channel.handshake(raw)
            with tracer().start_as_current_span(
                f"webhook {channel.name}",
                kind=trace.SpanKind.SERVER,
                attributes={"inbox.channel": channel.name},
            ):
                return await self._accept(channel, raw)

        app.router.add_route("GET", channel.path, handle)
        app.router.add_route("POST", channel.path, handle)

    async def _accept(self, channel: WebhookChannel, raw: RawRequest) -> web.Response:
        try:
            channel.verify(raw)
        except AuthError as err:
            metrics.CONNECTOR_REJECTED.labels(channel.name, "auth").inc()
            log.warning("webhook refused", channel=channel.name, reason=str(err))
            return web.json_response({"error": "unauthorized", "detail": str(err)}, status=401)
        try:
            messages = channel.normalise(raw)
        except InvalidPayload as err:
            metrics.CONNECTOR_REJECTED.labels(channel.name, "invalid").inc()
            await self.keep_raw(channel.name, channel.account, raw.body, str(err))
            return web.json_response({"error": "invalid payload", "detail": str(err)}, status=400)
        try:
            await self.publish_webhook(channel, messages)
        except BusUnavailable as err:
            metrics.CONNECTOR_REJECTED.labels(channel.name, "bus_down").inc()
            log.warning("bus unavailable, asking the platform to retry", error=str(err))
            return web.json_response(
                {"error": "temporarily unavailable"}, status=503, headers={"Retry-After": "5"}
            )
        return channel.acknowledge(raw, messages)

    async def start_outbound(self, channels: Mapping[str, Channel], channel_name: str) -> None:
        """Consume replies for one channel; `channels` maps account → channel instance."""

        async def on_reply(msg: Msg) -> None:
            reply = OutboundReply.from_json(msg.data)
            channel = channels.get(reply.account)
            if channel is None:
                metrics.OUTBOUND_SENT.labels(channel_name, "failed").inc()
                await self._report(
                    reply,
                    DeliveryStatus.FAILED,
                    error=f"no {channel_name} account named {reply.account!r}",
                )
                return
            assert self.http is not None
            links = all(a.url for a in reply.attachments)
            if problem := reply_file_problem(reply.channel, reply.attachments, public_links=links):
                metrics.OUTBOUND_SENT.labels(channel_name, "failed").inc()
                await self._report(reply, DeliveryStatus.FAILED, error=problem)
                return
            channel.blob_reader = self._read_blob
            try:
                result = await channel.send(reply, self.http)
            except PermanentError as err:
                metrics.OUTBOUND_SENT.labels(channel_name, "failed").inc()
                await self._report(reply, DeliveryStatus.FAILED, error=str(err))
                return
            except Exception as err:
                if msg.metadata.num_delivered >= self.runtime.settings.max_deliver:
                    # Last try: tell the agent before the reply goes to the dead letters.
                    metrics.OUTBOUND_SENT.labels(channel_name, "failed").inc()
                    await self._report(
                        reply, DeliveryStatus.FAILED, error=f"gave up after retries: {err}"
                    )
                raise
            metrics.OUTBOUND_SENT.labels(channel_name, "sent").inc()
            await self._report(reply, DeliveryStatus.SENT, external_id=result.external_id)

        consumer = self.runtime.bus.consumer(
            stream=subjects.STREAM_OUTBOUND,
            durable=f"out-{channel_name}",
            filter_subject=subjects.outbound_for_channel(channel_name),
            handler=on_reply,
            batch=16,
        )
        self._outbound.append(consumer)
        await consumer.start()

    async def _read_blob(self, ref: str) -> tuple[bytes, str, str]:
        return await get_blob(self.runtime.store.db, ref)

    async def _report(
        self,
        reply: OutboundReply,
        status: DeliveryStatus,
        *,
        external_id: str | None = None,
        error: str | None = None,
    ) -> None:
        report = DeliveryReport(
            reply_id=reply.id,
            conversation_id=reply.conversation_id,
            channel=reply.channel,
            account=reply.account,
            status=status,
            external_id=external_id,
            error=error,
        )
        await self.runtime.bus.publish_model(
            subjects.delivery(reply.channel, reply.account),
            report,
            msg_id=f"delivery:{reply.id}:{status.value}",
        )


@dataclass
class PollStatus:
    """Per account and board: what /healthz shows and metrics export."""

    last_success: datetime | None = None
    last_error: str | None = None
    auth_failed: bool = False
    polls: int = 0
    # How far the board is read, when its cursor says (`frontier()`): lag = now − frontier.
    frontier: datetime | None = None

    def lag_s(self, now: datetime) -> float | None:
        return None if self.frontier is None else round((now - self.frontier).total_seconds(), 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_error": self.last_error,
            "auth_failed": self.auth_failed,
            "polls": self.polls,
        }


@dataclass
class PollerRunner:
    """Polls one channel account: load cursor → poll → publish all → acknowledge → save
    cursor → repeat (up to `pages_per_round` per board, board after board); then
    `channel.wait(interval_s)`. A failure waits an exponential,
    jittered backoff (at least `min_retry_s`, by default the interval; at least the
    platform's Retry-After); refused credentials wait `auth_retry_s`."""

    connector: Connector
    channel: PollingChannel
    interval_s: float
    auth_retry_s: float = 300.0
    max_backoff_s: float = 300.0
    backoff_initial_s: float = 1.0
    min_retry_s: float | None = None  # None: the poll interval
    # Pages one board reads in a row before the next board's turn (a board catching up on
    # weeks of backlog must not starve the others); the round then starts again at once.
    pages_per_round: int = 100
    status: dict[str, PollStatus] = field(default_factory=dict)
    _failures: int = field(default=0, init=False, repr=False)

    def _key(self, board: str) -> str:
        return f"{self.channel.name}:{self.channel.account}:{board}"

    async def load_cursor(self, board: str) -> dict[str, Any] | None:
        """The stored state (JSON) of one board's cursor."""
        doc = await self.connector.runtime.store.db[CURSORS].find_one({"_id": self._key(board)})
        return None if doc is None else dict(doc["state"])

    async def save_cursor(self, board: str, cursor: Cursor | dict[str, Any]) -> None:
        state = cursor if isinstance(cursor, dict) else cursor.dump()
        await self.connector.runtime.store.db[CURSORS].update_one(
            {"_id": self._key(board)},
            {"$set": {"state": state, "updated_at": utcnow()}},
            upsert=True,
        )

    async def poll_once(self, board: str) -> bool:
        """One page: poll → publish → acknowledge → save the cursor. True when there is
        more to read right away."""
        assert self.connector.http is not None
        cursor = self.channel.load_cursor(await self.load_cursor(board))
        page = await self.channel.poll(board, cursor, self.connector.http, utcnow())
        await self.connector.publish(page.messages)
        for body, error in page.rejected:
            await self.connector.keep_raw(self.channel.name, self.channel.account, body, error)
        await self.channel.acknowledge(board, page)
        await self.save_cursor(board, page.cursor)
        frontier = getattr(page.cursor, "frontier", None)
        if callable(frontier):
            self.status.setdefault(board, PollStatus()).frontier = frontier()
        return page.more

    def _failed(self, st: PollStatus, err: Exception) -> float:
        """Record a failure; the pause before the next try."""
        name, account = self.channel.name, self.channel.account
        if isinstance(err, AuthError):
            st.auth_failed, st.last_error = True, f"auth: {err}"
            metrics.POLL_ERRORS.labels(name, account, "auth").inc()
            log.error("poller auth failed", channel=name, account=account, error=str(err))
            return self.auth_retry_s
        self._failures += 1
        backoff = min(
            self.max_backoff_s, self.backoff_initial_s * 2.0 ** (self._failures - 1)
        ) * random.uniform(0.5, 1.0)
        floor = self.interval_s if self.min_retry_s is None else self.min_retry_s
        # A store outage is as transient as a platform outage.
        if isinstance(
            err, TransientError | PermanentError | OSError | aiohttp.ClientError | PyMongoError
        ):
            st.last_error = f"{type(err).__name__}: {err}"
            metrics.POLL_ERRORS.labels(name, account, "transient").inc()
            log.warning("poll failed", channel=name, account=account, error=st.last_error)
            return max(floor, getattr(err, "retry_after", None) or backoff)
        st.last_error = f"unexpected {type(err).__name__}: {err}"
        metrics.POLL_ERRORS.labels(name, account, "unexpected").inc()
        log.exception("poll crashed", channel=name, account=account)
        return max(floor, backoff)

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self.channel.close()

    async def _run(self) -> None:
        name, account = self.channel.name, self.channel.account
        self._failures = 0
        while True:
            delay: float | None = None  # None: no failure this round
            backlog = False  # a board stopped at its page budget with more to read
            for board in self.channel.boards:
                st = self.status.setdefault(board, PollStatus())
                try:
                    more, pages = True, 0
                    while more and pages < self.pages_per_round:
                        more, pages = await self.poll_once(board), pages + 1
                    backlog = backlog or more
                except Exception as err:  # a bug in one channel must not end the account's loop
                    delay = max(delay or 0.0, self._failed(st, err))
                    continue
                self._failures = 0
                st.auth_failed, st.last_error = False, None
                st.last_success = utcnow()
                st.polls += 1
                metrics.POLL_LAST_SUCCESS.labels(name, account).set(st.last_success.timestamp())
            if delay is not None:
                await asyncio.sleep(delay)
                continue
            if backlog:
                continue
            try:
                await self.channel.wait(self.interval_s)
            except Exception as err:
                st = self.status.setdefault(self.channel.boards[0], PollStatus())
                await asyncio.sleep(self._failed(st, err))
