"""Roles and authorship over HTTP on the real bus and store: admin-only actions answer 403
`forbidden` to agents, the author of every action is the token's agent (a body's `agent` is
ignored), and unassigning or taking over follow the claim rules."""

from __future__ import annotations

from typing import Any

import pytest

from inbox_core.schema import OutboundReply
from inbox_core.testing.http import collect

NotifierHarness = Any  # the `notifier` fixture (conftest.py): minji is admin, junho an agent


async def _conversation(n: NotifierHarness, conv: str = "c1") -> dict[str, Any]:
    await n.publish(n.routed(1, conv))
    return await n.wait_for(f"/api/conversations/{conv}", lambda b: b["message_count"] == 1)


async def _request(
    n: NotifierHarness, method: str, path: str, body: Any, agent: str
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer token-{agent}"}  # conftest.TOKENS
    async with n.http.request(method, f"{n.url}{path}", headers=headers, json=body) as r:
        return r.status, await r.json() if r.content_type == "application/json" else None


ADMIN_ONLY = [
    ("POST", "/api/canned-responses", {"title": "t", "text": "안녕하세요"}),
    ("PUT", "/api/canned-responses/{canned}", {"title": "t", "text": "바뀐 문구"}),
    ("DELETE", "/api/canned-responses/{canned}", None),
    ("POST", "/api/customers/cust-1/merge", {"other_id": "cust-2"}),
    ("POST", "/api/dead-letters/1/replay", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    ADMIN_ONLY,
    ids=["canned-create", "canned-update", "canned-delete", "customer-merge", "dlq-replay"],
)
async def test_admin_only_actions_are_forbidden_to_agents(
    notifier: NotifierHarness, method: str, path: str, body: Any
) -> None:
    _, canned = await notifier.post("/api/canned-responses", {"title": "원본", "text": "원래 문구"})
    path = path.format(canned=canned["id"])
    status, error = await _request(notifier, method, path, body, agent="junho")
    assert status == 403, error
    assert error["code"] == "forbidden"
    # Nothing changed: the canned response is still the admin's.
    listed = await notifier.get("/api/canned-responses", agent="junho")
    assert [(c["title"], c["text"]) for c in listed["items"]] == [("원본", "원래 문구")]


async def test_me_tells_the_role(notifier: NotifierHarness) -> None:
    assert (await notifier.get("/api/me"))["role"] == "admin"
    me = await notifier.get("/api/me", agent="junho")
    assert (me["agent"], me["role"]) == ("junho", "agent")


async def test_the_author_is_the_token_s_agent_whatever_the_body_says(
    notifier: NotifierHarness,
) -> None:
    await _conversation(notifier)
    status, note = await notifier.post(
        "/api/conversations/c1/notes", {"text": "환불 승인", "agent": "사장님"}, agent="junho"
    )
    assert status == 201 and note["message"]["author"] == "junho"
    status, reply = await notifier.post(
        "/api/conversations/c1/reply", {"text": "처리했습니다.", "agent": "사장님"}, agent="junho"
    )
    assert status == 201 and reply["message"]["author"] == "junho"
    [out] = await collect(notifier.bus.js, "inbox.out.mail.cs", 1)
    sent = OutboundReply.from_json(out.data)
    assert sent.agent == "junho"
    # What Meta's connector picks the message type from (RESPONSE / HUMAN_AGENT / refused).
    assert sent.context["last_customer_message_at"] is not None
    detail = await notifier.get("/api/conversations/c1")
    assert {m["author"] for m in detail["messages"] if m["direction"] == "out"} == {"junho"}


async def test_unassign_and_force_follow_the_claim_rules(notifier: NotifierHarness) -> None:
    await _conversation(notifier)
    status, _ = await notifier.post("/api/conversations/c1/assign", {"assignee": "minji"})
    assert status == 200
    # Someone else holds it: an agent can neither unassign it nor hand it to themselves.
    for body in ({"assignee": None}, {"assignee": "junho"}):
        status, error = await notifier.post("/api/conversations/c1/assign", body, agent="junho")
        assert (status, error["code"]) == (409, "assign_conflict"), body
    # Taking over is for admins only.
    status, error = await notifier.post(
        "/api/conversations/c1/assign", {"assignee": "junho", "force": True}, agent="junho"
    )
    assert (status, error["code"]) == (403, "forbidden")
    assert (await notifier.get("/api/conversations/c1"))["assignee"] == "minji"
    # The holder hands it over; the new holder may unassign it.
    status, _ = await notifier.post("/api/conversations/c1/assign", {"assignee": "junho"})
    assert status == 200
    status, body = await notifier.post(
        "/api/conversations/c1/assign", {"assignee": None}, agent="junho"
    )
    assert status == 200 and body["conversation"]["assignee"] is None
    # An admin takes over from anyone with force.
    await notifier.post("/api/conversations/c1/assign", {"assignee": "junho"}, agent="junho")
    status, body = await notifier.post(
        "/api/conversations/c1/assign", {"assignee": None, "force": True}
    )
    assert status == 200 and body["conversation"]["assignee"] is None
