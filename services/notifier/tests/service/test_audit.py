"""The audit log over HTTP on the real bus and store: every successful agent action is
recorded by the middleware (who, when, what, which conversation), failures and reads are not,
only admins may read it, and neither tokens nor message texts ever appear in it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from inbox_core.schema import utcnow
from inbox_core.settings import CoreSettings
from inbox_core.store import Store
from inbox_notifier.audit import AUDIT

NotifierHarness = Any  # the `notifier` fixture (conftest.py): minji is admin, junho an agent

SECRET_TEXT = "카드번호는 말씀드린 대로입니다"


async def test_every_action_is_recorded_with_who_what_and_which_conversation(
    notifier: NotifierHarness,
) -> None:
    started = utcnow() - timedelta(seconds=1)
    await notifier.publish(notifier.routed(1, "c1"))
    await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    actions = [
        ("junho", "/api/conversations/c1/assign", {"assignee": "junho"}),
        ("junho", "/api/conversations/c1/reply", {"text": SECRET_TEXT}),
        ("junho", "/api/conversations/c1/notes", {"text": SECRET_TEXT, "agent": "사장님"}),
        ("junho", "/api/conversations/c1/tags", {"add": ["환불"]}),
        ("junho", "/api/conversations/c1/status", {"status": "resolved"}),
        ("minji", "/api/canned-responses", {"title": "인사", "text": "안녕하세요"}),
    ]
    for agent, path, body in actions:
        status, answer = await notifier.post(path, body, agent=agent)
        assert status in (200, 201), answer
    # Refused, failed and read-only requests are not actions.
    status, _ = await notifier.post("/api/conversations/c1/assign", {"assignee": "minji"})
    assert status == 409
    status, _ = await notifier.post("/api/canned-responses", {"title": "t", "text": "x"}, "junho")
    assert status == 403
    await notifier.get("/api/conversations/c1", agent="junho")

    audit = await notifier.get("/api/audit", since=started.isoformat())
    entries = list(reversed(audit["items"]))  # newest first
    assert [(e["agent"], e["action"], e["conversation_id"]) for e in entries] == [
        ("junho", "conversations.assign", "c1"),
        ("junho", "conversations.reply", "c1"),
        ("junho", "conversations.notes", "c1"),
        ("junho", "conversations.tags", "c1"),
        ("junho", "conversations.status", "c1"),
        ("minji", "canned-responses.create", None),
    ]
    assert entries[0]["detail"] == {"assignee": "junho"}
    assert entries[1]["detail"] == {"text_chars": len(SECRET_TEXT)}
    assert entries[4]["detail"] == {"status": "resolved"}
    assert all(e["at"] >= started.isoformat()[:19] for e in entries)
    assert {e["role"] for e in entries} == {"agent", "admin"}
    # limit and the filters
    latest = await notifier.get("/api/audit", limit="1")
    assert [e["action"] for e in latest["items"]] == ["canned-responses.create"]
    async with notifier.http.get(
        f"{notifier.url}/api/audit",
        headers={"Authorization": "Bearer token-minji"},
        params={"agent": "minji"},
    ) as resp:
        mine = await resp.json()
    assert [e["action"] for e in mine["items"]] == ["canned-responses.create"]
    on_c1 = await notifier.get("/api/audit", conversation_id="c1")
    assert len(on_c1["items"]) == 5

    # Neither tokens nor message texts are anywhere in what is stored.
    store = Store(CoreSettings())
    try:
        stored = [d async for d in store.db[AUDIT].find()]
    finally:
        await store.close()
    dump = repr(stored)
    assert len(stored) == len(actions)
    for secret in ("token-minji", "token-junho", SECRET_TEXT, "Bearer"):
        assert secret not in dump


async def test_only_admins_read_the_audit_log(notifier: NotifierHarness) -> None:
    async with notifier.http.get(
        f"{notifier.url}/api/audit", headers={"Authorization": "Bearer token-junho"}
    ) as resp:
        assert resp.status == 403
        assert (await resp.json())["code"] == "forbidden"
    async with notifier.http.get(
        f"{notifier.url}/api/audit",
        headers={"Authorization": "Bearer token-minji"},
        params={"since": "yesterday"},
    ) as resp:
        assert resp.status == 422


async def test_a_bulk_action_is_recorded_once_per_conversation_it_changed(
    notifier: NotifierHarness,
) -> None:
    for n, conv in enumerate(("b1", "b2"), start=1):
        await notifier.publish(notifier.routed(n, conv))
        await notifier.wait_for(f"/api/conversations/{conv}", lambda b: b["message_count"] == 1)
    status, body = await notifier.post(
        "/api/conversations/bulk", {"ids": ["b1", "missing", "b2"], "action": "resolve"}, "junho"
    )
    assert status == 200, body
    audit = await notifier.get("/api/audit")
    entries = sorted(
        (e["conversation_id"], e["agent"], e["action"], e["detail"]["action"])
        for e in audit["items"]
    )
    assert entries == [
        ("b1", "junho", "conversations.bulk", "resolve"),
        ("b2", "junho", "conversations.bulk", "resolve"),
    ]
