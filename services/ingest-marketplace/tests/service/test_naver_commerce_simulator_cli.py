"""`inbox-sim-naver-commerce --seed` as a program: it serves seeded Korean questions."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import aiohttp

from inbox_core.embedded import free_port


async def test_simulator_program_serves_seeded_questions(
    naver_credentials: Any, http: aiohttp.ClientSession, eventually: Any
) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inbox_ingest_marketplace.simulators.naver_commerce",
        "--port",
        str(port),
        "--client-id",
        naver_credentials.client_id,
        "--client-secret",
        naver_credentials.client_secret,
        "--seed",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def seeded() -> list[dict[str, Any]] | None:
            try:
                async with http.get(f"http://127.0.0.1:{port}/_sim/qnas") as resp:
                    return (await resp.json())["contents"] if resp.status == 200 else None
            except aiohttp.ClientConnectionError:
                return None

        items = await eventually(seeded, timeout=30, what="simulator up")
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)

    text = " ".join(i["question"] for i in items)
    assert len(items) == 3
    assert all(word in text for word in ("사이즈", "재입고", "배송"))
