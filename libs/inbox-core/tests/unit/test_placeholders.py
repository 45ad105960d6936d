"""The one template grammar: `{{name}}` / `{{name|fallback}}`, used by the router's notes and
auto-replies and the notifier's canned responses, replies and FAQ answers."""

from __future__ import annotations

import pytest

from inbox_core.placeholders import (
    DEFERRED_NUMBER,
    NUMBER,
    fill_deferred_number,
    render,
    render_reply,
    unbalanced,
    unknown_placeholders,
    values_for,
)


@pytest.mark.parametrize(
    ("template", "values", "expected", "missing"),
    [
        ("{{customer.name}}님", {"customer.name": "김민수"}, "김민수님", []),
        ("{{ customer.name }}님", {"customer.name": "김민수"}, "김민수님", []),
        ("{{ customer.name | 손님 }}께", {}, "손님께", ["customer.name"]),
        ("{{customer.name}}님", {"customer.name": ""}, "님", ["customer.name"]),
        ("{{order.id}}", {"order.id": None}, "", ["order.id"]),
        ("{{a.b}} {{a.b}}", {}, " ", ["a.b"]),
        ("{{customer.name} 님", {"customer.name": "김"}, "{{customer.name} 님", []),
    ],
    ids=["value", "spaces-inside", "own-fallback", "empty-is-missing", "none-is-missing",
         "missing-named-once", "unclosed-left-alone"],
)  # fmt: skip
def test_render_grammar(
    template: str, values: dict[str, str | None], expected: str, missing: list[str]
) -> None:
    assert render(template, values) == (expected, missing)


def test_reply_falls_back_to_defaults_unless_the_text_gives_its_own() -> None:
    text = "{{customer.name}}님, {{product.name}} 문의 감사합니다. {{ customer.name | 회원 }}"
    rendered, missing = render_reply(text, {})
    assert rendered == "고객님, 상품 문의 감사합니다. 회원"
    assert missing == ["customer.name", "product.name"]


def test_deferred_number_stays_for_the_notifier_and_is_filled_there() -> None:
    routed, _ = render(
        "접수번호 #{{ conversation.number | ? }} {{customer.name}}", {}, deferred=(NUMBER,)
    )
    assert routed == f"접수번호 #{DEFERRED_NUMBER} "
    assert fill_deferred_number(routed, 42) == "접수번호 #42 "
    assert fill_deferred_number(routed, None) == "접수번호 # "


def test_filling_the_number_leaves_every_other_placeholder_alone() -> None:
    text = "{{customer.name}} #{{conversation.number}} {{x.y|z}}"
    assert fill_deferred_number(text, "7") == "{{customer.name}} #7 {{x.y|z}}"


@pytest.mark.parametrize(
    ("text", "known", "unknown"),
    [
        ("{{customer.nmae}} {{customer.name}}", None, ["customer.nmae"]),
        ("{{ agent.name | 상담원 }}", None, []),
        ("{{rule.name}}", {"rule.name"}, []),
        ("{{rule.name}}", None, ["rule.name"]),
    ],
    ids=["typo", "known-with-fallback", "caller-names", "not-a-notifier-name"],
)
def test_unknown_placeholders(text: str, known: set[str] | None, unknown: list[str]) -> None:
    found = unknown_placeholders(text) if known is None else unknown_placeholders(text, known)
    assert found == unknown


@pytest.mark.parametrize(
    ("text", "bad"),
    [("{{a.b}} and {{c|d}}", False), ("{{a.b}", True), ("oops }}", True), ("{ single }", False)],
    ids=["balanced", "unclosed", "stray-close", "single-braces"],
)
def test_unbalanced_braces(text: str, bad: bool) -> None:
    assert unbalanced(text) is bad


def test_values_for_a_conversation_skip_what_is_unknown() -> None:
    conv = {"number": 12, "customer": {"name": "박지훈"}, "subject": ""}
    values = values_for(conv, {"product_name": "니트"}, "mina")
    assert values == {
        "customer.name": "박지훈",
        "conversation.number": "12",
        "product.name": "니트",
        "agent.name": "mina",
    }
