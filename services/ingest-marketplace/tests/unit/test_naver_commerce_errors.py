"""The status → error table, one row per case."""

from __future__ import annotations

from typing import Any

import pytest

from inbox_core.errors import AuthError, InboxError, PermanentError, TransientError
from inbox_ingest_marketplace.channels.naver_auth import error_from_response

TRACE = "cr3-000000-aaaaaa^1730711073284^6745261"


def _body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "timestamp": "2026-11-20T23:35:24.415+09:00",
        "traceId": TRACE,
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "retry_after", "in_message"),
    [
        (401, {}, _body("GW.AUTHN", "요청을 보낼 권한이 없습니다."), AuthError, None, "GW.AUTHN"),
        (403, {}, _body("FORBIDDEN", "권한 그룹이 없습니다."), AuthError, None, "FORBIDDEN"),
        (
            429,
            {"Retry-After": "7"},
            _body("GW.RATE_LIMIT", "초과"),
            TransientError,
            7.0,
            "GW.RATE_LIMIT",
        ),
        (
            429,
            {"GNCP-GW-RateLimit-Replenish-Rate": "2"},
            _body("GW.RATE_LIMIT", "초과"),
            TransientError,
            0.5,
            "GW.RATE_LIMIT",
        ),
        (429, {}, _body("GW.QUOTA_LIMIT", "초과"), TransientError, None, "GW.QUOTA_LIMIT"),
        (500, {}, _body("INTERNAL_SERVER_ERROR", "일시적 오류"), TransientError, None, TRACE),
        (502, {}, {}, TransientError, None, "HTTP 502"),
        (503, {"Retry-After": "30"}, {}, TransientError, 30.0, "HTTP 503"),
        (408, {}, {}, TransientError, None, "HTTP 408"),
        (
            400,
            {},
            _body(
                "BAD_REQUEST",
                "요청 파라미터가 유효하지 않습니다.",
                invalidInputs=[{"name": "size", "type": "Max", "message": "100 이하"}],
            ),
            PermanentError,
            None,
            "size (100 이하)",
        ),
        (
            404,
            {},
            _body("NOT_FOUND", "문의를 찾을 수 없습니다."),
            PermanentError,
            None,
            "문의를 찾을 수 없습니다.",
        ),
        (409, {}, _body("CONFLICT", "충돌"), PermanentError, None, "CONFLICT"),
    ],
    ids=[
        "401-authn",
        "403-forbidden",
        "429-retry-after",
        "429-replenish-rate",
        "429-no-hint",
        "500",
        "502-empty-body",
        "503-retry-after",
        "408",
        "400-invalid-inputs",
        "404",
        "409",
    ],
)
def test_status_maps_to_error(
    status: int,
    headers: dict[str, str],
    body: dict[str, Any],
    kind: type[InboxError],
    retry_after: float | None,
    in_message: str,
) -> None:
    err = error_from_response(status, headers, body, what="naver_commerce GET /v1/contents/qnas")

    assert type(err) is kind
    assert in_message in str(err)
    if isinstance(err, TransientError):
        assert err.retry_after == retry_after


def test_trace_id_comes_from_the_header_when_the_body_has_none() -> None:
    err = error_from_response(500, {"GNCP-GW-Trace-ID": "abc^1^2"}, {}, what="x")

    assert "abc^1^2" in str(err)
