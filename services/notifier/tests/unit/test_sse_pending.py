"""The SSE writer's buffer: everything delivered is written in order, in one take; a client
too far behind is marked for a resume by id instead of holding events without bound."""

import asyncio
from typing import Any

import pytest

from inbox_notifier.stream import _Pending


@pytest.mark.asyncio
async def test_pending_hands_over_what_arrived_in_order_then_starts_empty() -> None:
    pending = _Pending(limit=10)
    for n in range(3):
        await pending.put(n)  # type: ignore[arg-type]
    await asyncio.wait_for(pending.ready.wait(), timeout=1)
    assert pending.take() == [0, 1, 2]
    assert not pending.ready.is_set()
    assert pending.take() == []


@pytest.mark.asyncio
async def test_pending_past_its_limit_keeps_no_more_and_flags_overflow() -> None:
    pending = _Pending(limit=10)
    sent: list[Any] = list(range(25))
    for n in sent:
        await pending.put(n)
    assert pending.overflow
    assert pending.msgs == sent[:10]  # the first ten, no gap among what is kept
