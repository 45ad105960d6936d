"""`make bench`: (a) raw JetStream publish throughput on the embedded nats-server, and
(b) end-to-end throughput and latency from "webhook accepted" (HTTP 200 from ingest-social)
to `conversation.created` on the SSE stream, at fixed offered loads, over the whole stack.

No pass/fail: it prints figures. Everything runs on loopback, bounded in count and time.
Usage: bench/run_bench.py [--publish N] [--loads 25,50,100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import nats
from nats.js.api import StreamConfig

from inbox_core.embedded import free_port, start_nats
from inbox_core.testing.stack import TOKEN, StackHarness


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


async def bench_publish(n: int, size: int = 1024, window: int = 1000) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-nats-"))
    port = free_port()
    proc = start_nats(tmp, port)
    try:
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream(publish_async_max_pending=window)
        await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.>"]))
        payload = b"x" * size
        start = time.perf_counter()
        for i in range(n):
            await js.publish_async(f"bench.{i % 16}", payload, headers={"Nats-Msg-Id": f"a{i}"})
        await js.publish_async_completed()
        async_rate = n / (time.perf_counter() - start)
        sync_n = max(1, n // 10)
        start = time.perf_counter()
        for i in range(sync_n):
            await js.publish(f"bench.{i % 16}", payload, headers={"Nats-Msg-Id": f"s{i}"})
        sync_rate = sync_n / (time.perf_counter() - start)
        await nc.close()
    finally:
        proc.kill()
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"async_msgs_per_s": async_rate, "sync_msgs_per_s": sync_rate}


def rss_mb(run_dir: Path) -> dict[str, float]:
    """Resident memory of every process the stack started (from its pid files)."""
    sizes = {}
    for pid_file in sorted(run_dir.glob("*.pid")):
        try:
            status = Path(f"/proc/{pid_file.read_text().strip()}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                sizes[pid_file.stem] = int(line.split()[1]) / 1024
    return sizes


async def bench_end_to_end(
    env: dict[str, str], loads: list[int], seconds: float
) -> list[dict[str, Any]]:
    api = f"http://127.0.0.1:{env['INBOX_API_PORT']}"
    webhook = f"http://127.0.0.1:{env['INBOX_SOCIAL_PORT']}/webhooks/facebook"
    accepted: dict[str, float] = {}
    latencies: dict[str, float] = {}
    results = []
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as http:
        sse_ready = asyncio.Event()

        async def read_events() -> None:
            timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
            async with http.get(
                f"{api}/api/events", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout
            ) as resp:
                sse_ready.set()
                async for raw in resp.content:
                    if not raw.startswith(b"data: "):
                        continue
                    body = json.loads(raw[6:])
                    if body["type"] != "conversation.created":
                        continue
                    tag = (body["conversation"].get("preview") or "").split(" ")[-1]
                    if tag in accepted and tag not in latencies:
                        latencies[tag] = time.perf_counter() - accepted[tag]

        reader = asyncio.create_task(read_events())
        await asyncio.wait_for(sse_ready.wait(), 10)

        async def send(tag: str) -> None:
            body = StackHarness.webhook_body(tag)
            async with http.post(
                webhook,
                data=body,
                headers={
                    "X-Hub-Signature-256": StackHarness.sign(body),
                    "Content-Type": "application/json",
                },
            ) as resp:
                if resp.status == 200:
                    accepted[tag] = time.perf_counter()

        for load in loads:
            tags = [f"L{load}n{i}" for i in range(int(load * seconds))]
            start = time.perf_counter()
            tasks = []
            for i, tag in enumerate(tags):
                delay = start + i / load - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send(tag)))
            await asyncio.gather(*tasks)
            offered_s = time.perf_counter() - start
            deadline = time.perf_counter() + 60
            pending = [t for t in tags if t in accepted]
            # The SSE reader task fills `latencies`; poll it until every message arrived.
            while time.perf_counter() < deadline:
                if all(t in latencies for t in pending):
                    break
                await asyncio.sleep(0.1)
            done_s = time.perf_counter() - start
            lat = [latencies[t] * 1000 for t in tags if t in latencies]
            results.append(
                {
                    "offered_per_s": load,
                    "sent": len(tags),
                    "accepted": sum(1 for t in tags if t in accepted),
                    "delivered": len(lat),
                    "throughput_per_s": len(lat) / done_s,
                    "send_s": offered_s,
                    "p50_ms": pct(lat, 50),
                    "p95_ms": pct(lat, 95),
                    "p99_ms": pct(lat, 99),
                    "mean_ms": statistics.fmean(lat) if lat else float("nan"),
                    "rss_mb": rss_mb(Path(env["INBOX_DATA_DIR"]) / "run"),
                }
            )
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publish", type=int, default=20000)
    parser.add_argument("--loads", default="25,50,100,200")
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()

    print(f"(a) raw JetStream publish, {args.publish} x 1 KiB, same embedded nats-server")
    raw = await bench_publish(args.publish)
    print(f"    async publish (window 1000): {raw['async_msgs_per_s']:>9.0f} msg/s")
    print(f"    sync publish (await PubAck): {raw['sync_msgs_per_s']:>9.0f} msg/s")

    data_dir = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    harness = StackHarness(data_dir, {"INBOX_ACK_WAIT_S": "30", "INBOX_MAX_DELIVER": "5"})
    await asyncio.to_thread(harness.start)
    env = harness.env
    try:
        loads = [int(x) for x in args.loads.split(",")]
        print(
            "(b) end to end: webhook accepted -> conversation.created on SSE, "
            f"{args.seconds:.0f} s per load"
        )
        results = await bench_end_to_end(env, loads, args.seconds)
    finally:
        await asyncio.to_thread(harness.close)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(
        f"    {'offered/s':>9} {'sent':>6} {'accepted':>8} {'delivered':>9} {'e2e/s':>7} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    )
    for r in results:
        print(
            f"    {r['offered_per_s']:>9} {r['sent']:>6} {r['accepted']:>8} {r['delivered']:>9} "
            f"{r['throughput_per_s']:>7.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
            f"{r['p99_ms']:>8.1f}"
        )
    print("    RSS (MB) at the end of each load:")
    for r in results:
        print(
            f"    {r['offered_per_s']:>9}/s  "
            + "  ".join(f"{name}={mb:.0f}" for name, mb in r["rss_mb"].items())
        )
    best = max(r["throughput_per_s"] for r in results)
    print(
        f"ratio: best end-to-end {best:.1f}/s vs raw async publish "
        f"{raw['async_msgs_per_s']:.0f}/s = {best / raw['async_msgs_per_s']:.4f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
