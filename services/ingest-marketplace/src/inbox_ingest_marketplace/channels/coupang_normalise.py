"""Coupang WING items → `Question` (pure: no I/O, no clock).

- Online product inquiries (`…/onlineInquiries`, board key `online`): external id
  `online:<inquiryId>`, customer `buyerEmail` (masked by Coupang), context product id,
  option (`vendorItemId`) and order ids; every `commentDtoList[]` entry is a seller answer.
- Call-center inquiries (`…/callCenterInquiries`, board key `callcenter`): escalated by
  Coupang's CS. The text comes HTML-escaped (`&lt;`) and is unescaped. Customer: e-mail and
  phone as given (personal data: masked in logs). `replies[]` mix Coupang CS agents and the
  seller: an entry whose `receptionist` is the account's WING id (or vendor id) is the
  seller's answer, any other is a Coupang CS note (published inbound, `context.platform_cs`).
  Context: order id, option, item name, category, status, `parent_answer_id` (the latest
  CS entry, sent back with a reply), `needs_confirm` (a closed transfer to acknowledge).
Times are `yyyy-MM-dd HH:mm:ss` without offset, read as KST (coupang.md: unconfirmed).
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from inbox_core.errors import InvalidPayload
from inbox_core.schema import Customer, InboundMessage
from inbox_ingest_marketplace.channels.board import (
    KST,
    PlatformAnswer,
    Question,
    optional_str,
    thread_key,
)

NAME: Final = "coupang"
TIME_FORMATS: Final = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")
TRANSFER_STATES: Final = frozenset({"transfer", "TRANSFER"})


def parse_coupang_datetime(value: Any) -> datetime:
    """`2026-11-20 15:12:03` (KST, no offset) → aware UTC."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload(f"not a Coupang date-time: {value!r}")
    text = value.strip()
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=KST).astimezone(UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as err:
        raise InvalidPayload(f"not a Coupang date-time: {value!r}") from err
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=KST)).astimezone(UTC)


def _maybe_time(value: Any) -> datetime | None:
    try:
        return parse_coupang_datetime(value) if value else None
    except InvalidPayload:
        return None


def _inquiry_id(item: Any) -> str:
    if not isinstance(item, Mapping):
        raise InvalidPayload("a Coupang inquiry must be an object")
    raw = item.get("inquiryId")
    if raw is None or isinstance(raw, bool) or not str(raw).strip():
        raise InvalidPayload("Coupang inquiry without inquiryId")
    return str(raw).strip()


def _message(account: str, **fields: Any) -> InboundMessage:
    try:
        return InboundMessage(channel=NAME, account=account, **fields)
    except ValueError as err:
        raise InvalidPayload(f"{fields.get('external_id')}: {err}") from err


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        return optional_str(value[0]) if value else None
    return optional_str(value)


def normalise_online_inquiry(item: Mapping[str, Any], account: str) -> Question:
    inquiry_id = _inquiry_id(item)
    content = item.get("content")
    if not isinstance(content, str):
        raise InvalidPayload(f"Coupang inquiry {inquiry_id} has no content")
    product_id = optional_str(item.get("productId"))
    product_name = optional_str(item.get("productName") or item.get("sellerProductName"))
    order_ids = [str(o) for o in item.get("orderIds") or [] if o is not None]
    comments = item.get("commentDtoList") or []
    label = product_name or (f"상품 {product_id}" if product_id else "")
    message = _message(
        account,
        external_id=f"online:{inquiry_id}",
        thread_keys=[thread_key(NAME, account, "online", inquiry_id)],
        customer=Customer(id=optional_str(item.get("buyerEmail")) or "unknown"),
        subject=f"[쿠팡 상품문의] {label}".rstrip(),
        text=html.unescape(content).strip(),
        received_at=parse_coupang_datetime(item.get("inquiryAt")),
        context={
            "board": "online",
            "question_id": inquiry_id,
            "product_id": product_id,
            "product_name": product_name,
            "vendor_item_id": optional_str(item.get("vendorItemId")),
            "order_id": order_ids[0] if order_ids else None,
            "order_ids": order_ids,
            "answered": bool(comments),
        },
    )
    answers = tuple(
        PlatformAnswer(
            text=html.unescape(str(c.get("content"))).strip(),
            answered_at=_maybe_time(c.get("inquiryCommentAt")),
            answer_id=optional_str(c.get("inquiryCommentId")),
            author=optional_str(c.get("replyBy")),
        )
        for c in comments
        if isinstance(c, Mapping) and optional_str(c.get("content"))
    )
    return Question(message, answers)


def normalise_call_center_inquiry(
    item: Mapping[str, Any], account: str, *, seller_ids: Collection[str]
) -> Question:
    inquiry_id = _inquiry_id(item)
    content = item.get("content")
    if not isinstance(content, str):
        raise InvalidPayload(f"Coupang call-center inquiry {inquiry_id} has no content")
    category = optional_str(item.get("receiptCategory"))
    item_name = optional_str(html.unescape(str(item.get("itemName") or "")))
    email = optional_str(item.get("buyerEmail"))
    phone = optional_str(item.get("buyerPhone"))
    order_id = optional_str(item.get("orderId"))
    replies = [r for r in item.get("replies") or [] if isinstance(r, Mapping)]
    answers: list[PlatformAnswer] = []
    parent: str | None = None
    for r in replies:
        text = optional_str(r.get("content"))
        if text is None:
            continue
        author = optional_str(r.get("receptionist"))
        from_seller = author is not None and author in seller_ids
        answer_id = optional_str(r.get("answerId"))
        if not from_seller and answer_id:
            parent = answer_id
        answers.append(
            PlatformAnswer(
                text=html.unescape(text).strip(),
                answered_at=_maybe_time(r.get("replyAt")),
                answer_id=answer_id,
                author=optional_str(r.get("receptionistName")) or author,
                from_seller=from_seller,
            )
        )
    status = optional_str(
        item.get("partnerTransferStatus") or item.get("csPartnerCounselingStatus")
    )
    message = _message(
        account,
        external_id=f"callcenter:{inquiry_id}",
        thread_keys=[thread_key(NAME, account, "callcenter", inquiry_id)],
        customer=Customer(
            id=email or phone or (f"order:{order_id}" if order_id else "unknown"),
            email=email if email and "@" in email else None,
            phone=phone,
        ),
        subject=f"[쿠팡 콜센터 문의] {category}" if category else "[쿠팡 콜센터 문의]",
        text=html.unescape(content).strip(),
        received_at=parse_coupang_datetime(item.get("inquiryAt")),
        context={
            "board": "callcenter",
            "question_id": inquiry_id,
            "order_id": order_id,
            "vendor_item_id": _first(item.get("vendorItemId")),
            "product_name": item_name,
            "category": category,
            "inquiry_status": optional_str(item.get("inquiryStatus")),
            "partner_status": status,
            "parent_answer_id": parent,
            "needs_confirm": status in TRANSFER_STATES,
            "answered": any(a.from_seller for a in answers),
        },
    )
    return Question(message, tuple(answers))
