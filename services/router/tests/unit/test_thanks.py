"""Thanks-only detection (conversation rule 2), in Korean and English."""

from __future__ import annotations

import pytest

from inbox_router.thanks import is_thanks_only


@pytest.mark.parametrize(
    "text",
    [
        "감사합니다",
        "감사합니다!!",
        "네 확인했습니다 감사합니다 :)",
        "넵 👍",
        "네",
        "고맙습니다^^",
        "빠른 답변 감사합니다 😊",
        "정말 감사합니다 ㅠㅠ 좋은 하루 되세요~",
        "잘 받았습니다. 수고하세요!",
        "알겠습니다 감사합니다!!",
        "ㅇㅋ 감사",
        "ㅋㅋ 감사요",
        "감사해요~ 잘 쓸게요 😊",
        "고맙습니다!\n김민수 드림",
        "thank you!",
        "Thanks a lot!!! 🙏",
        "Thanks, got it. Best regards,\nKim",
        "Thank you so much for your help :D",
        "ok thx",
        "Thanks!\nSent from my iPhone",
    ],
    ids=["plain", "exclamation", "ack-and-thanks-emoticon", "emoji-ack", "just-yes",
         "caret-smile", "quick-answer", "crying-and-closing", "received-closing", "understood",
         "jamo-ok", "laughing", "will-use-well", "signature-line", "en-thank-you",
         "en-thanks-a-lot", "en-regards-name", "en-emoticon", "en-ok", "en-sent-from"],
)  # fmt: skip
def test_thanks_only_reply_is_recognised(text: str) -> None:
    assert is_thanks_only(text, customer_name="Kim")


@pytest.mark.parametrize(
    "text",
    [
        "감사합니다. 그런데 교환은 어떻게 하나요?",
        "감사합니다 근데 아직 안 왔어요",
        "감사합니다 환불은 언제 되나요",
        "네?",
        "네이버에서 주문했어요",
        "Thanks, but the size is wrong",
        "no thanks",
        "thanks?",
        "ㅋㅋㅋ",
        "👍",
        "",
        "감사합니다 " * 60,
    ],
    ids=["thanks-and-question", "thanks-and-complaint", "thanks-and-refund", "question-mark",
         "starts-like-yes", "en-thanks-but", "en-no-thanks", "en-question", "laughing-only",
         "emoji-only", "empty", "too-long"],
)  # fmt: skip
def test_thanks_plus_anything_else_is_not_thanks_only(text: str) -> None:
    assert not is_thanks_only(text)
