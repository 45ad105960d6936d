"""A consumer waits for more messages only when they are coming fast enough to be worth it."""

from inbox_core.fetch_linger import LINGER_S, READY_S, FetchLinger


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def arrive(linger: FetchLinger, clock: Clock, per_s: float, seconds: float) -> None:
    """One message at a time, evenly spaced, as at a steady offered load."""
    for _ in range(int(per_s * seconds)):
        clock.now += 1 / per_s
        linger.taken(1)


def test_a_quiet_consumer_takes_what_is_ready_without_waiting() -> None:
    clock = Clock()
    linger = FetchLinger(clock)
    assert linger.wait_s() == READY_S  # nothing seen yet
    arrive(linger, clock, per_s=10, seconds=3)
    assert linger.wait_s() == READY_S  # half a message would come in 50 ms


def test_a_busy_consumer_waits_to_gather_a_batch() -> None:
    clock = Clock()
    linger = FetchLinger(clock)
    arrive(linger, clock, per_s=100, seconds=2)
    assert linger.wait_s() == LINGER_S
    assert linger.gathers()  # five would come in 50 ms: take them all, not just the next


def test_a_moderately_busy_consumer_waits_for_one_more_only() -> None:
    clock = Clock()
    linger = FetchLinger(clock)
    arrive(linger, clock, per_s=40, seconds=2)
    assert linger.wait_s() == LINGER_S  # two would come in 50 ms: pair them up
    assert not linger.gathers()  # but sleeping through 50 ms would delay every batch


def test_the_wait_ends_once_the_spike_is_over() -> None:
    clock = Clock()
    linger = FetchLinger(clock)
    linger.taken(64)  # a burst in one batch
    assert linger.wait_s() == LINGER_S
    clock.now += 1.5  # quiet since
    linger.taken(1)
    assert linger.wait_s() == READY_S
    assert not linger.gathers()
