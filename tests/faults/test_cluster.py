"""Fault injection with a 3-node NATS cluster (R3 streams, distinct ports and store dirs on this
machine): the whole stack runs against the cluster, one node is killed with SIGKILL mid-stream
and brought back on the same ports and store dir; every message must be in the queue exactly
once, and the node must catch up."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import aiohttp
import nats
import pytest
from nats.js import JetStreamContext

from inbox_core import subjects
from inbox_core.testing.cluster import NatsCluster
from inbox_core.testing.stack import StackHarness, assert_exactly_once

pytestmark = pytest.mark.e2e

N = 150
SENDERS = 8
STREAMS = [
    subjects.STREAM_INBOUND,
    subjects.STREAM_ROUTED,
    subjects.STREAM_EVENTS,
    subjects.STREAM_OUTBOUND,
    subjects.STREAM_DLQ,
]


@dataclass
class ClusterStack:
    cluster: NatsCluster
    harness: StackHarness


@pytest.fixture
async def clustered() -> AsyncIterator[ClusterStack]:
    root = Path(tempfile.mkdtemp(prefix="inbox-cluster-"))
    cluster = NatsCluster(root / "nats")
    harness: StackHarness | None = None
    try:
        await asyncio.to_thread(cluster.start)
        # NATS_URL set: the stack starts no embedded nats-server of its own.
        harness = StackHarness(
            root / "stack", {"NATS_URL": cluster.url, "INBOX_STREAM_REPLICAS": "3"}
        )
        await asyncio.to_thread(harness.start)
        yield ClusterStack(cluster, harness)
    finally:
        if harness is not None:
            await asyncio.to_thread(harness.close)
        await asyncio.to_thread(cluster.stop)
        shutil.rmtree(root, ignore_errors=True)


async def _replication_problems(js: JetStreamContext, stream: str) -> list[str]:
    """What keeps a stream (and its durable consumers) from being fully replicated: no leader,
    fewer than 3 replicas, a replica offline or not current. Empty when all is well."""
    info = await js.stream_info(stream)
    problems: list[str] = []
    if info.config.num_replicas != 3:
        problems.append(f"{stream}: {info.config.num_replicas} replicas configured")
    groups = [(stream, info.cluster)]
    for consumer in await js.consumers_info(stream):
        if consumer.config.durable_name:
            groups.append((f"{stream} > {consumer.name}", consumer.cluster))
    for what, cluster in groups:
        if cluster is None or not cluster.leader:
            problems.append(f"{what}: no leader")
            continue
        peers = cluster.replicas or []
        if len(peers) != 2:
            problems.append(f"{what}: {len(peers) + 1} replicas")
        problems += [
            f"{what}: {p.name} offline={p.offline} current={p.current}"
            for p in peers
            if p.offline or not p.current
        ]
    return problems


async def _wait_replicated(js: JetStreamContext, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        problems: list[str] = []
        for stream in STREAMS:
            try:
                problems += await _replication_problems(js, stream)
            except (nats.errors.Error, TimeoutError) as err:  # a leader election going on
                problems.append(f"{stream}: {err!r}")
        if not problems or time.monotonic() > deadline:
            return problems
        await asyncio.sleep(0.25)


def _held_by(cluster: NatsCluster, node: str, stream: str, want: int = N) -> int | None:
    """Messages of a stream in one node's own copy (its /jsz), once it has `want` or after 15s."""
    deadline = time.monotonic() + 15
    while True:
        _, jsz = cluster.node(node).monitor("/jsz?acc=$G&streams=true")
        held = next(
            (
                int(d["state"]["messages"])
                for acc in jsz.get("account_details") or []
                for d in acc.get("stream_detail") or []
                if d.get("name") == stream
            ),
            None,
        )
        if held == want or time.monotonic() > deadline:
            return held
        time.sleep(0.2)


async def test_kill_9_of_a_nats_node_mid_stream_loses_and_duplicates_nothing(
    clustered: ClusterStack,
) -> None:
    cluster, h = clustered.cluster, clustered.harness
    nc = await nats.connect(servers=cluster.urls, connect_timeout=2, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream(timeout=5)
        # Every stream was provisioned by the services with three replicas, each current.
        assert await _wait_replicated(js, timeout=15) == []

        # The node whose loss hurts most: the one leading INBOUND (every webhook's PubAck
        # comes from it), else the meta leader.
        inbound_leader = cluster.stream_leader(subjects.STREAM_INBOUND)
        meta_leader = cluster.meta_leader()
        victim = inbound_leader or meta_leader
        assert victim is not None, "the cluster names no leader"

        # A third is sent with all nodes up; the node is killed and the second third is sent
        # while it is down (the two others must elect new leaders and go on); the last third is
        # held back until the node is started again, so it flows while the node catches up.
        tags = [f"cl{i}" for i in range(N)]
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        for item in enumerate(tags):
            queue.put_nowait(item)
        sent = retried = 0
        accepted: list[float] = []
        third, two_thirds, back = asyncio.Event(), asyncio.Event(), asyncio.Event()
        marks: dict[str, float] = {}

        async def sender(http: aiohttp.ClientSession) -> None:
            nonlocal sent, retried
            while not queue.empty():
                i, tag = queue.get_nowait()
                if i >= 2 * N // 3:
                    await back.wait()
                retried += await h.deliver(http, h.webhook_body(tag)) - 1
                sent += 1
                accepted.append(time.monotonic())
                if sent >= N // 3:
                    third.set()
                if sent >= 2 * N // 3:
                    two_thirds.set()

        async def kill_and_restart() -> None:
            await third.wait()
            marks["sent_at_kill"] = sent
            await asyncio.to_thread(cluster.kill, victim)
            marks["killed"] = time.monotonic()
            try:
                await asyncio.wait_for(two_thirds.wait(), timeout=30)
            except TimeoutError:
                pass  # asserted below, after the node is back and the senders are done
            marks["sent_at_restart"] = sent
            await asyncio.to_thread(cluster.restart, victim)
            marks["back"] = time.monotonic()
            back.set()

        async with aiohttp.ClientSession() as http:
            await asyncio.wait_for(
                asyncio.gather(kill_and_restart(), *(sender(http) for _ in range(SENDERS))),
                timeout=90,
            )
        after_kill = [marks["killed"], *(t for t in accepted if t > marks["killed"])]
        stall = max((b - a for a, b in pairwise(after_kill)), default=0.0)
        print(
            f"\nkilled {victim} (INBOUND leader {inbound_leader}, meta leader {meta_leader}) "
            f"after {marks['sent_at_kill']:.0f} accepted webhooks; down "
            f"{marks['back'] - marks['killed']:.1f}s, {stall:.1f}s without a PubAck (leader "
            f"election), {marks['sent_at_restart'] - marks['sent_at_kill']:.0f} accepted while "
            f"it was down; {retried} webhook retries"
        )
        assert marks["sent_at_restart"] >= 2 * N // 3, "one node of three down stopped the bus"

        expected = [f"m_{t}" for t in tags]
        assert_exactly_once(await h.wait_stored(expected, timeout=60), expected)

        # The node is back and current: /healthz of every node is 200 (JetStream meta,
        # streams and consumers caught up), and every stream and durable consumer again has
        # a leader and two current replicas.
        await asyncio.to_thread(cluster.wait_healthy, 30)
        assert await _wait_replicated(js, timeout=30) == []
        # The Nats-Msg-Id dedup held across the leader change: each webhook once on the bus.
        inbound = await js.stream_info(subjects.STREAM_INBOUND)
        assert inbound.state.messages == N
        # And the restarted node holds all of it, not just the survivors.
        assert await asyncio.to_thread(_held_by, cluster, victim, subjects.STREAM_INBOUND) == N
    finally:
        await nc.close()
