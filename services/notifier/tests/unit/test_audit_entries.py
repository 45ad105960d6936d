"""What an audit entry says about an action: its name from the route, and a detail made of
whitelisted fields only."""

from __future__ import annotations

from typing import Any

import pytest

from inbox_notifier.audit import action_name, detail_of


@pytest.mark.parametrize(
    ("method", "path", "action"),
    [
        ("POST", "/api/conversations/{conversation_id}/reply", "conversations.reply"),
        ("POST", "/api/conversations/bulk", "conversations.bulk"),
        ("POST", "/api/canned-responses", "canned-responses.create"),
        ("PUT", "/api/canned-responses/{canned_id}", "canned-responses.update"),
        ("DELETE", "/api/faq/{faq_id}", "faq.delete"),
        ("POST", "/api/dead-letters/{letter_id}/replay", "dead-letters.replay"),
        ("POST", "/api/customers/{customer_id}/merge", "customers.merge"),
    ],
    ids=["reply", "bulk", "create", "update", "delete", "replay", "merge"],
)
def test_action_names_come_from_the_route(method: str, path: str, action: str) -> None:
    assert action_name(method, path) == action


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"text": "비밀", "agent": "사장님"}, {"text_chars": 2}),
        ({"assignee": None, "force": True, "version": 3}, {"assignee": None, "force": True}),
        ({"token": "s3cret", "password": "s3cret", "access_token": "s3cret"}, {}),
        ({"ids": [str(i) for i in range(12)], "action": "resolve"}, None),
        ("not an object", {}),
    ],
    ids=["text-by-length", "assign", "secrets-never", "long-list-shortened", "not-a-dict"],
)
def test_detail_holds_whitelisted_fields_only(body: Any, detail: dict[str, Any] | None) -> None:
    got = detail_of(body)
    assert "s3cret" not in repr(got) and "비밀" not in repr(got)
    if detail is not None:
        assert got == detail
    else:
        assert got["action"] == "resolve" and got["ids"][-1] == "... 12 in all"
