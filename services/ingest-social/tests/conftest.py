"""Fixtures shared by the unit and service tests of ingest-social."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from inbox_core.connector import RawRequest

FIXTURES = Path(__file__).parent / "fixtures"
ARRIVED = datetime(2025, 11, 20, 6, 30, tzinfo=UTC)


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
