"""Rules: Korean keyword routing, first match, and clear errors for a bad rules file."""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox_core.schema import Customer, InboundMessage, Priority
from inbox_router.rules import RulesError, load_rules, normalise_text
from inbox_router.settings import DEFAULT_RULES


def _message(text: str, channel: str = "mail", subject: str | None = None) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account="shop",
        external_id="1",
        thread_keys=["k"],
        customer=Customer(id="c"),
        subject=subject,
        text=text,
    )


@pytest.mark.parametrize(
    ("text", "team", "priority", "tag"),
    [
        ("11월 18일 주문했는데 아직 배송 전인가요?", "shipping", Priority.NORMAL, "배송"),
        (
            "받은 니트에 구멍이 있어요. 불량인 것 같아요",
            "claims",
            Priority.HIGH,
            "불량·누락·오배송",
        ),
        ("사이즈가 안 맞아서 환불하고 싶어요", "returns", Priority.HIGH, "환불·반품·교환"),
        ("네이비 색상 재입고 언제 되나요?", "product", Priority.NORMAL, "재입고"),
        ("본인인증 문자가 안 와요", "account", Priority.HIGH, "본인인증"),
        ("안녕하세요", "general", Priority.NORMAL, None),
    ],
    ids=["shipping", "defect", "refund", "restock", "identity", "no-keyword-general"],
)
def test_default_rules_route_korean_inquiries(
    text: str, team: str, priority: Priority, tag: str | None
) -> None:
    decision = load_rules(DEFAULT_RULES).decide(_message(text))
    assert decision.team == team
    assert decision.priority == priority
    assert (tag in decision.tags) if tag else decision.tags == []
    assert decision.reasons


def test_keywords_match_across_spacing_and_width() -> None:
    assert normalise_text("배 송") == normalise_text("배송")
    decision = load_rules(DEFAULT_RULES).decide(_message("ＲＥＦＵＮＤ please"))
    assert decision.team == "returns"


def test_marketplace_question_without_keyword_goes_to_product() -> None:
    decision = load_rules(DEFAULT_RULES).decide(_message("문의드립니다", channel="naver_commerce"))
    assert decision.team == "product"


def test_bad_rules_file_names_the_rule_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - name: vip\n    when: {keywords_any: [vip]}\n    set: {priority: asap}\n",
        encoding="utf-8",
    )
    with pytest.raises(RulesError, match=r"rule 'vip' field set\.priority"):
        load_rules(path)


def test_unreadable_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.yaml")
