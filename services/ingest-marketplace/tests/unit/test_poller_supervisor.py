"""A poll loop that dies of an unexpected error is restarted, and /healthz shows why."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from inbox_core.connector import PollStatus
from inbox_ingest_marketplace import app as market_app


@dataclass
class _Channel:
    name: str = "naver_commerce"
    account: str = "smartstore"
    boards: tuple[str, ...] = ("qnas",)


@dataclass
class _Runner:
    channel: _Channel = field(default_factory=_Channel)
    status: dict[str, PollStatus] = field(default_factory=dict)
    runs: int = 0
    restarted: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        self.runs += 1
        if self.runs == 1:
            raise AutoReconnect("store went away while loading the cursor")
        self.restarted.set()
        await asyncio.Event().wait()


async def test_crashed_poll_loop_is_restarted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(market_app, "RESTART_BASE_S", 0.01)
    runner: Any = _Runner()

    task = asyncio.create_task(market_app._supervise(runner))
    try:
        await asyncio.wait_for(runner.restarted.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert runner.runs == 2
    assert "AutoReconnect" in (runner.status["qnas"].last_error or "")
