from __future__ import annotations

import pytest

from inbox_core.faq_examples import example_matcher
from inbox_core.faq_matcher import needs_person, wants_person

MATCHER = example_matcher()


@pytest.mark.parametrize(
    "text",
    [
        "상담원 연결해주세요",
        "상담사랑 얘기할래요",
        "사람이랑 통화하고 싶어요",
        "직원 연결 부탁해요",
    ],
    ids=["상담원", "상담사", "사람", "직원 연결"],
)
def test_asking_for_a_person_is_never_answered_automatically(text: str) -> None:
    assert wants_person(text)
    assert not MATCHER.match(text).auto


@pytest.mark.parametrize(
    "text",
    [
        "배송이 일주일째 안 와요",
        "주문번호 20261201-000123 배송 언제 와요",
        "받은 옷이 찢어져 있어요",
    ],
    ids=["late delivery complaint", "order number", "damaged item"],
)
def test_complaints_and_specific_cases_need_a_person(text: str) -> None:
    assert needs_person(text)
    assert not MATCHER.match(text).auto


@pytest.mark.parametrize(
    "text",
    ["배송 얼마나 걸려요?", "배송얼마나걸려요", "베송 얼마나 걸려여ㅠㅠ", "delivery 며칠 걸려요?"],
    ids=["spaced", "no spaces", "typos and crying", "mixed English"],
)
def test_paraphrases_of_a_covered_question_are_answered(text: str) -> None:
    result = MATCHER.match(text)
    assert result.matches[0].key == "shipping_time"
    assert result.auto


def test_unrelated_text_has_no_sure_match() -> None:
    result = MATCHER.match("이 원피스 안감 있나요?")
    assert not result.auto
    assert len(result.matches) <= 3
