"""Capacity with replicas: the same burst against one router and one notifier, then against
several (`inbox-stack --replicas`), on the machine at hand. On one machine the replicas
share its cores with the store and NATS, so this shows what partitioning costs and whether
the pipeline's bound moves, not what more machines would give.

    python bench/replicas.py [--burst 400] [--configs "router=1,notifier=1;router=3,notifier=2"]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from run_bench import OPEN_HOURS, Pipeline, burst  # bench/ is on sys.path when this script runs

from inbox_core.stack import parse_replicas
from inbox_core.testing.stack import StackHarness, running_stack

SETTLE_S = 20.0


@asynccontextmanager
async def replicated_pipeline(replicas: dict[str, int]) -> AsyncIterator[Pipeline]:
    # Open at every hour, as the main bench's (c): after hours each new conversation would
    # also cost its automatic reply, and the figures would depend on the clock.
    env = {"INBOX_ACK_WAIT_S": "30", "INBOX_MAX_DELIVER": "5", **OPEN_HOURS}
    async with (
        running_stack(env, replicas=replicas) as harness,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http,
    ):
        harness_: StackHarness = harness
        pipe = Pipeline(harness_.env, http)
        ready = asyncio.Event()
        reader = asyncio.create_task(pipe.read_events(ready))
        try:
            await asyncio.wait_for(ready.wait(), 10)
            await asyncio.sleep(SETTLE_S)  # the replicas settle their shares of the partitions
            yield pipe
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def replicas_bench(configs: list[str], count: int, drain_s: float) -> None:
    print(
        f"(f) replicas: a burst of {count} new conversations (50 senders), {os.cpu_count()} cores,"
        " business hours"
    )
    print(f"    {'replicas':<24} {'accepted/s':>10} {'delivered':>9} {'capacity/s':>10}")
    for raw in configs:
        replicas = parse_replicas(raw)
        async with replicated_pipeline(replicas) as pipe:
            r = await burst(pipe, count, 50, drain_s)
        print(
            f"    {raw:<24} {r['accepted_per_s']:>10.0f} {r['delivered']:>9} "
            f"{r['capacity_per_s']:>10.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", type=int, default=400)
    parser.add_argument("--drain", type=float, default=90)
    parser.add_argument(
        "--configs", default="router=1,notifier=1;router=2,notifier=2;router=3,notifier=2"
    )
    args = parser.parse_args()
    asyncio.run(replicas_bench(args.configs.split(";"), args.burst, args.drain))


if __name__ == "__main__":
    main()
