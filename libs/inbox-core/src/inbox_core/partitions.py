"""Replicas that keep per-thread order: partitions of a stream, each held by one replica.

With several replicas of a service on one durable consumer, JetStream hands the messages of
one thread to whichever replica fetches next, so two replicas may handle them at the same
time and out of order. Here the work is cut into `INBOX_PARTITIONS` partitions by the
message's ordering key (`Inbox-Order-Key`: a thread key into the router, a conversation id
into the notifier); messages without one are partitioned by subject.

- Partition `i` is its own durable consumer `<durable>-p<i>of<n>` on the whole stream; it handles
  the messages whose key hashes to `i` and acks the others unread (each message is read once
  per partition: cheap for the bus, and no subject or connector changes).
- A replica handles partition `i` only while it holds the lease `<durable>.p<i>` in the NATS
  KV bucket `INBOX_LEASES` (a key whose TTL a live holder keeps refreshing). One holder per
  partition, one consumer per partition, handling in stream order: a thread is handled by one
  replica at a time, in order.
- Replicas announce themselves in the same bucket and each holds about its share of the
  partitions: a new replica takes free ones, a replica above its share releases some (after
  finishing what it holds), a replica that dies loses its leases when their TTL runs out and
  the others take them. A taker waits until the dead holder's unacknowledged messages are
  due again, so they are handled before the ones that followed them.

With one partition (the default) this is the plain durable consumer of before.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import uuid
import zlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Final

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, KeyValueConfig
from nats.js.kv import KeyValue
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from inbox_core.bus import BatchHandler, Bus, Consumer, Handler, KeysOf, header_keys, order_key
from inbox_core.logging import get_logger

log = get_logger(__name__)

LEASES_BUCKET: Final = "INBOX_LEASES"
FREE: Final = b"free"  # a lease given back by a holder that finished its work
LATE_DELIVERY_S: Final = 1.2  # longer than a pull's wait (bus.Consumer fetches for 1 s)
_PARTITION_DURABLE: Final = re.compile(r"(?P<base>.+)-p(?P<index>\d+)of(?P<of>\d+)")


class PartitionSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    partitions: int = Field(1, ge=1, le=64, validation_alias="INBOX_PARTITIONS")
    lease_s: float = Field(6.0, gt=0.5, validation_alias="INBOX_LEASE_S")


def partition_of(msg: Msg, partitions: int) -> int:
    """The partition of a message: a stable hash of its ordering key (else its subject)."""
    key = order_key(msg) or msg.subject
    return zlib.crc32(key.encode()) % partitions


@dataclass
class PartitionedConsumer:
    """`bus.consumer` / `bus.batch_consumer` for a service that may run as several replicas."""

    bus: Bus
    stream: str
    durable: str
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None
    keys_of: KeysOf = header_keys  # of a batch handler: what orders batches (batch_consumer)
    settings: PartitionSettings = field(default_factory=PartitionSettings)
    replica: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    held: dict[int, Consumer] = field(default_factory=dict, init=False)
    _starting: dict[int, asyncio.Task[None]] = field(default_factory=dict, init=False)
    _releasing: set[int] = field(default_factory=set, init=False)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict, init=False)
    _stopping: bool = field(default=False, init=False)
    _tasks: set[asyncio.Future[None]] = field(default_factory=set, init=False)
    _revisions: dict[str, int] = field(default_factory=dict, init=False)
    _kv: KeyValue | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _single: Consumer | None = field(default=None, init=False)

    async def start(self) -> None:
        if self.settings.partitions == 1:
            await self._start_where_others_stopped(self.durable)
            self._single = self._consumer(self.durable, None)
            await self._single.start()
            return
        self._kv = await self._bucket()
        self._task = asyncio.create_task(self._keep_leases(), name=f"leases:{self.durable}")

    async def stop(self) -> None:
        """Finish what is in hand, then give the leases back so others take over at once."""
        if self._single is not None:
            await self._single.stop(self.bus.settings.shutdown_grace_s)
        self._stopping = True  # no more taking; the leases are kept alive until given back
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._release(i) for i in list(self.held)))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._kv is not None:
            with contextlib.suppress(nats.errors.Error, nats.js.errors.Error, OSError):
                await self._kv.delete(self._presence_key)

    # --- consumers --------------------------------------------------------------------

    def _consumer(self, durable: str, index: int | None) -> Consumer:
        parts = self.settings.partitions
        if self.batch_handler is not None:
            batch_handler = self.batch_handler
            if index is not None:
                batch_handler = _only_batch(batch_handler, index, parts)
            return self.bus.batch_consumer(
                stream=self.stream, durable=durable, handler=batch_handler, keys_of=self.keys_of
            )
        assert self.handler is not None
        handler = self.handler if index is None else _only(self.handler, index, parts)
        return self.bus.consumer(stream=self.stream, durable=durable, handler=handler)

    def _take(self, index: int, handed_over: bool) -> None:
        consumer = self._consumer(self._partition_durable(index), index)
        self.held[index] = consumer
        # Started in the background: the lease is refreshed meanwhile.
        self._starting[index] = asyncio.create_task(self._start(index, consumer, handed_over))
        log.info("partition taken", durable=self.durable, partition=index, replica=self.replica)

    def _partition_durable(self, index: int) -> str:
        return f"{self.durable}-p{index}of{self.settings.partitions}"

    async def _start(self, index: int, consumer: Consumer, handed_over: bool) -> None:
        try:
            if not handed_over:
                await self._wait_for_dead_holders_work(consumer.durable)
            await self._start_where_others_stopped(consumer.durable)
            await consumer.start()
        except Exception as err:
            # Not started: give the lease up (a round takes it again, or another replica).
            log.warning("partition did not start", partition=index, error=repr(err))
            self._background(self._release(index))
            raise
        finally:
            self._starting.pop(index, None)

    async def _drop(self, index: int, grace: float) -> None:
        await self._halt(index, self.held.pop(index), grace)

    async def _halt(self, index: int, consumer: Consumer, grace: float) -> None:
        starting = self._starting.pop(index, None)
        if starting is not None and not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
        if getattr(consumer, "_task", None) is not None:
            await consumer.stop(grace)

    async def _release(self, index: int, grace: float | None = None) -> None:
        self._releasing.add(index)
        durable = self._partition_durable(index)
        clean = False
        try:
            if index in self.held:
                await self._drop(
                    index, self.bus.settings.shutdown_grace_s if grace is None else grace
                )
            assert self._kv is not None
            key = self._lease_key(index)
            clean = await self._nothing_in_hand(durable)
            async with self._lock(key):
                with contextlib.suppress(
                    nats.errors.Error, nats.js.errors.Error, OSError, KeyError
                ):
                    last = self._revisions.pop(key)
                    if clean:  # given back: a taker knows nothing is left in our hands
                        await self._kv.update(key, FREE, last=last)
                    else:  # a taker waits until what we held is due again
                        await self._kv.delete(key)
        finally:
            self._releasing.discard(index)
            self._revisions.pop(self._lease_key(index), None)
        log.info(
            "partition released",
            durable=self.durable,
            partition=index,
            replica=self.replica,
            clean=clean,
        )

    async def _nothing_in_hand(self, durable: str) -> bool:
        """Every message this partition fetched is acked (as the server sees it)."""
        try:
            # A pull that timed out on our side may still be answered by the server just
            # after: give such a late delivery the time to show as pending.
            await asyncio.sleep(LATE_DELIVERY_S)
            if self.bus.nc is not None:
                await self.bus.nc.flush(timeout=2)  # our last acks reach the server first
            info = await self.bus.js.consumer_info(self.stream, durable)
        except (nats.errors.Error, nats.js.errors.Error, OSError):
            return False
        return not info.num_ack_pending

    async def _start_where_others_stopped(self, durable: str) -> None:
        """When the partitioning changes (replicas added or gone, another INBOX_PARTITIONS),
        the durables of the new one start where the old one had got to, not at the start of
        the stream's history: at the ack floor of the most advanced earlier partitioning
        (messages past it that were already done come again, and change nothing)."""
        js = self.bus.js
        groups: dict[int, list[int]] = {}
        own: int | None = None
        for info in await js.consumers_info(self.stream):
            name, floor = info.name, info.ack_floor.stream_seq if info.ack_floor else 0
            match = _PARTITION_DURABLE.fullmatch(name)
            if name == durable:
                own = floor
            elif name == self.durable:
                groups.setdefault(1, []).append(floor)
            elif match and match["base"] == self.durable:
                groups.setdefault(int(match["of"]), []).append(floor)
        groups.pop(self.settings.partitions, None)  # this partitioning's own durables
        if not groups:
            return
        start = max(min(floors) for floors in groups.values()) + 1
        if own is not None and own + 1 >= start:
            return  # ours is as far as any earlier one
        if own is not None:
            await js.delete_consumer(self.stream, durable)
        settings = self.bus.settings
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_wait=settings.ack_wait_s,
            max_deliver=-1,
            max_ack_pending=1000,
            num_replicas=settings.stream_replicas if settings.stream_replicas > 1 else None,
        )
        with contextlib.suppress(nats.js.errors.BadRequestError):  # made meanwhile
            await js.add_consumer(self.stream, config=config)
        log.info("durable placed", durable=durable, stream=self.stream, start=start)

    async def _wait_for_dead_holders_work(self, durable: str) -> None:
        """A lease that ran out was not given back: its holder died, or stalled and is only
        now stopping. What it fetched and did not ack is handed out again once its ack wait
        is over, before newer messages. Start only then, so a thread's next message never
        overtakes one that was in the old holder's hands."""
        try:
            await self.bus.js.consumer_info(self.stream, durable)
        except nats.js.errors.NotFoundError:
            return  # never consumed: nothing can be in anyone's hands
        await asyncio.sleep(self.bus.settings.ack_wait_s + 0.5)

    # --- leases -------------------------------------------------------------------------

    async def _bucket(self) -> KeyValue:
        js = self.bus.js
        try:
            return await js.key_value(LEASES_BUCKET)
        except nats.js.errors.BucketNotFoundError:
            with contextlib.suppress(nats.js.errors.BadRequestError):  # another made it
                await js.create_key_value(
                    KeyValueConfig(bucket=LEASES_BUCKET, history=1, ttl=self.settings.lease_s)
                )
            return await js.key_value(LEASES_BUCKET)

    @property
    def _presence_key(self) -> str:
        return f"{self.durable}.replica.{self.replica}"

    def _lock(self, key: str) -> asyncio.Lock:
        """One update of a lease at a time (a refresh and a give-back race otherwise)."""
        return self._locks.setdefault(key, asyncio.Lock())

    def _lease_key(self, index: int) -> str:
        return f"{self.durable}.p{index}"

    async def _keep_leases(self) -> None:
        # Let the replicas started together announce themselves before taking shares, so
        # that partitions are not taken by the first and handed over while traffic flows.
        await self._refresh()
        await asyncio.sleep(self.settings.lease_s)
        while True:
            try:
                await self._refresh()
                await self._rebalance()
            except Exception as err:  # the loop must outlive any one round: it holds leases
                log.warning("lease round failed", durable=self.durable, error=repr(err))
            await asyncio.sleep(self.settings.lease_s / 3)

    async def _refresh(self) -> None:
        """Keep our leases alive (also those being released); a lost one stops its consumer."""
        assert self._kv is not None
        await self._kv.put(self._presence_key, self.replica.encode())
        for index in [*self.held, *self._releasing]:
            key = self._lease_key(index)
            try:
                async with self._lock(key):
                    if key not in self._revisions:
                        continue  # just given back
                    self._revisions[key] = await self._kv.update(
                        key, self.replica.encode(), last=self._revisions[key]
                    )
            except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError):
                if index in self.held:  # (one being released is stopping anyway)
                    log.warning("lease lost", durable=self.durable, partition=index)
                    consumer = self.held.pop(index)
                    grace = self.bus.settings.shutdown_grace_s
                    self._background(self._halt(index, consumer, grace))

    async def _rebalance(self) -> None:
        if self._stopping:
            return
        assert self._kv is not None
        kv = self._kv
        try:
            keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            keys = []
        replicas = sum(1 for k in keys if k.startswith(f"{self.durable}.replica."))
        share = math.ceil(self.settings.partitions / max(replicas, 1))
        leases = {k for k in keys if k.startswith(f"{self.durable}.p")}
        for index in range(self.settings.partitions):
            if len(self.held) >= share:
                break
            key = self._lease_key(index)
            if index in self.held or index in self._releasing:
                continue
            handed_over = False
            try:
                if key in leases:  # held by another, or given back by one that stopped
                    entry = await kv.get(key)
                    if entry.value != FREE or entry.revision is None:
                        continue
                    revision = await kv.update(key, self.replica.encode(), last=entry.revision)
                    handed_over = True
                else:  # never held, or its holder died and the lease ran out
                    revision = await kv.create(key, self.replica.encode())
            except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError):
                continue  # another replica was faster
            self._revisions[key] = revision
            self._take(index, handed_over)
        if len(self.held) > share and not self._releasing:
            # A replica joined: give back one surplus partition per round, in the background
            # (its consumer finishes what it holds first; the lease is kept alive meanwhile).
            index = max(self.held)
            self._releasing.add(index)
            # No hurry here: let the consumer finish its batch, so the hand-over is clean.
            self._background(self._release(index, self.bus.settings.ack_wait_s))

    def _background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _only(handler: Handler, index: int, partitions: int) -> Handler:
    async def handle(msg: Msg) -> None:
        if partition_of(msg, partitions) == index:
            await handler(msg)

    return handle


def _only_batch(handler: BatchHandler, index: int, partitions: int) -> BatchHandler:
    async def handle(msgs: list[Msg]) -> list[BaseException | None]:
        mine = [m for m in msgs if partition_of(m, partitions) == index]
        outcomes: dict[int, BaseException | None] = {}
        if mine:
            results = await handler(mine)
            outcomes = {id(m): o for m, o in zip(mine, results, strict=True)}
        return [outcomes.get(id(m)) for m in msgs]

    return handle


def partitioned_consumer(
    bus: Bus,
    *,
    stream: str,
    durable: str,
    handler: Handler | None = None,
    batch_handler: BatchHandler | None = None,
    keys_of: KeysOf = header_keys,
) -> PartitionedConsumer:
    return PartitionedConsumer(
        bus, stream, durable, handler=handler, batch_handler=batch_handler, keys_of=keys_of
    )


__all__ = [
    "LEASES_BUCKET",
    "PartitionSettings",
    "PartitionedConsumer",
    "partition_of",
    "partitioned_consumer",
]
