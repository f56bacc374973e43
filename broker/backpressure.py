"""Adaptive backpressure: how many client commands a partition takes in flight at once.

A command is in flight from its arrival at the partition until its batch is durable. The
limit adapts to the latency of that span, as Zeebe's AIMD limiter does (additive increase,
multiplicative decrease): a command that took longer than `latency_target_ms` shrinks the
limit by `backoff_ratio`; one that was quick while the partition was busy (at least half the
limit in flight) raises it by one. Under overload the queue therefore stays about as long as
the partition can work off within the target, and the commands beyond it are refused at once
(RESOURCE_EXHAUSTED) instead of waiting in a queue that only grows.

Commands that finish work (job completion, failure, errors, yields) are never refused: they
count in flight but always get in, since refusing them only makes more work later.

Thread safety: `try_acquire` is called by callers' threads, `release` by the partition thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LimitSettings:
    initial: int = 100
    minimum: int = 100
    maximum: int = 5_000
    latency_target_ms: float = 200.0
    backoff_ratio: float = 0.9


class AimdLimiter:
    def __init__(self, settings: LimitSettings) -> None:
        if not 1 <= settings.minimum <= settings.initial <= settings.maximum:
            raise ValueError(f"expected 1 <= minimum <= initial <= maximum, got {settings}")
        self.settings = settings
        self._limit = float(settings.initial)
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        return int(self._limit)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def try_acquire(self, sheddable: bool = True) -> bool:
        """Take a place for one command; False means refuse it (only if it is sheddable)."""
        with self._lock:
            if sheddable and self._in_flight >= int(self._limit):
                return False
            self._in_flight += 1
            return True

    def release(self, latency_s: float) -> None:
        """A command's batch is durable after `latency_s` in flight (or it was dropped: 0)."""
        settings = self.settings
        with self._lock:
            busy = self._in_flight * 2 >= self._limit
            self._in_flight = max(0, self._in_flight - 1)
            if latency_s * 1000 > settings.latency_target_ms:
                self._limit = max(settings.minimum, self._limit * settings.backoff_ratio)
            elif busy:
                self._limit = min(settings.maximum, self._limit + 1)
