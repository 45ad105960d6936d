"""Placeholders in the notifier's texts (canned responses, replies, FAQ answers): the
values a conversation gives, the fallbacks, and the 422 on unknown names."""

from __future__ import annotations

import pytest

from inbox_core.placeholders import render_reply, values_for
from inbox_notifier.canned import check_placeholders
from inbox_notifier.routing import ApiError

CONV = {"number": 1042, "subject": "배송 문의", "customer": {"name": "김민수", "email": "k@x"}}


@pytest.mark.parametrize(
    ("text", "rendered", "missing"),
    [
        ("{{customer.name}}님, #{{conversation.number}} 확인했습니다.",
         "김민수님, #1042 확인했습니다.", []),
        ("{{product.name}} 재입고", "니트 재입고", []),
        ("주문 {{order.id}}", "주문 ", ["order.id"]),
        ("{{ order.id | 주문번호 없음 }}", "주문번호 없음", ["order.id"]),
        ("상담원 {{agent.name}}", "상담원 minji", []),
    ],
    ids=["conversation", "context", "missing-is-named", "own-fallback", "agent"],
)  # fmt: skip
def test_reply_rendered_for_a_conversation(text: str, rendered: str, missing: list[str]) -> None:
    values = values_for(CONV, {"product_name": "니트"}, "minji")
    assert render_reply(text, values) == (rendered, missing)


def test_without_a_conversation_names_fall_back() -> None:
    """The preview of a canned response with no conversation chosen."""
    assert render_reply("{{customer.name}}님, {{product.name}} 문의", values_for({}, {}, "a")) == (
        "고객님, 상품 문의",
        ["customer.name", "product.name"],
    )


def test_unknown_placeholders_are_refused_by_name() -> None:
    with pytest.raises(ApiError) as err:
        check_placeholders("{{customer.nmae}} {{customer.name}} {{rule.name}}")
    assert (err.value.status, err.value.code) == (422, "validation_error")
    assert [e["message"] for e in err.value.errors] == [
        "unknown placeholder {{customer.nmae}}",
        "unknown placeholder {{rule.name}}",
    ]


def test_known_placeholders_pass() -> None:
    check_placeholders("{{ customer.name | 고객 }}님 {{conversation.subject}}")
