"""Naver normalisers on named fixtures: raw `<case>.json`, expected fields
`<case>.expected.json` (`inquiry_*` cases are customer inquiries, the others product Q&A)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from inbox_core.errors import InvalidPayload, PermanentError
from inbox_core.schema import Customer, OutboundReply
from inbox_ingest_marketplace.channels.naver_commerce import NaverCommerce
from inbox_ingest_marketplace.channels.naver_normalise import normalise_inquiry, normalise_qna

FIXTURES = Path(__file__).parent.parent / "fixtures" / "naver_commerce"
# The pairs whose expected file names the answers already given on the platform.
CASES = sorted(
    p.name.removesuffix(".expected.json")
    for p in FIXTURES.glob("*.expected.json")
    if "answers" in orjson.loads(p.read_bytes())
)


def _load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_normalise_gives_the_platform_s_answers(case: str) -> None:
    """The message of each pair is checked by the conformance suite; here the answers
    already given on the platform."""
    item, expected = _load(f"{case}.json"), _load(f"{case}.expected.json")
    normalise = normalise_inquiry if case.startswith("inquiry_") else normalise_qna

    question = normalise(item, "smartstore")

    assert [a.text for a in question.answers] == expected["answers"]


def test_normalise_qna_puts_the_account_in_keys_and_dedup_id() -> None:
    item = _load("size_question_unanswered.json")

    message = normalise_qna(item, "second-store").message

    assert message.account == "second-store"
    assert message.thread_keys == ["naver_commerce:second-store:qna:686514802"]
    assert message.dedup_id == "naver_commerce:second-store:qna:686514802"


def _with(**changes: Any) -> dict[str, Any]:
    item = dict(_load("size_question_unanswered.json"))
    for key, value in changes.items():
        if value is ...:
            item.pop(key)
        else:
            item[key] = value
    return item


@pytest.mark.parametrize(
    "item",
    [
        _with(questionId=...),
        _with(questionId=None),
        _with(questionId=""),
        _with(question=None),
        _with(createDate=...),
        _with(createDate="어제 오후"),
        _with(createDate=1732083123008),
        ["not", "an", "object"],
    ],
    ids=[
        "no-question-id",
        "null-question-id",
        "blank-question-id",
        "no-question-text",
        "no-create-date",
        "unreadable-create-date",
        "epoch-create-date",
        "not-an-object",
    ],
)
def test_normalise_qna_refuses_unreadable_items(item: Any) -> None:
    with pytest.raises(InvalidPayload):
        normalise_qna(item, "smartstore")


def test_normalise_qna_refuses_an_account_that_is_no_subject_token() -> None:
    with pytest.raises(InvalidPayload):
        normalise_qna(_load("size_question_unanswered.json"), "my.store")


def _reply(**fields: Any) -> OutboundReply:
    return OutboundReply(
        conversation_id="c-1",
        channel="naver_commerce",
        account="smartstore",
        customer=Customer(id="hong****"),
        text="M 사이즈 추천드려요.",
        agent="민지",
        **fields,
    )


CHANNEL = NaverCommerce(
    "smartstore", client_id="id", client_secret="$2a$04$" + "A" * 22, base_url="http://x"
)


@pytest.mark.parametrize(
    ("reply", "board", "question_id"),
    [
        (_reply(context={"question_id": "686514802"}), "qna", "686514802"),
        (_reply(context={"question_id": 686514802}), "qna", "686514802"),
        (_reply(context={"board": "inquiry", "question_id": 1234567}), "inquiry", "1234567"),
        (
            _reply(thread_keys=["mail:x@y", "naver_commerce:smartstore:qna:686520117"]),
            "qna",
            "686520117",
        ),
        (_reply(thread_keys=["naver_commerce:smartstore:inquiry:1234567"]), "inquiry", "1234567"),
        (_reply(in_reply_to="qna:686531450"), "qna", "686531450"),
        (_reply(in_reply_to="inquiry:1234567:edit:abc"), "inquiry", "1234567"),
    ],
    ids=[
        "context",
        "context-int",
        "context-inquiry",
        "thread-key",
        "thread-key-inquiry",
        "in-reply-to",
        "in-reply-to-edit",
    ],
)
def test_reply_targets_the_right_board_and_question(
    reply: OutboundReply, board: str, question_id: str
) -> None:
    target, qid = CHANNEL.target(reply)

    assert (target.key, qid) == (board, question_id)


def test_reply_of_another_account_is_refused() -> None:
    reply = _reply(thread_keys=["naver_commerce:other-store:qna:686520117"])

    with pytest.raises(PermanentError):
        CHANNEL.target(reply)


@pytest.mark.parametrize(
    "item",
    [{"inquiryContent": "배송 언제?"}, {"inquiryNo": 1, "inquiryContent": None}],
    ids=["no-inquiry-no", "no-content"],
)
def test_normalise_inquiry_refuses_unreadable_items(item: dict[str, Any]) -> None:
    with pytest.raises(InvalidPayload):
        normalise_inquiry(item, "smartstore")
