"""Fixtures shared by the unit and service tests of ingest-social."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from inbox_core.connector import RawRequest
from inbox_core.schema import InboundMessage

FIXTURES = Path(__file__).parent / "fixtures"
ARRIVED = datetime(2025, 11, 20, 6, 30, tzinfo=UTC)


def load_case(case: str, folder: str = "facebook") -> dict[str, Any]:
    """{"channel", "description", "body", "expected"} of `fixtures/<folder>/<case>.json`."""
    return json.loads((FIXTURES / folder / f"{case}.json").read_text(encoding="utf-8"))


def view(message: InboundMessage) -> dict[str, Any]:
    """The fields a fixture's `expected` names, in the same shape."""
    return {
        "account": message.account,
        "external_id": message.external_id,
        "direction": message.direction.value,
        "echo": message.flags.echo,
        "thread_keys": message.thread_keys,
        "customer_id": message.customer.id,
        "text": message.text,
        "received_at": message.received_at.isoformat(),
        "context": message.context,
        "attachments": [
            {"name": a.name, "content_type": a.content_type, "ref": a.ref}
            for a in message.attachments
        ],
    }


@pytest.fixture
def message_view() -> Callable[[InboundMessage], dict[str, Any]]:
    """The view of a message that fixtures' `expected` lists hold."""
    return view


@pytest.fixture
def fixture_case() -> Callable[..., dict[str, Any]]:
    """`fixture_case("text_message")`, `fixture_case("send_text", "naver_talktalk")`."""
    return load_case


@pytest.fixture
def raw_request() -> Callable[..., RawRequest]:
    """A RawRequest as the SDK builds it from an aiohttp request."""

    def make(
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        method: str = "POST",
        path: str = "/webhooks/facebook",
        query: Mapping[str, str] | None = None,
    ) -> RawRequest:
        return RawRequest(
            method=method,
            path=path,
            headers=CIMultiDictProxy(CIMultiDict(headers or {})),
            query=MultiDictProxy(MultiDict(query or {})),
            body=body,
            received_at=ARRIVED,
        )

    return make
