"""Platform HTTP answers → what to do: the one status→action table, the one `Retry-After`
parser, and the retry around one platform call. Every channel uses these.

| status              | action         | sending a reply     | polling an account          |
|---------------------|----------------|---------------------|-----------------------------|
| 2xx                 | `OK`           | sent                | page read                   |
| 429                 | `RATE_LIMITED` | `TransientError`    | `TransientError`            |
| 408, 5xx            | `RETRY`        | `TransientError`    | `TransientError`            |
| 401, 403            | `AUTH`         | `PermanentError`    | `AuthError` (account stops) |
| other 3xx/4xx       | `FAIL`         | `PermanentError`    | `PermanentError`            |

`TransientError` carries the platform's wait (`Retry-After`, seconds or HTTP date); the SDK
uses it as the nak delay of a reply or the poller's pause. A reply refused for its
credentials is reported `failed` with the platform's text (the agent reads it); a poller
refused for its credentials marks the account `auth_failed` and retries much later.
Channels add their platform's quirks (Graph error codes, errors inside an HTTP 200) before
falling back to this table.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from inbox_core.errors import AuthError, InboxError, PermanentError, TransientError
from inbox_core.logging import get_logger

log = get_logger(__name__)

MAX_RETRY_AFTER_S: Final = 3600.0
T = TypeVar("T")


class Action(StrEnum):
    OK = "ok"
    RETRY = "retry"  # transient: try again later
    RATE_LIMITED = "rate_limited"  # transient: wait as long as the platform says
    AUTH = "auth"  # credentials refused
    FAIL = "fail"  # permanent: retrying cannot help

    @property
    def retryable(self) -> bool:
        return self in (Action.RETRY, Action.RATE_LIMITED)


def action_for_status(status: int) -> Action:
    """The status→action table (module docstring)."""
    if 200 <= status < 300:
        return Action.OK
    if status == 429:
        return Action.RATE_LIMITED
    if status == 408 or status >= 500:
        return Action.RETRY
    if status in (401, 403):
        return Action.AUTH
    return Action.FAIL


def send_error(
    status: int, detail: str, *, retry_after: float | None = None
) -> TransientError | PermanentError:
    """A failed answer to a reply: retried later, or reported `failed` with `detail`."""
    if action_for_status(status).retryable:
        return TransientError(detail, retry_after=retry_after)
    return PermanentError(detail)


def poll_error(status: int, detail: str, *, retry_after: float | None = None) -> InboxError:
    """A failed answer while polling: refused credentials stop the account (`AuthError`)."""
    if action_for_status(status) is Action.AUTH:
        return AuthError(detail)
    return send_error(status, detail, retry_after=retry_after)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date (RFC 9110 §10.2.3),
    clamped to [0, MAX_RETRY_AFTER_S]; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


def retry_after_from(
    headers: Mapping[str, str], *, rate_header: str | None = None, now: datetime | None = None
) -> float | None:
    """Seconds to wait: `Retry-After`, else one token of a bucket refilled at `rate_header`
    requests per second (Naver's `…-Replenish-Rate`)."""
    wait = parse_retry_after(headers.get("Retry-After"), now=now)
    if wait is not None:
        return wait
    rate = headers.get(rate_header) if rate_header else None
    if rate:
        try:
            per_s = float(rate)
        except ValueError:
            return None
        if per_s > 0:
            return min(MAX_RETRY_AFTER_S, 1.0 / per_s)
    return None


class RetryPolicy:
    """How often one platform call is tried before the error goes up (to the poller's
    backoff or the outbound consumer's nak): `attempts` in all, waiting `Retry-After` when
    the platform names one (up to `max_wait_s`; longer waits are left to the caller), else
    an exponential, jittered pause from `base_s`."""

    def __init__(self, attempts: int = 3, base_s: float = 0.5, max_wait_s: float = 30.0) -> None:
        self.attempts = max(1, attempts)
        self.base_s = base_s
        self.max_wait_s = max_wait_s

    def _retryable(self, err: BaseException) -> bool:
        if not isinstance(err, TransientError):
            return False
        return err.retry_after is None or err.retry_after <= self.max_wait_s

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        err = outcome.exception() if outcome is not None else None
        retry_after = getattr(err, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        # Exponential with jitter: base, 2·base, 4·base … (+ up to one base), capped.
        exp = self.base_s * 2 ** max(0, state.attempt_number - 1)
        return min(self.max_wait_s, exp + random.uniform(0, self.base_s))

    async def call(self, fn: Callable[[], Awaitable[T]], *, what: str = "") -> T:
        retrying = AsyncRetrying(
            retry=retry_if_exception(self._retryable),
            wait=self._wait,
            stop=stop_after_attempt(self.attempts),
            reraise=True,
            before_sleep=lambda s: log.warning(
                "platform call failed, retrying",
                call=what,
                attempt=s.attempt_number,
                error=str(s.outcome.exception()) if s.outcome else None,
            ),
        )
        async for attempt in retrying:
            with attempt:
                return await fn()
        raise AssertionError("unreachable")  # pragma: no cover
