"""normalise_qna on named fixtures: raw `<case>.json`, expected fields `<case>.expected.json`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from inbox_core.errors import InvalidPayload, PermanentError
from inbox_core.schema import Customer, OutboundReply
from inbox_ingest_marketplace.channels.naver_commerce import normalise_qna, question_id_for

FIXTURES = Path(__file__).parent.parent / "fixtures" / "naver_commerce"
CASES = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json"))


def _load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_normalise_qna_gives_expected_message(case: str) -> None:
    item, expected = _load(f"{case}.json"), _load(f"{case}.expected.json")

    message = normalise_qna(item, "smartstore")

    got = message.model_dump(mode="json")
    for key, value in expected.items():
        if key == "received_at":
            assert datetime.fromisoformat(got[key]) == datetime.fromisoformat(value)
        else:
            assert got[key] == value, key
    assert message.received_at.utcoffset() is not None
    assert message.dedup_id == f"naver_commerce:smartstore:qna:{item['questionId']}"


def test_normalise_qna_puts_the_account_in_keys_and_dedup_id() -> None:
    item = _load("size_question_unanswered.json")

    message = normalise_qna(item, "second-store")

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


@pytest.mark.parametrize(
    ("reply", "question_id"),
    [
        (_reply(context={"question_id": "686514802"}), "686514802"),
        (_reply(context={"question_id": 686514802}), "686514802"),
        (_reply(thread_keys=["mail:x@y", "naver_commerce:smartstore:qna:686520117"]), "686520117"),
        (_reply(in_reply_to="qna:686531450"), "686531450"),
    ],
    ids=["context", "context-int", "thread-key", "in-reply-to"],
)
def test_question_id_for_reply(reply: OutboundReply, question_id: str) -> None:
    assert question_id_for(reply, "smartstore") == question_id


def test_question_id_for_reply_of_another_account_is_refused() -> None:
    reply = _reply(thread_keys=["naver_commerce:other-store:qna:686520117"])

    with pytest.raises(PermanentError):
        question_id_for(reply, "smartstore")
