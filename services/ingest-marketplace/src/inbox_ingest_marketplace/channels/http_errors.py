"""The status → error table shared by the marketplace channels, and the retry around calls.

- 401, 403 → `AuthError`: the account stops (health `auth_failed`), the others go on.
- 408, 429, 5xx, network → `TransientError`: retried here (tenacity, `Retry-After`
  honoured), then by the poller's backoff or the outbound consumer's nak.
- other 4xx → `PermanentError`: a reply is reported `failed` with the platform's message.

Each channel adds its platform's quirks (Naver's `GW.AUTHN`, 11st's errors inside HTTP 200)
before falling back to this table.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Final, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from inbox_core.errors import AuthError, InboxError, PermanentError, TransientError
from inbox_core.logging import get_logger

log = get_logger(__name__)

MAX_RETRY_AFTER_S: Final = 3600.0
T = TypeVar("T")


def retry_after_from(headers: Mapping[str, str], *, rate_header: str | None = None) -> float | None:
    """Seconds to wait: `Retry-After` (seconds or HTTP date), else one token of a bucket
    refilled at `rate_header` requests per second (Naver's `…-Replenish-Rate`)."""
    raw = headers.get("Retry-After")
    if raw:
        try:
            return min(MAX_RETRY_AFTER_S, max(0.0, float(raw)))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is not None:
                delta = (when - datetime.now(UTC)).total_seconds()
                return min(MAX_RETRY_AFTER_S, max(0.0, delta))
    rate = headers.get(rate_header) if rate_header else None
    if rate:
        try:
            per_s = float(rate)
        except ValueError:
            return None
        if per_s > 0:
            return min(MAX_RETRY_AFTER_S, 1.0 / per_s)
    return None


def error_for_status(status: int, detail: str, *, retry_after: float | None = None) -> InboxError:
    """The one table: 401/403 auth, 408/429/5xx later, other 4xx never."""
    if status in (401, 403):
        return AuthError(detail)
    if status == 429 or status == 408 or status >= 500:
        return TransientError(detail, retry_after=retry_after)
    return PermanentError(detail)


class RetryPolicy:
    """How often one platform call is tried before the error goes up (to the poller's
    backoff or the outbound consumer's nak): `attempts` in all, waiting `Retry-After` when
    the platform names one (up to `max_wait_s`; longer waits are left to the poller), else
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
