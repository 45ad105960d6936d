"""`make bench`, in one run on this machine:

(a) raw JetStream publish throughput on an embedded nats-server: the reference;
(b) the store's own bound: the router's and notifier's real store work per message, run
    in-process against the stack's Mongo-wire server with no bus in between, one message at a
    time and in batches of 64 as the consumers take them;
(c) the whole stack, end to end from "webhook accepted" (HTTP 200 from ingest-social) to
    `conversation.created` on the SSE stream: fixed offered loads, then a burst for capacity;
    peak RSS of every process, store round trips per message (from the services' /metrics),
    mean batch sizes, CPU per process; within business hours (open every hour of the week);
(c') the same load at 100 msg/s and burst after hours (today and tomorrow closed), when every
    new conversation also gets the automatic after-hours reply: its send, its delivery report
    and their writes. Both are set, not taken from the clock, so that a run's figures do not
    depend on the hour it runs at (only a Korean public holiday closes the open pass too);
then which bound holds the pipeline (a process's CPU, the machine's, the bus or the store),
and a sampling profile (py-spy) of the busiest process during a second burst;
(d) the queue page at 100,000 conversations; (e) reports at 1,000,000 conversations.

`make soak` (`--soak SECONDS`) offers a steady load for that long and samples RSS.
No pass/fail: it prints figures. Everything runs on loopback, bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
import nats
from nats.js.api import StreamConfig
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from queue_page import queue_page_bench  # bench/ is on sys.path when this script runs
from reports_bench import reports_bench
from service_figures import Profiler, mean_batch, round_trips, scrape
from store_bound import store_bound

from inbox_core.calendar import ENV_BUSINESS_HOURS, ENV_CLOSED_DAYS, BusinessCalendar
from inbox_core.embedded import free_port, start_nats
from inbox_core.schema import utcnow
from inbox_core.testing.stack import TOKEN, StackHarness, running_stack

# A new conversation crosses the bus four times: inbound, routed, and two events
# (conversation.created, message.created).
PUBLISHES_PER_MESSAGE = 4


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


def _proc_files(run_dir: Path, name: str) -> dict[str, str]:
    """`/proc/<pid>/<name>` of every process the stack started (from its pid files)."""
    texts = {}
    for pid_file in sorted(run_dir.glob("*.pid")):
        try:
            texts[pid_file.stem] = Path(f"/proc/{pid_file.read_text().strip()}/{name}").read_text()
        except OSError:
            continue
    return texts


def rss_mb(run_dir: Path) -> dict[str, float]:
    """Resident memory of every process the stack started."""
    return {
        proc: int(line.split()[1]) / 1024
        for proc, status in _proc_files(run_dir, "status").items()
        for line in status.splitlines()
        if line.startswith("VmRSS:")
    }


def cpu_s(run_dir: Path) -> dict[str, float]:
    """CPU seconds (user + system) every process of the stack has used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for proc, stat in _proc_files(run_dir, "stat").items():
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        used[proc] = (int(fields[11]) + int(fields[12])) / tick
    return used


class PeakRss:
    """Samples every process's RSS once a second; keeps the peak since the last reset."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.peak: dict[str, float] = {}
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._task: asyncio.Task[None] | None = None

    def reset(self) -> dict[str, float]:
        peak, self.peak = self.peak, {}
        return peak

    async def _run(self) -> None:
        start = time.perf_counter()
        while True:
            now = rss_mb(self.run_dir)
            self.samples.append((time.perf_counter() - start, now))
            for name, mb in now.items():
                self.peak[name] = max(mb, self.peak.get(name, 0.0))
            await asyncio.sleep(1)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


def store_ops(mongo_port: int) -> tuple[int, dict[str, int]]:
    """Data operations the store has served so far (serverStatus opcounters), and per
    collection of the inbox (the `top` command, where the server has it)."""
    url = f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true"
    client: MongoClient[dict[str, Any]]
    with MongoClient(url) as client:
        counters = client.admin.command("serverStatus").get("opcounters", {})
        try:
            totals = client.admin.command("top").get("totals", {})
        except PyMongoError:
            totals = {}
    per = {
        ns.removeprefix("inbox."): sum(
            int(v[k].get("count", 0))
            for k in ("queries", "insert", "update", "remove")
            if isinstance(v.get(k), dict)
        )
        for ns, v in totals.items()
        if ns.startswith("inbox.")
    }
    return sum(int(v) for k, v in counters.items() if k != "command"), per


class Pipeline:
    """Sends signed webhooks and times each until its `conversation.created` event."""

    def __init__(self, env: dict[str, str], http: aiohttp.ClientSession) -> None:
        self.api = f"http://127.0.0.1:{env['INBOX_API_PORT']}"
        self.webhook = f"http://127.0.0.1:{env['INBOX_SOCIAL_PORT']}/webhooks/facebook"
        self.http = http
        self.accepted: dict[str, float] = {}
        self.created: dict[str, float] = {}
        self.refused = 0

    async def read_events(self, ready: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.http.get(
            f"{self.api}/api/events", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout
        ) as resp:
            ready.set()
            async for raw in resp.content:
                if not raw.startswith(b"data: "):
                    continue
                body = json.loads(raw[6:])
                if body["type"] != "conversation.created":
                    continue
                tag = (body["conversation"].get("preview") or "").split(" ")[-1]
                self.created.setdefault(tag, time.perf_counter())

    async def send(self, tag: str) -> None:
        body = StackHarness.webhook_body(tag)
        headers = {"X-Hub-Signature-256": StackHarness.sign(body)}
        headers["Content-Type"] = "application/json"
        async with self.http.post(self.webhook, data=body, headers=headers) as resp:
            if resp.status == 200:
                self.accepted[tag] = time.perf_counter()
            else:
                self.refused += 1

    async def drain(self, tags: list[str], timeout: float) -> float:
        """Wait until every accepted message has its event; returns when the last came."""
        deadline = time.perf_counter() + timeout
        pending = [t for t in tags if t in self.accepted]
        # The SSE reader task fills `created`; polling it is simpler than one event per tag.
        while time.perf_counter() < deadline and not all(t in self.created for t in pending):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return max((self.created[t] for t in pending if t in self.created), default=0.0)

    def latencies_ms(self, tags: list[str]) -> list[float]:
        return [
            (self.created[t] - self.accepted[t]) * 1000
            for t in tags
            if t in self.created and t in self.accepted
        ]


# Open at every hour of the week: no automatic after-hours replies.
OPEN_HOURS: Final = {ENV_BUSINESS_HOURS: "mon-sun 00:00-24:00"}


def after_hours() -> dict[str, str]:
    """Today and tomorrow (in the shop's time zone) closed: every new conversation gets the
    automatic after-hours reply."""
    today = BusinessCalendar.from_env(OPEN_HOURS).local_date(utcnow())
    return {**OPEN_HOURS, ENV_CLOSED_DAYS: f"{today}..{today + timedelta(days=1)}"}


def hours_in_effect(env: dict[str, str]) -> str:
    if BusinessCalendar.from_env(env).is_open(utcnow()):
        return "business hours"
    return "after hours: every new conversation also gets the automatic reply"


@asynccontextmanager
async def stack_with_pipeline(
    limit: int = 100, hours: dict[str, str] | None = None
) -> AsyncIterator[tuple[StackHarness, Pipeline]]:
    """The whole stack (business hours as `hours` sets them, the default calendar when not
    given), and a Pipeline whose SSE reader is connected."""
    env = {"INBOX_ACK_WAIT_S": "30", "INBOX_MAX_DELIVER": "5", **(hours or {})}
    async with (
        running_stack(env) as harness,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit)) as http,
    ):
        pipe = Pipeline(harness.env, http)
        ready = asyncio.Event()
        reader = asyncio.create_task(pipe.read_events(ready))
        try:
            await asyncio.wait_for(ready.wait(), 10)
            yield harness, pipe
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def offered_load(
    pipe: Pipeline, label: str, rate: float, count: int, drain_s: float
) -> dict[str, Any]:
    tags = [f"{label}n{i}" for i in range(count)]
    start = time.perf_counter()
    tasks = []
    for i, tag in enumerate(tags):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(pipe.send(tag)))
    await asyncio.gather(*tasks)
    last = await pipe.drain(tags, drain_s)
    lat = pipe.latencies_ms(tags)
    return {
        "offered_per_s": rate,
        "sent": len(tags),
        "accepted": sum(1 for t in tags if t in pipe.accepted),
        "delivered": len(lat),
        "throughput_per_s": len(lat) / max(last - start, 1e-9) if lat else 0.0,
        "p50_ms": pct(lat, 50),
        "p95_ms": pct(lat, 95),
        "p99_ms": pct(lat, 99),
        "mean_ms": statistics.fmean(lat) if lat else float("nan"),
    }


async def burst(
    pipe: Pipeline, count: int, senders: int, drain_s: float, prefix: str = "B"
) -> dict[str, Any]:
    """As many messages as the connector accepts, `senders` at a time: the capacity is the
    rate at which their conversations come out."""
    tags = [f"{prefix}{i}" for i in range(count)]
    queue = list(reversed(tags))

    async def sender() -> None:
        while queue:
            await pipe.send(queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    sent_s = time.perf_counter() - start
    last = await pipe.drain(tags, drain_s)
    delivered = sum(1 for t in tags if t in pipe.created)
    return {
        "sent": count,
        "accepted_per_s": sum(1 for t in tags if t in pipe.accepted) / sent_s,
        "delivered": delivered,
        "capacity_per_s": delivered / max(last - start, 1e-9) if delivered else 0.0,
        "seconds": max(last - start, 1e-9),
    }


def print_loads(results: list[dict[str, Any]], names: list[str]) -> None:
    print(
        f"    {'offered/s':>9} {'sent':>5} {'accepted':>8} {'delivered':>9} {'e2e/s':>6} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}  peak RSS MB: " + " ".join(names)
    )
    for r in results:
        rss = " ".join(f"{r['rss_mb'].get(n, float('nan')):>{len(n)}.0f}" for n in names)
        print(
            f"    {r['offered_per_s']:>9.0f} {r['sent']:>5} {r['accepted']:>8} "
            f"{r['delivered']:>9} {r['throughput_per_s']:>6.1f} {r['p50_ms']:>7.0f} "
            f"{r['p95_ms']:>7.0f} {r['p99_ms']:>7.0f}               {rss}"
        )


async def run_bench(args: argparse.Namespace) -> None:
    load_avg = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load_avg[0]:.1f} at the start")
    print(f"(a) raw JetStream publish, {args.publish} x 1 KiB, embedded nats-server")
    raw = await bench_publish(args.publish)
    raw_rate = raw["async_msgs_per_s"]
    print(f"    async publish (window 1000): {raw_rate:>9.0f} msg/s")
    print(f"    sync publish (await PubAck): {raw['sync_msgs_per_s']:>9.0f} msg/s")

    async with stack_with_pipeline(limit=200, hours=OPEN_HOURS) as (harness, pipe):
        mongo_url = f"mongodb://127.0.0.1:{harness.mongo_port}/?directConnection=true"
        print(
            f"(b) store bound: router + notifier store work, {args.store_n} new conversations, "
            "in batches as the consumers take them"
        )
        bound = {c: await store_bound(mongo_url, args.store_n, c) for c in (1, 64)}
        for c, b in bound.items():
            detail = ", ".join(f"{k} {v:.2f}" for k, v in b["trips_detail"].items() if v >= 0.01)
            print(
                f"    batches of {c:>2}: {b['msgs_per_s']:>6.1f} msg/s, "
                f"{b['trips_per_msg']:.2f} store round trips per message ({detail})"
            )
        store_rate = max(b["msgs_per_s"] for b in bound.values())

        loads = [float(x) for x in args.loads.split(",")]
        print(
            f"(c) end to end: webhook accepted -> conversation.created on SSE; each load "
            f"{args.seconds:g} s (at most {args.max_messages} messages); "
            f"{hours_in_effect(harness.env)}"
        )
        results = []
        run_dir = Path(harness.env["INBOX_DATA_DIR"]) / "run"
        with PeakRss(run_dir) as rss:
            for load in loads:
                count = min(args.max_messages, max(1, int(load * args.seconds)))
                r = await offered_load(pipe, f"L{load:g}", load, count, args.drain)
                r["rss_mb"] = rss.reset()
                results.append(r)
            services = {
                "router": f"http://127.0.0.1:{harness.env['INBOX_ROUTER_PORT']}",
                "notifier": f"http://127.0.0.1:{harness.env['INBOX_API_PORT']}",
            }
            scraped = {n: await scrape(pipe.http, u) for n, u in services.items()}
            ops_before = await asyncio.to_thread(store_ops, harness.mongo_port)
            cpu_before = cpu_s(run_dir)
            cap = await burst(pipe, args.burst, 50, args.drain)
            cpu_after = cpu_s(run_dir)
            ops_after = await asyncio.to_thread(store_ops, harness.mongo_port)
            after = {n: await scrape(pipe.http, u) for n, u in services.items()}
            trips = {n: round_trips(scraped[n], after[n]) for n in services}
            batches = {n: mean_batch(scraped[n], after[n]) for n in services}
            ops = ops_after[0] - ops_before[0]
            per_collection = {
                name: n - ops_before[1].get(name, 0) for name, n in ops_after[1].items()
            }
            cap["rss_mb"] = rss.reset()
            busy = {n: cpu_after[n] - cpu_before.get(n, 0.0) for n in cpu_after}
            busiest = max(busy, key=lambda n: busy[n])
            profile: list[str] = []
            if args.profile_burst:
                # A second burst with a sampling profiler on the busiest process (not during
                # the measured one: sampling costs that process some time).
                pid = int((run_dir / f"{busiest}.pid").read_text().strip())
                profiler = Profiler(pid)
                if await profiler.start():
                    await burst(pipe, args.profile_burst, 50, args.drain, prefix="P")
                    await profiler.stop()
                profile = profiler.summary()

    names = sorted({n for r in [*results, cap] for n in r["rss_mb"]})
    print_loads(results, names)
    print(
        f"    burst of {cap['sent']} (50 senders): accepted {cap['accepted_per_s']:.0f}/s, "
        f"{cap['delivered']} delivered, capacity {cap['capacity_per_s']:.1f} new "
        f"conversations/s, {ops / max(cap['delivered'], 1):.1f} store ops each; peak RSS MB "
        + ", ".join(f"{n}={cap['rss_mb'].get(n, float('nan')):.0f}" for n in names)
    )
    each = max(cap["delivered"], 1)
    if per_collection:
        print(
            "    store ops per message by collection (server opcounters): "
            + ", ".join(
                f"{name} {n / each:.1f}"
                for name, n in sorted(per_collection.items(), key=lambda x: -x[1])
                if n / each >= 0.05
            )
        )
    all_trips = sum(sum(t.values()) for t in trips.values())
    print(
        f"    store round trips per message (commands the services sent): {all_trips / each:.2f}"
        + "".join(
            f"; {n} {sum(t.values()) / each:.2f} ("
            + ", ".join(f"{c} {v / each:.2f}" for c, v in t.most_common() if v / each >= 0.01)
            + ")"
            for n, t in trips.items()
        )
    )
    print(
        "    mean batch: "
        + ", ".join(
            f"{n} {size:.1f} messages ({count} batches)" for n, (size, count) in batches.items()
        )
    )
    print(
        f"    CPU during the burst ({cap['seconds']:.1f} s, {os.cpu_count()} cores), "
        "share of one core: "
        + ", ".join(
            f"{n}={busy[n] / cap['seconds']:.0%}" for n in sorted(busy, key=lambda n: -busy[n])
        )
    )
    cores = os.cpu_count() or 1
    cpu_ms = {n: busy[n] / each * 1000 for n in busy if busy[n] > 0}
    print(
        "    CPU per message (ms): "
        + ", ".join(f"{n} {cpu_ms[n]:.1f}" for n in sorted(cpu_ms, key=lambda n: -cpu_ms[n]))
    )
    per_process = min(cpu_ms, key=lambda n: 1000 / cpu_ms[n])
    ceiling = {
        f"{per_process} on one core": 1000 / cpu_ms[per_process],
        f"the stack on {cores} cores": cores * 1000 / sum(cpu_ms.values()),
    }
    limit_name = min(ceiling, key=lambda n: ceiling[n])
    print(
        f"    CPU ceiling on an otherwise idle machine: {ceiling[limit_name]:.0f}/s "
        f"({limit_name}; "
        + ", ".join(f"{n} {v:.0f}/s" for n, v in ceiling.items())
        + f"); load average during the bench {load_avg[0]:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    bus_rate = raw_rate / PUBLISHES_PER_MESSAGE
    capacity = cap["capacity_per_s"]
    print("bounds:")
    print(
        f"    bus:   {bus_rate:>8.0f} msg/s  (raw async publish / {PUBLISHES_PER_MESSAGE} "
        "publishes per message)"
    )
    print(f"    store: {store_rate:>8.1f} msg/s  (b), the store's work with no bus in between")
    print(f"    bound: {name_bound(busy, cap['seconds'], cpu_ms)}")
    print(
        f"    pipeline capacity {capacity:.1f}/s = {capacity / raw_rate:.4f} of raw JetStream "
        f"({raw_rate:.0f} msg/s; target 0.03)"
    )
    if profile:
        print(f"profile of the busiest process ({busiest}) during a second burst:")
        for line in profile:
            print(f"    {line}")
    if args.after_hours_load:
        await after_hours_bench(args)


async def after_hours_bench(args: argparse.Namespace) -> None:
    """(c'): the stack on a closed day, one offered load and a burst."""
    async with stack_with_pipeline(limit=200, hours=after_hours()) as (harness, pipe):
        print(f"(c') end to end, {hours_in_effect(harness.env)}")
        await offered_load(pipe, "W", 20, 40, args.drain)  # the connector's first sends
        run_dir = Path(harness.env["INBOX_DATA_DIR"]) / "run"
        with PeakRss(run_dir) as rss:
            rate = args.after_hours_load
            count = min(args.max_messages, max(1, int(rate * args.seconds)))
            r = await offered_load(pipe, f"A{rate:g}", rate, count, args.drain)
            r["rss_mb"] = rss.reset()
            cap = await burst(pipe, args.burst, 50, args.drain, prefix="AB")
            cap["rss_mb"] = rss.reset()
    names = sorted({n for x in (r, cap) for n in x["rss_mb"]})
    print_loads([r], names)
    print(
        f"    burst of {cap['sent']} (50 senders): capacity {cap['capacity_per_s']:.1f} new "
        "conversations/s; peak RSS MB "
        + ", ".join(f"{n}={cap['rss_mb'].get(n, float('nan')):.0f}" for n in names)
    )


def name_bound(busy: dict[str, float], seconds: float, cpu_ms: dict[str, float]) -> str:
    """Which resource holds the pipeline: a process using a whole core (Python runs one
    thread at a time), else the machine's cores, else the process with the most CPU per
    message (what would bind on an idle machine; the bus is far from it, see above)."""
    cores = os.cpu_count() or 1
    shares = {n: b / max(seconds, 1e-9) for n, b in busy.items()}
    top = max(shares, key=lambda n: shares[n])
    used = sum(shares.values())
    if shares[top] >= 0.85:
        return f"{top}'s CPU: {top} used {shares[top]:.0%} of one core (one Python process)"
    heavy = max(cpu_ms, key=lambda n: cpu_ms[n])
    per = f"{heavy}'s CPU, {cpu_ms[heavy]:.1f} ms per message (<= {1000 / cpu_ms[heavy]:.0f}/s)"
    if used >= 0.85 * cores:
        return f"the machine's CPU: the stack used {used:.1f} of {cores} cores; then {per}"
    return (
        f"{per}; during this run the stack got only {used:.1f} of {cores} cores "
        f"(busiest {top} {shares[top]:.0%}): the rest went to other work on the machine"
    )


async def soak(args: argparse.Namespace) -> None:
    count = int(args.soak * args.soak_rate)
    print(f"soak: {args.soak_rate:g} msg/s for {args.soak:.0f} s ({count} messages)")
    async with stack_with_pipeline() as (harness, pipe):
        with PeakRss(Path(harness.env["INBOX_DATA_DIR"]) / "run") as rss:
            r = await offered_load(pipe, "S", args.soak_rate, count, args.drain)
            samples = list(rss.samples)
    print(
        f"    delivered {r['delivered']}/{r['sent']}, p50 {r['p50_ms']:.0f} ms, "
        f"p99 {r['p99_ms']:.0f} ms"
    )
    names = sorted({n for _, s in samples for n in s})
    step = max(1, len(samples) // 10)
    print(f"    {'t (s)':>6} " + " ".join(f"{n:>13}" for n in names))
    for t, s in [*samples[::step], samples[-1]]:
        print(f"    {t:>6.0f} " + " ".join(f"{s.get(n, float('nan')):>13.1f}" for n in names))
    # Growth over the second half, once caches and pools have filled.
    half = samples[len(samples) // 2 :]
    print("    RSS growth over the second half (MB):")
    for n in names:
        values = [s[n] for _, s in half if n in s]
        if values:
            print(f"      {n}: {values[-1] - values[0]:+.1f} (max {max(values):.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publish", type=int, default=20000)
    parser.add_argument("--store-n", type=int, default=200)
    parser.add_argument("--loads", default="10,40,100,500")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--max-messages", type=int, default=400)
    parser.add_argument("--burst", type=int, default=400)
    parser.add_argument(
        "--after-hours-load", type=float, default=100, help="(c'), msg/s; 0 skips it"
    )
    parser.add_argument("--drain", type=float, default=90)
    parser.add_argument(
        "--profile-burst", type=int, default=300, help="profiled second burst; 0 skips it"
    )
    parser.add_argument("--soak", type=float, default=0, help="run a soak of this many seconds")
    parser.add_argument("--soak-rate", type=float, default=5)
    parser.add_argument("--page-n", type=int, default=100_000, help="(d): 0 skips it")
    parser.add_argument("--reports-n", type=int, default=1_000_000, help="(e): 0 skips it")
    args = parser.parse_args()
    asyncio.run(soak(args) if args.soak else run_bench(args))
    if args.page_n and not args.soak:
        asyncio.run(queue_page_bench(args.page_n))
    if args.reports_n and not args.soak:
        asyncio.run(reports_bench(args.reports_n))


if __name__ == "__main__":
    main()
