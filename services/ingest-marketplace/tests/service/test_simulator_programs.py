"""The simulators as programs (`inbox-sim-*  --seed`): each serves seeded Korean questions
on its admin endpoint, for `make demo`."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import aiohttp
import pytest

from inbox_core.embedded import free_port

PROGRAMS = [
    (
        "naver_commerce",
        ["--client-id", "demo-client", "--client-secret", "$2a$04$abcdefghijklmnopqrstuu"],
        "/_sim/qnas",
        "question",
        3,
    ),
    (
        "coupang",
        ["--access-key", "ak-demo", "--secret-key", "sk-demo", "--vendor-id", "A00012345"],
        "/_sim/online-inquiries",
        "content",
        2,
    ),
    ("elevenst", ["--api-key", "demo-key"], "/_sim/qnas", "brdInfoCont", 2),
]


@pytest.mark.parametrize(
    ("module", "args", "admin", "field", "count"), PROGRAMS, ids=[p[0] for p in PROGRAMS]
)
async def test_simulator_program_serves_seeded_questions(
    http: aiohttp.ClientSession,
    eventually: Any,
    module: str,
    args: list[str],
    admin: str,
    field: str,
    count: int,
) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"inbox_ingest_marketplace.simulators.{module}",
        "--port",
        str(port),
        *args,
        "--seed",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def seeded() -> list[dict[str, Any]] | None:
            try:
                async with http.get(f"http://127.0.0.1:{port}{admin}") as resp:
                    return (await resp.json())["contents"] if resp.status == 200 else None
            except aiohttp.ClientConnectionError:
                return None

        items = await eventually(seeded, timeout=30, what="simulator up")
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)

    assert len(items) == count
    assert all(any("\uac00" <= c <= "\ud7a3" for c in item[field]) for item in items)
