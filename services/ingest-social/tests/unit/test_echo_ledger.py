"""The echo ledger never blocks a reply or a webhook when the store fails."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from inbox_ingest_social.echo_ledger import EchoLedger, sent_key


class BrokenCollection:
    async def update_one(self, *args: Any, **kwargs: Any) -> None:
        raise ServerSelectionTimeoutError("store down")

    def find(self, *args: Any, **kwargs: Any) -> BrokenCursor:
        return BrokenCursor()


class BrokenCursor:
    """A cursor fails when it is read, as pymongo's does."""

    def __aiter__(self) -> BrokenCursor:
        return self

    async def __anext__(self) -> Any:
        raise ServerSelectionTimeoutError("store down")


class BrokenDb:
    def __getitem__(self, name: str) -> BrokenCollection:
        return BrokenCollection()


@pytest.fixture
def ledger() -> EchoLedger:
    return EchoLedger(lambda: BrokenDb())  # type: ignore[arg-type, return-value]


async def test_store_down_while_noting_does_not_stop_the_reply(ledger: EchoLedger) -> None:
    await ledger.remember("reply-1", sent_key("naver_talktalk", "talktalk", "u", "안녕하세요"))


async def test_store_down_while_checking_keeps_the_echo(ledger: EchoLedger) -> None:
    assert await ledger.consume(sent_key("naver_talktalk", "talktalk", "u", "안녕하세요")) is False


def test_sent_key_names_account_user_and_text() -> None:
    base = sent_key("naver_talktalk", "talktalk", "u", "네")
    assert base == sent_key("naver_talktalk", "talktalk", "u", "네")
    assert base != sent_key("naver_talktalk", "talktalk", "v", "네")
    assert base != sent_key("naver_talktalk", "othershop", "u", "네")
    assert base != sent_key("naver_talktalk", "talktalk", "u", "네 ")
