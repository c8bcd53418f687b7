"""One answer at a time per model server, first come first served, with a visible place in line.

A local llama.cpp server runs one generation at a time; two sessions asking at once used to
be served one after the other with no word about it, and the second waited in silence. Here
each asker takes a ticket and is told how many answers are ahead of it while it waits.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator


class GenerationQueue:
    """A fair lock with a line you can see.

    >>> queue = GenerationQueue()
    >>> with queue.turn(lambda ahead: print(f"{ahead} ahead")):
    ...     stream_the_answer()
    """

    def __init__(self, *, poll_seconds: float = 0.25) -> None:
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be > 0, got {poll_seconds}")
        self._poll = poll_seconds
        self._lock = threading.Condition()
        self._tickets = itertools.count()
        self._line: list[int] = []

    @property
    def waiting(self) -> int:
        """How many askers hold a ticket (the one being served included)."""
        with self._lock:
            return len(self._line)

    @contextlib.contextmanager
    def turn(
        self,
        on_wait: Callable[[int], None] | None = None,
        *,
        cancelled: Callable[[], bool] | None = None,
    ) -> Iterator[None]:
        """Wait for this caller's turn, telling ``on_wait`` how many are ahead when it changes.

        Leaves the line early (raising ``TimeoutError`` is not wanted here) when ``cancelled``
        turns true: the body then runs at once and should see the cancellation itself.
        """
        with self._lock:
            ticket = next(self._tickets)
            self._line.append(ticket)
        told = -1
        try:
            with self._lock:
                while self._line[0] != ticket:
                    if cancelled is not None and cancelled():
                        break
                    ahead = self._line.index(ticket)
                    if ahead != told and on_wait is not None:
                        on_wait(ahead)
                        told = ahead
                    self._lock.wait(self._poll)
            yield
        finally:
            with self._lock:
                self._line.remove(ticket)
                self._lock.notify_all()
