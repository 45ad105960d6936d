"""Team, priority and category changes by agents over HTTP (real bus and store): recorded
in routing_reasons with the agent, SLA following the new priority, corrections kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from inbox_core.schema import SlaState, utcnow
from inbox_core.settings import CoreSettings
from inbox_core.store import ROUTING_CORRECTIONS, Store

NotifierHarness = Any  # the `notifier` fixture (conftest.py)

TARGETS = {"urgent": [60, 60], "high": [240, 240], "normal": [480, 480], "low": [1440, 1440]}


async def _conversation(
    n: NotifierHarness, conv: str, text: str, **decision: Any
) -> dict[str, Any]:
    await n.publish(n.routed(1, conv, text=text, **decision))
    return await n.wait_for(f"/api/conversations/{conv}", lambda b: b["message_count"] == 1)


async def _corrections() -> dict[str, dict[str, Any]]:
    store = Store(CoreSettings())
    try:
        return {d["_id"]: d async for d in store.db[ROUTING_CORRECTIONS].find({})}
    finally:
        await store.close()


async def test_team_change_moves_the_category_and_is_kept_as_a_correction(
    notifier: NotifierHarness,
) -> None:
    await _conversation(
        notifier, "c1", "택배 실종된 듯요 ㅠ", team="general", category="general", tags=[]
    )
    status, body = await notifier.post("/api/conversations/c1/team", {"team": "shipping"})
    assert status == 200, body
    conv = body["conversation"]
    assert conv["team"] == "shipping" and conv["category"] == "shipping"
    assert conv["routing_reasons"][-1] == (
        "team general → shipping by minji (category general → shipping)"
    )
    correction = (await _corrections())["c1"]
    assert correction["text"] == "택배 실종된 듯요 ㅠ"
    assert correction["to_category"] == "shipping" and correction["from_category"] == "general"
    assert correction["agent"] == "minji" and correction["kind"] == "team"
    updated = await notifier.events(1, types="conversation.updated")
    assert updated[-1]["data"]["conversation"]["team"] == "shipping"


async def test_team_that_handles_the_current_category_keeps_it_and_an_explicit_one_wins(
    notifier: NotifierHarness,
) -> None:
    await _conversation(
        notifier, "c1", "블랙 언제 다시 들어와요", team="general", category="restock", tags=[]
    )
    _, body = await notifier.post("/api/conversations/c1/team", {"team": "product"}, "junho")
    assert body["conversation"]["category"] == "restock"  # the product team handles restock
    assert body["conversation"]["routing_reasons"][-1] == "team general → product by junho"
    _, body = await notifier.post(
        "/api/conversations/c1/team", {"team": "product", "category": "product"}
    )
    assert body["conversation"]["category"] == "product"
    assert (await _corrections())["c1"]["to_category"] == "product"  # the latest one counts


async def test_category_tag_sets_the_category_and_is_a_correction(
    notifier: NotifierHarness,
) -> None:
    await _conversation(notifier, "c1", "품절 언제 풀려요?", team="general", category="general")
    status, body = await notifier.post("/api/conversations/c1/tags", {"add": ["재입고"]})
    assert status == 200, body
    assert body["conversation"]["category"] == "restock"
    assert "재입고" in body["conversation"]["tags"]
    assert body["conversation"]["routing_reasons"][-1] == (
        "category general → restock by minji (tag)"
    )
    assert (await _corrections())["c1"]["kind"] == "tag"
    _, body = await notifier.post("/api/conversations/c1/tags", {"add": ["단골"]})
    assert body["conversation"]["category"] == "restock"  # not a category tag


def _due(conv: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(conv["sla"]["first_response_due"])


async def test_priority_change_moves_the_due_time_to_the_new_prioritys_target(
    notifier: NotifierHarness,
) -> None:
    received = utcnow()
    sla = SlaState(
        policy="normal",
        first_response_minutes=480,
        next_response_minutes=480,
        first_response_due=received + timedelta(days=3),
        priority_minutes=TARGETS,
    )
    before = await _conversation(notifier, "c1", "배송 문의", sla=sla)
    status, body = await notifier.post("/api/conversations/c1/priority", {"priority": "low"})
    assert status == 200, body
    low = body["conversation"]
    assert low["priority"] == "low" and low["sla"]["policy"] == "low"
    # 16 more business hours: at least 16 more hours on the wall clock.
    assert _due(low) - _due(before) >= timedelta(hours=16)
    assert low["routing_reasons"][-1] == "priority normal → low by minji"
    _, body = await notifier.post("/api/conversations/c1/priority", {"priority": "urgent"}, "junho")
    urgent = body["conversation"]
    assert _due(urgent) < _due(before) and urgent["sla"]["policy"] == "urgent"
    assert urgent["routing_reasons"][-1] == "priority low → urgent by junho"


async def test_priority_change_never_moves_past_the_platform_deadline(
    notifier: NotifierHarness,
) -> None:
    received = utcnow()
    platform_due = received + timedelta(hours=20)
    sla = SlaState(
        policy="normal+coupang-call-center",
        first_response_minutes=480,
        first_response_due=platform_due,
        priority_minutes=TARGETS,
        platform_due=platform_due,
        platform_reason="platform deadline coupang-call-center: 24 h wall clock",
    )
    await _conversation(notifier, "c1", "문의", channel="coupang", sla=sla)
    _, body = await notifier.post("/api/conversations/c1/priority", {"priority": "low"})
    assert _due(body["conversation"]) == platform_due.replace(
        microsecond=platform_due.microsecond // 1000 * 1000
    )


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/conversations/nope/team", {"team": "shipping"}, 404),
        ("/api/conversations/c1/team", {"team": ""}, 422),
        ("/api/conversations/c1/team", {"team": "shipping", "category": "Bad Name"}, 422),
        ("/api/conversations/c1/priority", {"priority": "asap"}, 422),
        ("/api/conversations/nope/priority", {"priority": "high"}, 404),
    ],
    ids=["team-unknown-conversation", "team-blank", "bad-category", "bad-priority",
         "priority-unknown-conversation"],
)  # fmt: skip
async def test_bad_team_and_priority_requests_are_refused_and_change_nothing(
    notifier: NotifierHarness, path: str, body: dict[str, Any], status: int
) -> None:
    await _conversation(notifier, "c1", "배송 문의")
    got, answer = await notifier.post(path, body)
    assert got == status, answer
    conv = await notifier.get("/api/conversations/c1")
    assert conv["team"] == "shipping" and conv["priority"] == "normal"
    assert await _corrections() == {}


async def test_admins_see_corrections_per_category_and_agents_are_refused(
    notifier: NotifierHarness,
) -> None:
    for n, text in enumerate(["택배 실종", "소포 어디", "품절 언제 풀려요"]):
        await notifier.publish(
            notifier.routed(n + 1, f"c{n}", text=text, team="general", category="general")
        )
        await notifier.wait_for(f"/api/conversations/c{n}", lambda b: b["message_count"] == 1)
    await notifier.post("/api/conversations/c0/team", {"team": "shipping"})
    await notifier.post("/api/conversations/c1/team", {"team": "shipping"}, "junho")
    await notifier.post("/api/conversations/c2/tags", {"add": ["재입고"]})
    body = await notifier.get("/api/routing")
    assert body["corrections"] == {"total": 3, "by_category": {"restock": 1, "shipping": 2}}
    assert body["model"]["version"] == 0  # no retrain yet
    async with notifier.http.get(
        f"{notifier.url}/api/routing", headers={"Authorization": "Bearer token-junho"}
    ) as resp:
        assert resp.status == 403
    status, answer = await notifier.post("/api/routing/retrain", {}, "junho")
    assert status == 403 and answer["code"] == "forbidden"


async def test_retrain_without_a_running_router_is_503(notifier: NotifierHarness) -> None:
    status, body = await notifier.post("/api/routing/retrain", {})
    assert status == 503 and body["code"] == "router_unavailable"
