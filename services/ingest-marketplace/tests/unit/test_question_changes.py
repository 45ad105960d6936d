"""`diff`: what a listed question means given what was published before; and the answer
limits checked before anything is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inbox_core.errors import PermanentError
from inbox_core.schema import Customer, Direction, InboundMessage
from inbox_ingest_marketplace.channels.board import (
    AnswerLimits,
    Board,
    PlatformAnswer,
    Question,
    text_hash,
)
from inbox_ingest_marketplace.channels.question_changes import Known, diff

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
BOARD = Board("qnas", "qna", "상품문의", timedelta(days=1), AnswerLimits(max_chars=10))
TEXT = "키 165에 M 사이즈 괜찮을까요?"


def _question(
    text: str = TEXT, answers: tuple[PlatformAnswer, ...] = (), deleted: bool = False
) -> Question:
    message = InboundMessage(
        channel="naver_commerce",
        account="smartstore",
        external_id="qna:42",
        thread_keys=["naver_commerce:smartstore:qna:42"],
        customer=Customer(id="hong****"),
        subject="[상품문의] 니트",
        text=text,
        received_at=NOW - timedelta(hours=1),
        context={"board": "qna", "question_id": "42", "product_id": "98"},
    )
    return Question(message, answers, deleted)


def _known(**fields: object) -> Known:
    base = {"created": int((NOW - timedelta(hours=1)).timestamp()), "text": text_hash(TEXT)}
    return Known(**{**base, **fields})  # type: ignore[arg-type]


def test_new_question_is_published_with_its_platform_answers() -> None:
    question = _question(answers=(PlatformAnswer("M 추천드려요", answer_id="9"),))

    changes, known = diff(question, None, BOARD, NOW)

    assert [c.message.external_id for c in changes] == [
        "qna:42",
        f"qna:42:answer:{text_hash('M 추천드려요')}",
    ]
    echo = changes[1]
    assert echo.message.direction is Direction.OUT and echo.message.flags.echo
    assert echo.answer_hash == text_hash("M 추천드려요")
    assert known.text == text_hash(TEXT) and known.answers == (text_hash("M 추천드려요"),)


def test_question_seen_before_unchanged_publishes_nothing() -> None:
    changes, known = diff(_question(), _known(), BOARD, NOW)

    assert changes == [] and known.misses == 0


def test_edited_text_gives_an_edit_message_once() -> None:
    edited = _question(text=TEXT + " 55 입어요.")

    changes, known = diff(edited, _known(), BOARD, NOW)
    again, _ = diff(edited, known, BOARD, NOW)

    (change,) = changes
    assert change.message.external_id == f"qna:42:edit:{text_hash(TEXT + ' 55 입어요.')}"
    assert change.message.context["edited"] is True and change.message.received_at == NOW
    assert change.message.id != edited.message.id
    assert again == []


def test_only_new_answers_are_echoed_and_cs_notes_come_inbound() -> None:
    first = PlatformAnswer("확인 중입니다")
    note = PlatformAnswer(
        "고객이 재문의함", answer_id="77", author="쿠팡 상담사", from_seller=False
    )
    known = _known(answers=(text_hash("확인 중입니다"),))

    changes, _ = diff(_question(answers=(first, note)), known, BOARD, NOW)

    (change,) = changes
    assert change.message.external_id == "qna:42:cs:77"
    assert change.message.direction is Direction.IN and change.answer_hash is None
    assert change.message.text.startswith("[플랫폼 상담사 쿠팡 상담사]")


def test_hidden_question_gives_a_deleted_message_once() -> None:
    changes, known = diff(_question(deleted=True), _known(), BOARD, NOW)
    again, _ = diff(_question(deleted=True), known, BOARD, NOW)

    (change,) = changes
    assert change.message.external_id == "qna:42:deleted"
    assert change.message.context["deleted"] is True
    assert again == []


def test_question_first_seen_hidden_says_so_itself() -> None:
    changes, _ = diff(_question(deleted=True), None, BOARD, NOW)

    (change,) = changes
    assert change.message.external_id == "qna:42" and change.message.context["deleted"] is True


def test_question_adopted_from_an_older_cursor_is_not_republished() -> None:
    adopted = Known(created=0, text="")

    changes, known = diff(_question(answers=(PlatformAnswer("답변"),)), adopted, BOARD, NOW)

    assert changes == [] and known.text == text_hash(TEXT)


@pytest.mark.parametrize(
    ("limits", "text", "reason"),
    [
        (AnswerLimits(max_chars=10), "   \n ", "empty"),
        (AnswerLimits(max_chars=10), "가" * 11, "at most 10 characters; this one has 11"),
        (AnswerLimits(max_chars=100, encoding="cp949"), "감사합니다 😊🙏", "😊 🙏"),
    ],
    ids=["empty", "too-long", "not-euc-kr"],
)
def test_answer_limits_refuse_with_a_reason(limits: AnswerLimits, text: str, reason: str) -> None:
    with pytest.raises(PermanentError, match=reason):
        limits.check(text, platform="11번가")


def test_answer_limits_normalise_newlines_and_keep_cp949_hangul() -> None:
    limits = AnswerLimits(max_chars=100, encoding="cp949")

    assert limits.check(" 똠양꿍 입고됩니다.\r\n감사합니다 ", platform="11번가") == (
        "똠양꿍 입고됩니다.\n감사합니다"
    )
