"""The wrong-token limiter: a sliding window per address, bounded memory."""

from __future__ import annotations

from inbox_notifier.auth import FailureLimiter


def test_an_address_may_try_again_once_its_oldest_failure_leaves_the_window() -> None:
    limiter = FailureLimiter(limit=3, window_s=60)
    for t in (0.0, 10.0, 20.0):
        assert limiter.retry_after("10.0.0.1", now=t) == 0
        limiter.fail("10.0.0.1", now=t)
    assert limiter.retry_after("10.0.0.1", now=30.0) == 30
    assert limiter.retry_after("10.0.0.2", now=30.0) == 0  # other addresses are not affected
    assert limiter.retry_after("10.0.0.1", now=60.5) == 0
    limiter.fail("10.0.0.1", now=60.5)
    assert limiter.retry_after("10.0.0.1", now=61.0) == 9  # 10 s + 60 s - 61 s


def test_memory_is_bounded_by_forgetting_the_least_recent_addresses() -> None:
    limiter = FailureLimiter(limit=1, window_s=60, max_addresses=100)
    for n in range(1000):
        limiter.fail(f"10.0.{n // 256}.{n % 256}", now=1.0)
    assert len(limiter.failures) == 100
    assert limiter.retry_after("10.0.3.231", now=2.0) > 0  # the latest is remembered
