"""Korean normalisation for matching: NFKC, case, spacing, variants, whole English words."""

from __future__ import annotations

import pytest

from inbox_router.normalise import DEFAULT_NORMALISER, FieldText, Keyword, Normaliser


def _found(keyword: str, text: str, normaliser: Normaliser = DEFAULT_NORMALISER) -> bool:
    field = FieldText("text", normaliser.spaced(text), normaliser.compact(text))
    return Keyword.compile(keyword, normaliser).found_in(field)


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("배송 언제", "배송언제 와요"),
        ("배송언제", "배송 언제 와요"),
        ("배송", "배 송 문의"),
        ("refund", "ＲＥＦＵＮＤ please"),
        ("환불", "환블 해주세요"),
        ("배송", "베송 언제 시작되나요"),
        ("재입고", "제입고 예정 있나요"),
        ("로그인", "로긴이 안돼요"),
        ("앱", "어플 업데이트 후"),
        ("비밀번호", "비번 재설정"),
        ("사이즈", "싸이즈 추천"),
        ("refund", "refunds and returns"),
        ("refund", "I was refunded twice"),
        ("kg", "55kg인데"),
        ("size", "size가 어떻게 되나요"),
        ("🚚", "🚚 언제 와요"),
        ("wrong item", "Wrong   item received"),
    ],
    ids=["space-in-keyword", "space-in-text", "space-inside-word", "full-width",
         "typo-환블", "typo-베송", "typo-제입고", "slang-로긴", "synonym-어플", "abbrev-비번",
         "tense-싸이즈", "english-plural", "english-past", "unit-after-digits",
         "english-before-hangul", "emoji", "english-phrase-spacing"],
)  # fmt: skip
def test_keyword_matches_variants_of_the_same_words(keyword: str, text: str) -> None:
    assert _found(keyword, text)


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("app", "I am happy with it"),
        ("ship", "our relationship"),
        ("1372", "주문번호 213725"),
        ("재고", "문제고요 다시 볼게요"),
    ],
    ids=["app-in-happy", "ship-in-relationship", "number-inside-number", "no-risky-variant"],
)
def test_keyword_does_not_match_inside_other_words(keyword: str, text: str) -> None:
    assert not _found(keyword, text)


def test_normalisation_is_idempotent() -> None:
    for text in ["배 송 언제", "ＲＥＦＵＮＤ", "어플리케이션 오류", "ㅋㅋ 감사"]:
        once = DEFAULT_NORMALISER.compact(text)
        assert DEFAULT_NORMALISER.compact(once) == once


def test_longest_variant_wins() -> None:
    assert DEFAULT_NORMALISER.compact("어플리케이션 오류") == "앱오류"


def test_blank_keyword_is_refused() -> None:
    with pytest.raises(ValueError, match="blank"):
        Keyword.compile("  ", DEFAULT_NORMALISER)
