"""What `make demo`'s simulated customers say, on any channel, and how they say it over HTTP.

Channel packages use these in their `Simulator.customer` (inbox_core.channels)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

CUSTOMERS = [
    ("김민수", "minsu.kim@example.com"),
    ("이서연", "seoyeon.lee@example.net"),
    ("박지훈", "jihoon.park@example.org"),
    ("최유진", "yujin.choi@example.com"),
    ("정하늘", "haneul.jung@example.net"),
]

MAIL_INQUIRIES = [
    (
        "배송 문의드립니다",
        "11월 18일에 주문했는데 아직 배송 전인가요? 주문번호 2026111812345678 입니다.",
    ),
    ("환불 요청", "사이즈가 맞지 않아 환불하고 싶습니다. 반품 절차 안내 부탁드려요."),
    ("상품 불량", "받은 니트 소매에 구멍이 나 있어요. 불량 교환 가능할까요?"),
    ("재입고 문의", "네이비 M 사이즈 재입고 예정이 있나요?"),
    ("본인인증이 안 돼요", "회원가입 중 본인인증 문자가 오지 않습니다."),
]

CHAT_MESSAGES = [
    "안녕하세요! 오늘 주문하면 언제 도착하나요?",
    "쿠폰이 적용이 안 돼요 ㅠㅠ",
    "교환 신청은 어디서 하나요?",
    "앱에서 로그인이 안 됩니다",
    "주소를 잘못 입력했는데 배송지 변경 가능할까요?",
    "배송비 얼마예요?",  # the FAQ bot answers these two on chat channels
    "반품 신청 어떻게 하나요?",
    "상담원 연결해주세요",  # and hands this one to an agent
]

QNA_QUESTIONS = [
    ("9876543210", "캐시미어 라운드 니트", "키 165에 55kg인데 M 사이즈 괜찮을까요?"),
    ("9876543211", "울 블렌드 코트", "블랙 색상 재입고 언제 되나요?"),
    ("9876543212", "데일리 슬랙스", "세탁기 사용 가능한 소재인가요?"),
]


def post_json(url: str, body: Any, headers: dict[str, str] | None = None) -> int:
    """POST a JSON body; the status (urllib raises on 4xx/5xx)."""
    data = json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)
