"""The shared status → error table and the retry around one platform call."""

from __future__ import annotations

import pytest

from inbox_core.errors import AuthError, InboxError, PermanentError, TransientError
from inbox_ingest_marketplace.channels.http_errors import (
    RetryPolicy,
    error_for_status,
    retry_after_from,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthError),
        (403, AuthError),
        (408, TransientError),
        (429, TransientError),
        (500, TransientError),
        (503, TransientError),
        (400, PermanentError),
        (404, PermanentError),
        (409, PermanentError),
    ],
    ids=["401", "403", "408", "429", "500", "503", "400", "404", "409"],
)
def test_status_maps_to_error(status: int, kind: type[InboxError]) -> None:
    err = error_for_status(status, f"coupang GET x: HTTP {status}", retry_after=None)

    assert type(err) is kind and f"HTTP {status}" in str(err)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "Fri, 20 Nov 2099 06:00:00 GMT"}, 3600.0),  # capped
        ({"Retry-After": "soon"}, None),
        ({"GNCP-GW-RateLimit-Replenish-Rate": "4"}, 0.25),
        ({}, None),
    ],
    ids=["seconds", "http-date-capped", "unreadable", "replenish-rate", "none"],
)
def test_retry_after_from_headers(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_from(headers, rate_header="GNCP-GW-RateLimit-Replenish-Rate") == seconds


class _Flaky:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_transient_errors_are_retried_honouring_retry_after() -> None:
    call = _Flaky(TransientError("429", retry_after=0.01), TransientError("502"))

    result = await RetryPolicy(attempts=3, base_s=0.01).call(call)

    assert result == "ok" and call.calls == 3


@pytest.mark.parametrize(
    "error",
    [PermanentError("400"), AuthError("401"), TransientError("429", retry_after=600)],
    ids=["permanent", "auth", "retry-after-beyond-the-in-call-limit"],
)
async def test_errors_not_worth_waiting_for_here_go_up_at_once(error: Exception) -> None:
    call = _Flaky(error)

    with pytest.raises(type(error)):
        await RetryPolicy(attempts=3, base_s=0.01, max_wait_s=30).call(call)

    assert call.calls == 1


async def test_last_transient_error_goes_up_after_all_attempts() -> None:
    call = _Flaky(*(TransientError(f"503 #{i}") for i in range(3)))

    with pytest.raises(TransientError, match="503 #1"):
        await RetryPolicy(attempts=2, base_s=0.01).call(call)

    assert call.calls == 2
