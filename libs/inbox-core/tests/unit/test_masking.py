"""Personal data is masked in logs; identifiers that only look like numbers are kept."""

from __future__ import annotations

import pytest

from inbox_core.masking import luhn_ok, mask_pii, mask_value


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("연락처 010-1234-5678 입니다", "연락처 [phone] 입니다"),
        ("연락처01012345678", "연락처[phone]"),
        ("감사합니다.010 1234 5678", "감사합니다.[phone]"),
        ("+82 10-1234-5678로 연락주세요", "[phone]로 연락주세요"),
        ("매장 02-123-4567", "매장 [phone]"),
        ("주민번호 900101-1234567입니다", "주민번호 [rrn]입니다"),
        ("9001011234567", "[rrn]"),
        ("카드 4111-1111-1111-1111 결제", "카드 [card] 결제"),
        ("카드번호4111111111111111", "카드번호[card]"),
        ("amex 3782 822463 10005", "amex [card]"),
        ("메일 kim.minsu+cs@example.co.kr 로", "메일 [email] 로"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "inbox.in.facebook.100000000000009",  # a page id in a subject
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736",  # hex around digits
        "span 00f067aa0ba902b7 parent 4111111111111111ab",
        "주문번호 1234-5678-9012-3456",  # fails the Luhn check: an order number, not a card
        "msg_01012345678",  # inside an identifier
        "2025-11-23 10:01:02",
    ],
)
def test_identifiers_and_times_are_kept(text: str) -> None:
    assert mask_pii(text) == text


def test_luhn() -> None:
    assert luhn_ok("4111 1111 1111 1111") and luhn_ok("378282246310005")
    assert not luhn_ok("4111 1111 1111 1112")


def test_nested_values_are_masked_and_other_types_kept() -> None:
    value = {"a": ["010-1234-5678", ("900101-1234567", 3)], "n": 1.5, "ok": None}
    assert mask_value(value) == {"a": ["[phone]", ("[rrn]", 3)], "n": 1.5, "ok": None}
