"""The one status → action table, the one Retry-After parser, the retry around one call."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox_core.errors import AuthError, InboxError, PermanentError, TransientError
from inbox_core.http import (
    Action,
    RetryPolicy,
    action_for_status,
    parse_retry_after,
    poll_error,
    retry_after_from,
    send_error,
)

STATUSES = {
    "200": (200, Action.OK, None, None),
    "204": (204, Action.OK, None, None),
    "401": (401, Action.AUTH, AuthError, PermanentError),
    "403": (403, Action.AUTH, AuthError, PermanentError),
    "408": (408, Action.RETRY, TransientError, TransientError),
    "429": (429, Action.RATE_LIMITED, TransientError, TransientError),
    "500": (500, Action.RETRY, TransientError, TransientError),
    "503": (503, Action.RETRY, TransientError, TransientError),
    "302": (302, Action.FAIL, PermanentError, PermanentError),
    "400": (400, Action.FAIL, PermanentError, PermanentError),
    "404": (404, Action.FAIL, PermanentError, PermanentError),
    "409": (409, Action.FAIL, PermanentError, PermanentError),
}


@pytest.mark.parametrize(
    ("status", "action", "polling", "sending"), STATUSES.values(), ids=STATUSES.keys()
)
def test_one_table_for_polling_and_sending(
    status: int,
    action: Action,
    polling: type[InboxError] | None,
    sending: type[InboxError] | None,
) -> None:
    assert action_for_status(status) is action
    if polling is None or sending is None:
        return
    detail = f"coupang GET x: HTTP {status}"
    from_poll = poll_error(status, detail, retry_after=3.0)
    from_send = send_error(status, detail, retry_after=3.0)

    assert type(from_poll) is polling and type(from_send) is sending
    assert str(from_poll) == str(from_send) == detail
    if isinstance(from_send, TransientError):
        assert from_send.retry_after == 3.0


NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
RETRY_AFTER = {
    "seconds": ("7", 7.0),
    "fraction": ("1.5", 1.5),
    "zero": ("0", 0.0),
    "negative": ("-5", 0.0),
    "huge": ("99999", 3600.0),
    "http-date": ("Mon, 02 Mar 2026 06:00:30 GMT", 30.0),
    "http-date-gone-by": ("Mon, 02 Mar 2026 05:00:00 GMT", 0.0),
    "http-date-far": ("Fri, 20 Nov 2099 06:00:00 GMT", 3600.0),
    "unreadable": ("soon", None),
    "blank": ("  ", None),
    "absent": (None, None),
}


@pytest.mark.parametrize(("value", "seconds"), RETRY_AFTER.values(), ids=RETRY_AFTER.keys())
def test_retry_after_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


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
def test_poll_status_maps_to_error(status: int, kind: type[InboxError]) -> None:
    err = poll_error(status, f"coupang GET x: HTTP {status}", retry_after=None)

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
