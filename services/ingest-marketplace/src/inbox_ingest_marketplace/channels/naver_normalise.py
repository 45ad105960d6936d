"""Naver Commerce items → `Question` (pure: no I/O, no clock).

- Product Q&A (`GET /v1/contents/qnas`, `contents[]`): external id `qna:<questionId>`,
  thread key `naver_commerce:<account>:qna:<questionId>`, customer `maskedWriterId`,
  subject `[상품문의] <productName>`. `answer` is the seller's *first* answer.
- Customer inquiries (`GET /v1/pay-user/inquiries`, `content[]`): external id
  `inquiry:<inquiryNo>`, thread key `naver_commerce:<account>:inquiry:<inquiryNo>`,
  customer `customerId` / `customerName`, subject `[고객문의·<category>] <title>`, order
  context (order id, product order ids, product, option). `answerContent` is the *latest*
  answer (id `answerContentId`).
Date-times carry `+09:00`; a value without offset is read as KST.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from inbox_core.errors import InvalidPayload
from inbox_core.schema import Customer, InboundMessage
from inbox_ingest_marketplace.channels.board import (
    KST,
    PlatformAnswer,
    Question,
    optional_str,
    thread_key,
)

NAME = "naver_commerce"


def parse_naver_datetime(value: Any) -> datetime:
    """`2026-11-20T15:12:03.008+09:00` (or `...Z`) → aware UTC. No offset means KST."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload(f"not a date-time: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise InvalidPayload(f"not a date-time: {value!r}") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=KST)
    return parsed.astimezone(UTC)


def format_naver_datetime(value: datetime) -> str:
    """Aware datetime → `2026-11-20T15:12:03.008+09:00`, the form Naver's docs show."""
    return value.astimezone(KST).isoformat(timespec="milliseconds")


def _item_id(item: Any, field: str, what: str) -> str:
    if not isinstance(item, Mapping):
        raise InvalidPayload(f"a {what} item must be an object")
    raw = item.get(field)
    if raw is None or isinstance(raw, bool) or not str(raw).strip():
        raise InvalidPayload(f"{what} item without {field}")
    return str(raw).strip()


def _message(account: str, **fields: Any) -> InboundMessage:
    try:
        return InboundMessage(channel=NAME, account=account, **fields)
    except ValueError as err:  # pydantic: e.g. an account that is not a subject token
        raise InvalidPayload(f"{fields.get('external_id')}: {err}") from err


def normalise_qna(item: Mapping[str, Any], account: str) -> Question:
    """One `contents[]` item of `GET /v1/contents/qnas`."""
    question_id = _item_id(item, "questionId", "Q&A")
    question = item.get("question")
    if not isinstance(question, str):
        raise InvalidPayload(f"Q&A {question_id} has no question text")
    product_name = optional_str(item.get("productName"))
    writer = optional_str(item.get("maskedWriterId")) or "unknown"
    answer = item.get("answer") if isinstance(item.get("answer"), str) else None
    answered = item.get("answered")
    message = _message(
        account,
        external_id=f"qna:{question_id}",
        thread_keys=[thread_key(NAME, account, "qna", question_id)],
        customer=Customer(id=writer),
        subject=f"[상품문의] {product_name}" if product_name else "[상품문의]",
        text=question.strip(),
        received_at=parse_naver_datetime(item.get("createDate")),
        context={
            "board": "qna",
            "question_id": question_id,
            "product_id": optional_str(item.get("productId")),
            "product_name": product_name,
            "answered": bool(answered) if answered is not None else answer is not None,
            "answer": answer,
        },
    )
    answers = (PlatformAnswer(text=answer.strip()),) if answer and answer.strip() else ()
    return Question(message, answers)


def normalise_inquiry(item: Mapping[str, Any], account: str) -> Question:
    """One `content[]` item of `GET /v1/pay-user/inquiries`."""
    inquiry_no = _item_id(item, "inquiryNo", "inquiry")
    body = item.get("inquiryContent")
    if not isinstance(body, str):
        raise InvalidPayload(f"inquiry {inquiry_no} has no inquiryContent")
    category = optional_str(item.get("category"))
    title = optional_str(item.get("title"))
    label = f"고객문의·{category}" if category else "고객문의"
    order_ids = [
        p.strip() for p in str(item.get("productOrderIdList") or "").split(",") if p.strip()
    ]
    answer = optional_str(item.get("answerContent"))
    answered_at = item.get("answerRegistrationDateTime")
    message = _message(
        account,
        external_id=f"inquiry:{inquiry_no}",
        thread_keys=[thread_key(NAME, account, "inquiry", inquiry_no)],
        customer=Customer(
            id=optional_str(item.get("customerId")) or "unknown",
            name=optional_str(item.get("customerName")),
        ),
        subject=f"[{label}] {title}" if title else f"[{label}]",
        text=body.strip(),
        received_at=parse_naver_datetime(item.get("inquiryRegistrationDateTime")),
        context={
            "board": "inquiry",
            "question_id": inquiry_no,
            "category": category,
            "order_id": optional_str(item.get("orderId")),
            "product_order_ids": order_ids,
            "product_id": optional_str(item.get("productNo")),
            "product_name": optional_str(item.get("productName")),
            "product_option": optional_str(item.get("productOrderOption")),
            "answered": bool(item.get("answered")),
            "answer_content_id": optional_str(item.get("answerContentId")),
        },
    )
    answers: tuple[PlatformAnswer, ...] = ()
    if answer:
        try:
            when = parse_naver_datetime(answered_at) if answered_at else None
        except InvalidPayload:
            when = None
        answers = (
            PlatformAnswer(
                text=answer, answered_at=when, answer_id=optional_str(item.get("answerContentId"))
            ),
        )
    return Question(message, answers)
