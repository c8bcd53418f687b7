"""Waiting for a server to come up: retry delays that start short, double, and stop on time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

# First retry after 50 ms, doubling, at most 2 s apart: a server that is nearly up is used at
# once, one that takes a minute is not hammered.
FIRST_RETRY_DELAY = 0.05
MAX_RETRY_DELAY = 2.0


def retry_delays(
    timeout: float,
    *,
    first: float = FIRST_RETRY_DELAY,
    most: float = MAX_RETRY_DELAY,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[float]:
    """Seconds to sleep before each retry, until ``timeout`` seconds from this call have
    passed; the last delay is cut to what remains.

    >>> for delay in retry_delays(60):  # the loop ends when the time is up
    ...     if try_to_connect():
    ...         break
    ...     time.sleep(delay)
    """
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0 seconds, got {timeout}")
    return _delays(clock() + timeout, first, most, clock)


def _delays(
    deadline: float, first: float, most: float, clock: Callable[[], float]
) -> Iterator[float]:
    # A generator's body starts at the first next(): the deadline is fixed by the caller above.
    delay = first
    while (remaining := deadline - clock()) > 0:
        yield min(delay, remaining)
        delay = min(delay * 2, most)
