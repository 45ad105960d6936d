"""The scaffolding every platform simulator shares: an injected failure answers the next
`count` calls and then stops; a bad failure spec is refused with the simulator's usage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from inbox_core.simulator import add_failure_route, add_sent_route, take_failure

FAILURES = web.AppKey("failures", list[dict[str, Any]])


def _parse(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": int(spec["status"]), "count": int(spec.get("count", 1))}


def _app() -> web.Application:
    app = web.Application()
    app[FAILURES] = []
    add_failure_route(app, lambda a: a[FAILURES], _parse, usage="expected {status, count?}")
    add_sent_route(app, lambda a: [{"text": "안녕하세요"}])
    return app


def test_a_failure_answers_count_calls_then_the_queue_moves_on() -> None:
    failures = [{"status": 500, "count": 2}, {"status": 429, "count": 1}]

    taken = [take_failure(failures) for _ in range(4)]

    assert [f and f["status"] for f in taken] == [500, 500, 429, None]


@pytest.mark.parametrize(
    ("body", "status"),
    [(b'{"status": 503, "count": 2}', 200), (b'{"count": 2}', 400), (b"[1]", 400)],
    ids=["queued", "missing-status", "not-an-object"],
)
async def test_fail_route_queues_or_refuses(body: bytes, status: int) -> None:
    app = _app()
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/_sim/fail", data=body, timeout=5)
        sent = await (await client.get("/_sim/sent", timeout=5)).json()

    assert resp.status == status
    assert app[FAILURES] == ([{"status": 503, "count": 2}] if status == 200 else [])
    assert sent == {"messages": [{"text": "안녕하세요"}]}
