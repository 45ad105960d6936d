"""The NATS JetStream bus: connect, provision, publish with PubAck, consume with one ack policy.

Delivery rules (DESIGN.md): at-least-once, explicit ack, `Nats-Msg-Id` dedup on publish,
nak with growing delay on failure, dead-letter after MaxDeliver, drain on shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from opentelemetry import trace
from pymongo.errors import ConnectionFailure

from inbox_core import metrics, subjects
from inbox_core.errors import BusUnavailable, InvalidPayload, PermanentError, TransientError
from inbox_core.fetch_linger import READY_S, FetchLinger
from inbox_core.logging import get_logger
from inbox_core.masking import mask_url_credentials
from inbox_core.schema import DeadLetter, Model
from inbox_core.settings import CoreSettings
from inbox_core.telemetry import extract_context, inject_headers, tracer

log = get_logger(__name__)

DAY = 24 * 3600.0
# Header naming what must stay in order (a thread key, a conversation id).
ORDER_KEY_HEADER = "Inbox-Order-Key"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: list[str]
    max_age_s: float
    retention: RetentionPolicy = RetentionPolicy.LIMITS
    duplicate_window_s: float = 120.0


# Limits retention everywhere: EVENTS must stay replayable for SSE resume, and INBOUND/ROUTED
# keep a window of history for replays and audits; consumers track their own position.
STREAMS: list[StreamSpec] = [
    # An hour of dedup on INBOUND: longer than a poller's overlapping window and a platform's
    # webhook retry burst, so a repeated item is dropped by the bus.
    StreamSpec(subjects.STREAM_INBOUND, [subjects.INBOUND_ALL], 7 * DAY, duplicate_window_s=3600),
    StreamSpec(subjects.STREAM_ROUTED, [subjects.ROUTED_ALL, subjects.DELIVERY_ALL], 7 * DAY),
    StreamSpec(subjects.STREAM_EVENTS, [subjects.EVENTS_ALL], 7 * DAY),
    StreamSpec(subjects.STREAM_OUTBOUND, [subjects.OUTBOUND_ALL], 7 * DAY, duplicate_window_s=600),
    StreamSpec(subjects.STREAM_DLQ, [subjects.DLQ_ALL], 30 * DAY),
    StreamSpec(subjects.STREAM_COMMANDS, [subjects.COMMANDS_ALL], 7 * DAY, duplicate_window_s=600),
]

Handler = Callable[[Msg], Awaitable[None]]
# A batch handler gets a fetched batch in stream order and returns, for each message at the
# same position, None (done: ack it) or the exception that failed it (the consumer then naks
# or dead-letters that message alone, by the same policy as a per-message handler).
BatchHandler = Callable[[list[Msg]], Awaitable[Sequence[BaseException | None]]]


def order_key(msg: Msg) -> str | None:
    return (msg.headers or {}).get(ORDER_KEY_HEADER)


# The keys a message orders with: messages of a batch that share any of them (directly or
# through a third message) are handled one after another, in stream order.
KeysOf = Callable[[Msg], Sequence[str]]


def header_keys(msg: Msg) -> Sequence[str]:
    """A message's ordering key, its `Inbox-Order-Key` header (none without one)."""
    key = order_key(msg)
    return [key] if key is not None else []


def batch_groups(msgs: list[Msg], keys_of: KeysOf = header_keys) -> list[str | None]:
    """For each message of a batch, the name of its group (None: a message of its own).
    Messages sharing a key are one group, transitively (union-find over the batch)."""
    parent: dict[str, str] = {}

    def find(k: str) -> str:
        while parent.setdefault(k, k) != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    per_msg = [list(keys_of(m)) for m in msgs]
    for keys in per_msg:
        for other in keys[1:]:
            a, b = find(keys[0]), find(other)
            if a != b:
                parent[b] = a
    return [find(keys[0]) if keys else None for keys in per_msg]


def order_rounds(msgs: list[Msg], keys_of: KeysOf = header_keys) -> list[list[Msg]]:
    """Split a batch into rounds with at most one message per ordering group, in stream
    order: round n holds the n-th message of every group. Handling the rounds one after
    another keeps each group's messages in order while the messages of one round go
    together."""
    rounds: list[list[Msg]] = []
    seen: dict[str, int] = {}
    for msg, group in zip(msgs, batch_groups(msgs, keys_of), strict=True):
        n = seen.get(group, 0) if group is not None else 0
        if group is not None:
            seen[group] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(msg)
    return rounds


class HeldBack(TransientError):
    """An earlier message of the same ordering key failed in this batch and will be retried,
    so this one is not handled now: it is redelivered after the earlier one, and the wait is
    not counted as one of its own attempts (it is not this message's fault)."""

    def __init__(self, earlier: Msg, cause: BaseException) -> None:
        super().__init__(f"waits for an earlier message of its thread ({type(cause).__name__})")
        self.earlier = earlier
        self.cause = cause


R = TypeVar("R")


async def run_rounds(
    msgs: list[Msg], apply: Callable[[Msg], Awaitable[R]], keys_of: KeysOf = header_keys
) -> list[R | BaseException]:
    """Apply `apply` to a batch round by round (`order_rounds`), the messages of a round
    concurrently. Returns each message's result or error, by position. Once a message fails
    with an error that will be retried, the later messages of its key in this batch are not
    applied (their outcome is `HeldBack`), so a retry never lands behind its successors.
    A refused message (InvalidPayload, PermanentError) goes to the DLQ and blocks nothing."""
    results: dict[int, R | BaseException] = {}
    position = {id(m): i for i, m in enumerate(msgs)}
    group_of = dict(zip((id(m) for m in msgs), batch_groups(msgs, keys_of), strict=True))
    failed: dict[str, HeldBack] = {}
    for round_ in order_rounds(msgs, keys_of):
        todo: list[Msg] = []
        for msg in round_:
            key = group_of[id(msg)]
            if key is not None and key in failed:
                results[position[id(msg)]] = failed[key]
            else:
                todo.append(msg)
        outs = await asyncio.gather(*(apply(m) for m in todo), return_exceptions=True)
        for msg, out in zip(todo, outs, strict=True):
            results[position[id(msg)]] = out
            key = group_of[id(msg)]
            retried = isinstance(out, BaseException) and not isinstance(
                out, InvalidPayload | PermanentError
            )
            if retried and key is not None:
                failed[key] = HeldBack(msg, out)  # type: ignore[arg-type]
    return [results[i] for i in range(len(msgs))]


@dataclass(frozen=True)
class Outgoing:
    """One message to publish as part of a batch (see Bus.publish_many)."""

    subject: str
    payload: bytes
    msg_id: str | None = None
    headers: dict[str, str] | None = None

    @classmethod
    def of(
        cls,
        subject: str,
        model: Model,
        *,
        msg_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Outgoing:
        """Made inside a message's span (`message_span`), it carries that message's trace."""
        return cls(subject, model.to_json(), msg_id, inject_headers(dict(headers or {})))


@contextlib.contextmanager
def message_span(consumer: str, msg: Msg) -> Iterator[None]:
    """The span of one message handled inside a batch, continuing the trace it came with."""
    with tracer().start_as_current_span(
        f"handle {consumer}",
        context=extract_context(msg.headers),
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.destination": msg.subject},
    ):
        yield


_PREFIX_STREAM = {
    "in": subjects.STREAM_INBOUND,
    "routed": subjects.STREAM_ROUTED,
    "delivery": subjects.STREAM_ROUTED,
    "events": subjects.STREAM_EVENTS,
    "out": subjects.STREAM_OUTBOUND,
    "dlq": subjects.STREAM_DLQ,
    "cmd": subjects.STREAM_COMMANDS,
}


def _stream_of(subject: str) -> str:
    parts = subject.split(".")
    return _PREFIX_STREAM.get(parts[1] if len(parts) > 1 else "", "other")


def is_outage(err: BaseException) -> bool:
    """The store or the bus is unreachable: retry for as long as it takes, never dead-letter."""
    return isinstance(err, BusUnavailable | ConnectionFailure)


def nak_delay(delivered: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: base, 2·base, 4·base … capped."""
    delay = min(cap, base * (2 ** max(0, delivered - 1)))
    return delay * random.uniform(0.8, 1.2)


class Bus:
    """One NATS connection per service, with JetStream on top."""

    def __init__(self, settings: CoreSettings, service: str) -> None:
        self.settings = settings
        self.service = service
        self.nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._consumers: list[Consumer] = []

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise BusUnavailable("bus not connected")
        return self._js

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def connect(self, timeout: float = 30.0) -> None:
        """Connect, retrying until `timeout`; afterwards nats-py reconnects forever."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.2
        while True:
            try:
                self.nc = await nats.connect(
                    # A comma-separated list seeds a cluster connection.
                    servers=[u.strip() for u in self.settings.nats_url.split(",") if u.strip()],
                    name=self.service,
                    connect_timeout=2,
                    reconnect_time_wait=0.5,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnect,
                    reconnected_cb=self._on_reconnect,
                )
                break
            except (OSError, nats.errors.Error) as err:
                if loop.time() + delay > deadline:
                    where = mask_url_credentials(self.settings.nats_url)
                    raise BusUnavailable(f"cannot reach NATS at {where}") from err
                log.warning("nats connect failed, retrying", error=str(err), delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._js = self.nc.jetstream(timeout=5)

    async def _on_error(self, err: Exception) -> None:
        log.warning("nats error", error=str(err))

    async def _on_disconnect(self) -> None:
        log.warning("nats disconnected")

    async def _on_reconnect(self) -> None:
        log.info("nats reconnected")

    async def provision(self) -> None:
        """Create or update every stream; safe to run from every service at every start."""
        for spec in STREAMS:
            config = StreamConfig(
                name=spec.name,
                subjects=spec.subjects,
                retention=spec.retention,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                max_age=spec.max_age_s,
                duplicate_window=spec.duplicate_window_s,
                num_replicas=self.settings.stream_replicas,
            )
            try:
                await self.js.add_stream(config)
            except nats.js.errors.BadRequestError as err:
                # 10058: exists with a different config → update it in place.
                if err.err_code != 10058:
                    raise
                await self.js.update_stream(config)

    async def publish(
        self,
        subject: str,
        payload: bytes,
        *,
        msg_id: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
    ) -> PubAck:
        """Publish and wait for the PubAck. Raises BusUnavailable when none comes."""
        hdrs = dict(headers or {})
        if msg_id:
            hdrs["Nats-Msg-Id"] = msg_id
        inject_headers(hdrs)
        stream = _stream_of(subject)
        if not self.connected:
            metrics.PUBLISH_FAILED.labels(stream).inc()
            raise BusUnavailable("bus disconnected")
        try:
            ack = await self.js.publish(subject, payload, timeout=timeout, headers=hdrs)
        except nats.errors.MaxPayloadError as err:
            # Retrying cannot help: the message is larger than the server accepts.
            metrics.PUBLISH_FAILED.labels(stream).inc()
            raise PermanentError(f"message of {len(payload)} bytes exceeds the bus limit") from err
        except (TimeoutError, nats.errors.Error, nats.js.errors.Error, OSError) as err:
            metrics.PUBLISH_FAILED.labels(stream).inc()
            raise BusUnavailable(f"publish to {subject} not acknowledged: {err}") from err
        if ack.duplicate:
            metrics.DUPLICATES.labels(ack.stream).inc()
        else:
            metrics.PUBLISHED.labels(ack.stream).inc()
        return ack

    async def publish_model(
        self,
        subject: str,
        model: Model,
        *,
        msg_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> PubAck:
        return await self.publish(subject, model.to_json(), msg_id=msg_id, headers=headers)

    async def publish_many(
        self, items: Sequence[Outgoing], *, timeout: float = 5.0
    ) -> list[PubAck | BaseException]:
        """Publish all of `items` with their PubAcks in flight together, then wait for them.

        Sent in the given order on one connection, so they land in the stream in that order.
        Returns, per item, its PubAck or the error (BusUnavailable, PermanentError): one
        failed publish does not fail the others.
        """
        if not items:
            return []
        pending: list[asyncio.Future[PubAck] | BaseException] = []
        for item in items:
            pending.append(await self._send_async(item))

        async def settle(
            item: Outgoing, fut: asyncio.Future[PubAck] | BaseException
        ) -> PubAck | BaseException:
            stream = _stream_of(item.subject)
            if isinstance(fut, BaseException):
                metrics.PUBLISH_FAILED.labels(stream).inc()
                return fut
            try:
                ack = await asyncio.wait_for(fut, timeout)
            except (TimeoutError, nats.errors.Error, nats.js.errors.Error, OSError) as err:
                metrics.PUBLISH_FAILED.labels(stream).inc()
                return BusUnavailable(f"publish to {item.subject} not acknowledged: {err!r}")
            (metrics.DUPLICATES if ack.duplicate else metrics.PUBLISHED).labels(ack.stream).inc()
            return ack

        return list(
            await asyncio.gather(*(settle(i, f) for i, f in zip(items, pending, strict=True)))
        )

    async def _send_async(self, item: Outgoing) -> asyncio.Future[PubAck] | BaseException:
        hdrs = dict(item.headers or {})
        if item.msg_id:
            hdrs["Nats-Msg-Id"] = item.msg_id
        if "traceparent" not in hdrs:
            inject_headers(hdrs)
        if not self.connected or self.nc is None:
            return BusUnavailable("bus disconnected")
        if len(item.payload) > self.nc.max_payload:
            # Checked here: nats-py would raise after taking an in-flight slot it never frees.
            return PermanentError(f"message of {len(item.payload)} bytes exceeds the bus limit")
        try:
            return await self.js.publish_async(item.subject, item.payload, headers=hdrs)
        except (nats.errors.Error, nats.js.errors.Error, OSError) as err:
            return BusUnavailable(f"publish to {item.subject} failed: {err!r}")

    def consumer(
        self,
        *,
        stream: str,
        durable: str,
        handler: Handler,
        filter_subject: str | None = None,
        batch: int = 64,
        max_ack_pending: int = 1000,
    ) -> Consumer:
        consumer = Consumer(
            self,
            stream=stream,
            durable=durable,
            handler=handler,
            filter_subject=filter_subject,
            batch=batch,
            max_ack_pending=max_ack_pending,
        )
        self._consumers.append(consumer)
        return consumer

    def batch_consumer(
        self,
        *,
        stream: str,
        durable: str,
        handler: BatchHandler,
        filter_subject: str | None = None,
        batch: int = 64,
        max_ack_pending: int = 1000,
        keys_of: KeysOf = header_keys,
    ) -> Consumer:
        """A consumer that hands each fetched batch (up to `batch` messages, stream order) to
        `handler` as a unit. Two batches may be in flight; one that holds an ordering key of
        an unfinished earlier batch waits for it, so a thread's order holds across batches
        (`keys_of`: a message's ordering keys, by default its `Inbox-Order-Key` header; give
        the ones the handler orders a batch by).
        The handler keeps the order within a batch (`order_rounds`). Each message is then
        acked, naked or dead-lettered by its own outcome."""
        consumer = Consumer(
            self,
            stream=stream,
            durable=durable,
            handler=_no_single_handler,
            batch_handler=handler,
            filter_subject=filter_subject,
            batch=batch,
            max_ack_pending=max_ack_pending,
            keys_of=keys_of,
        )
        self._consumers.append(consumer)
        return consumer

    async def dead_letter(self, msg: Msg, *, stream: str, consumer: str, error: str) -> None:
        try:
            data, encoding = msg.data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            data, encoding = base64.b64encode(msg.data).decode(), "base64"
        letter = DeadLetter(
            stream=stream,
            consumer=consumer,
            subject=msg.subject,
            headers={k: v for k, v in (msg.headers or {}).items()},
            data=data,
            data_encoding=encoding,  # type: ignore[arg-type]
            error=error[:4000],
            deliveries=msg.metadata.num_delivered,
        )
        await self.publish_model(
            subjects.dead_letter(stream, consumer),
            letter,
            msg_id=f"dlq:{stream}:{consumer}:{msg.metadata.sequence.stream}",
        )

    async def close(self, grace: float | None = None) -> None:
        """Stop consumers (finishing in-flight work), then drain the connection."""
        grace = self.settings.shutdown_grace_s if grace is None else grace
        await asyncio.gather(*(c.stop(grace) for c in self._consumers), return_exceptions=True)
        self._consumers.clear()
        if self.nc is not None and not self.nc.is_closed:
            try:
                await asyncio.wait_for(self.nc.drain(), timeout=grace)
            except (TimeoutError, nats.errors.Error, OSError):
                await self.nc.close()
        self._js = None


async def _no_single_handler(msg: Msg) -> None:
    raise RuntimeError("a batch consumer handles batches")


@dataclass
class Consumer:
    """A durable pull consumer with the project's one ack policy:

    handler returns → ack; TransientError or unknown error → nak(growing delay);
    InvalidPayload / PermanentError, or too many deliveries → DLQ record + term.

    With `batch_handler`, each fetched batch goes to it as a unit and the policy above is
    applied to each message by the outcome the handler returns for it.
    """

    bus: Bus
    stream: str
    durable: str
    handler: Handler
    filter_subject: str | None = None
    batch_handler: BatchHandler | None = None
    batch: int = 64
    max_ack_pending: int = 1000
    # What orders a batch after an unfinished earlier one: the same keys the handler orders
    # the messages of one batch by (`run_rounds`), or a reply fetched in the next batch could
    # be handled beside the message it answers.
    keys_of: KeysOf = header_keys
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _inflight: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _outage_naks: dict[int, int] = field(default_factory=dict, init=False)
    _chains: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False)
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(256), init=False)
    # Batch mode: two batches in flight, so the next one's work overlaps the previous one's
    # round trips (the store and the handler take turns instead of waiting for each other).
    batches_in_flight: int = 2
    _batch_slots: asyncio.Semaphore = field(init=False)
    _batch_keys: dict[asyncio.Task[None], set[str]] = field(default_factory=dict, init=False)
    _linger: FetchLinger = field(default_factory=FetchLinger, init=False)

    def __post_init__(self) -> None:
        self._batch_slots = asyncio.Semaphore(self.batches_in_flight)

    async def start(self) -> None:
        settings = self.bus.settings
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=settings.ack_wait_s,
            # Redelivery is bounded by our own DLQ logic, so a crash-looping message still
            # reaches the DLQ instead of being silently dropped by the server.
            max_deliver=-1,
            max_ack_pending=self.max_ack_pending,
            filter_subject=self.filter_subject,
            num_replicas=settings.stream_replicas if settings.stream_replicas > 1 else None,
        )
        self._sub = await self.bus.js.pull_subscribe(
            self.filter_subject or "",
            durable=self.durable,
            stream=self.stream,
            config=config,
        )
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.durable}")

    async def _next_batch(self) -> list[Msg]:
        """Wait for the first message, then take whatever else is ready, waiting for more
        only as long as the recent arrival rate says more will come (`FetchLinger`), never
        for a full batch (a partial batch would otherwise sit until the fetch timeout)."""
        first = await self._sub.fetch(1, timeout=1.0)
        started, want = time.monotonic(), self.batch - 1
        if want <= 0:
            more: list[Msg] = []
        elif self._linger.gathers():
            # A fetch returns as soon as one message is there: to gather all that come
            # within the wait, sleep through it, then take what is ready.
            more = await self._ready(want)
            if len(more) < want:
                await asyncio.sleep(max(0.0, self._linger.wait_s() - (time.monotonic() - started)))
                more += await self._ready(want - len(more))
        else:
            more = await self._ready(want, self._linger.wait_s())
        self._linger.taken(len(first) + len(more))
        return [*first, *more]

    async def _ready(self, n: int, wait_s: float = READY_S) -> list[Msg]:
        """Up to `n` messages: those ready now, or the first that comes within `wait_s` and
        any ready with it; an empty list when none comes."""
        if n <= 0:
            return []
        try:
            return list(await self._sub.fetch(n, timeout=wait_s))
        except (nats.errors.TimeoutError, TimeoutError):
            # Nothing else ready. The first message must not be dropped because of this.
            return []

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                msgs = await self._next_batch()
            except (nats.errors.TimeoutError, TimeoutError):
                continue  # idle
            except (nats.errors.Error, nats.js.errors.Error, OSError) as err:
                if self._stopping.is_set():
                    break
                log.warning("fetch failed, retrying", consumer=self.durable, error=repr(err))
                await asyncio.sleep(0.5)
                continue
            except Exception as err:  # a bug here must not stop consuming for good
                # What was fetched is not acked, so the server delivers it again.
                log.exception("fetch raised, retrying", consumer=self.durable, error=repr(err))
                await asyncio.sleep(0.5)
                continue
            if self.batch_handler is not None:
                await self._start_batch(msgs)
                continue
            for msg in msgs:
                # Bounded concurrency; fetching goes on while earlier messages are handled.
                await self._slots.acquire()
                # Messages with the same ordering key (one thread, one conversation) are
                # handled one after another in stream order; other keys run concurrently.
                key = order_key(msg)
                previous = self._chains.get(key) if key else None
                task = asyncio.create_task(self._handle_after(previous, msg))
                self._inflight.add(task)
                task.add_done_callback(self._done)
                if key:
                    self._chains[key] = task
                    task.add_done_callback(functools.partial(self._forget, key))
        if self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def _start_batch(self, msgs: list[Msg]) -> None:
        """At most `batches_in_flight` batches at once; a batch holding an ordering key of an
        earlier unfinished batch starts after that one, so a thread's order holds."""
        await self._batch_slots.acquire()
        keys = {k for m in msgs for k in self.keys_of(m)}
        earlier = [t for t, held in self._batch_keys.items() if held & keys]
        task = asyncio.create_task(self._batch_after(earlier, msgs))
        self._batch_keys[task] = keys
        self._inflight.add(task)
        task.add_done_callback(self._batch_done)

    async def _batch_after(self, earlier: list[asyncio.Task[None]], msgs: list[Msg]) -> None:
        if earlier:
            await asyncio.gather(*earlier, return_exceptions=True)
        await self._handle_batch(msgs)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._batch_keys.pop(task, None)
        self._batch_slots.release()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slots.release()

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self._chains.get(key) is task:
            del self._chains[key]

    async def _handle_after(self, previous: asyncio.Task[None] | None, msg: Msg) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        await self._handle(msg)

    def _attempts(self, msg: Msg) -> int:
        # Deliveries that failed because the store or the bus was down are not the
        # message's fault: they do not count towards the dead-letter limit.
        return msg.metadata.num_delivered - self._outage_naks.get(msg.metadata.sequence.stream, 0)

    async def _handle(self, msg: Msg) -> None:
        delivered = msg.metadata.num_delivered
        ctx = extract_context(msg.headers)
        with (
            tracer().start_as_current_span(
                f"consume {self.durable}",
                context=ctx,
                kind=trace.SpanKind.CONSUMER,
                attributes={"messaging.destination": msg.subject, "messaging.delivered": delivered},
            ),
            metrics.HANDLE_SECONDS.labels(self.durable).time(),
        ):
            if await self._given_up(msg):
                return
            try:
                await self.handler(msg)
            except Exception as err:
                await self._settle_outcome(msg, err)
                return
            await self._settle_outcome(msg, None)

    async def _handle_batch(self, msgs: list[Msg]) -> None:
        assert self.batch_handler is not None
        with tracer().start_as_current_span(
            f"consume {self.durable}",
            kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.batch.message_count": len(msgs)},
        ):
            start = asyncio.get_running_loop().time()
            live = [m for m in msgs if not await self._given_up(m)]
            if not live:
                return
            metrics.BATCH_MESSAGES.labels(self.durable).observe(len(live))
            outcomes: Sequence[BaseException | None]
            try:
                outcomes = await self.batch_handler(live)
                if len(outcomes) != len(live):
                    raise RuntimeError(f"{len(outcomes)} outcomes for {len(live)} messages")
            except Exception as err:  # the handler itself broke: each message fails with it
                outcomes = [err] * len(live)
            await asyncio.gather(
                *(self._settle_outcome(m, o) for m, o in zip(live, outcomes, strict=True))
            )
            each = (asyncio.get_running_loop().time() - start) / len(live)
            for _ in live:
                metrics.HANDLE_SECONDS.labels(self.durable).observe(each)

    async def _given_up(self, msg: Msg) -> bool:
        attempts = self._attempts(msg)
        if attempts > self.bus.settings.max_deliver:
            # It never finished (crash, timeout) often enough: stop the loop here.
            await self._to_dlq(msg, f"gave up after {attempts - 1} deliveries without an ack")
            return True
        return False

    async def _settle_outcome(self, msg: Msg, err: BaseException | None) -> None:
        """The one ack policy: ack a handled message; nak a failed one with a growing delay
        (outages not counted); dead-letter a refused one or one out of attempts."""
        settings = self.bus.settings
        seq = msg.metadata.sequence.stream
        delivered = msg.metadata.num_delivered
        if err is None:
            self._outage_naks.pop(seq, None)
            await self._settle(msg.ack(), "ack")
            return
        if isinstance(err, HeldBack):
            # Not counted (like an outage), and later than the earlier message's own retry.
            self._outage_naks[seq] = self._outage_naks.get(seq, 0) + 1
            await self._settle(msg.nak(delay=self._held_back_delay(err)), "nak")
            return
        attempts = self._attempts(msg)
        if isinstance(err, InvalidPayload | PermanentError):
            log.warning("message refused", consumer=self.durable, error=str(err))
            await self._to_dlq(msg, f"{type(err).__name__}: {err}")
            return
        outage = is_outage(err)
        if outage:
            self._outage_naks[seq] = self._outage_naks.get(seq, 0) + 1
        elif attempts >= settings.max_deliver:
            log.error("message failed for good", consumer=self.durable, error=repr(err))
            await self._to_dlq(msg, f"{type(err).__name__}: {err}")
            return
        retry_after = err.retry_after if isinstance(err, TransientError) else None
        delay = retry_after or nak_delay(
            attempts if not outage else delivered,
            settings.nak_base_delay_s,
            settings.nak_max_delay_s if not outage else min(settings.nak_max_delay_s, 5.0),
        )
        log.warning(
            "message failed, will retry",
            consumer=self.durable,
            error=repr(err),
            delivered=delivered,
            outage=outage,
            delay=round(delay, 2),
        )
        await self._settle(msg.nak(delay=delay), "nak")

    def _held_back_delay(self, held: HeldBack) -> float:
        """A delay past the longest the earlier message's own nak can be (jitter included), so
        it is redelivered first; short when the earlier one is dead-lettered now."""
        settings = self.bus.settings
        cause = held.cause
        attempts = self._attempts(held.earlier)
        if isinstance(cause, TransientError) and cause.retry_after:
            longest = cause.retry_after
        elif is_outage(cause):
            longest = min(settings.nak_max_delay_s, 5.0) * 1.2
        elif attempts >= settings.max_deliver:
            return 0.5
        else:
            longest = 1.2 * min(
                settings.nak_max_delay_s, settings.nak_base_delay_s * 2 ** max(0, attempts - 1)
            )
        return longest + 0.5

    async def _to_dlq(self, msg: Msg, error: str) -> None:
        try:
            await self.bus.dead_letter(msg, stream=self.stream, consumer=self.durable, error=error)
        except BusUnavailable:
            # No record, no term: the message stays and comes back later.
            await self._settle(msg.nak(delay=self.bus.settings.nak_max_delay_s), "nak")
            return
        await self._settle(msg.term(), "dead_letter")

    async def _settle(self, op: Awaitable[None], outcome: str) -> None:
        try:
            await op
        except (nats.errors.Error, OSError) as err:
            # The server will redeliver after ack_wait; consumers are idempotent.
            log.warning("could not settle message", consumer=self.durable, error=str(err))
        metrics.CONSUMED.labels(self.durable, outcome).inc()

    async def stop(self, grace: float) -> None:
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=grace)
        except TimeoutError:
            # Unfinished work is neither acked nor lost: JetStream redelivers it.
            self._task.cancel()
            for task in list(self._inflight):
                task.cancel()
            await asyncio.gather(self._task, *self._inflight, return_exceptions=True)
        try:
            await self._sub.unsubscribe()
        except (nats.errors.Error, OSError):
            pass
