"""Events per second, forgetting the past exponentially: two floats instead of a window of
timestamps, cheap enough to keep per tenant (gateway/tenant_rates.py) or per partition
(broker/work_admission.py)."""

from __future__ import annotations

import math


class DecayingRate:
    __slots__ = ("_per_s", "_at_s", "_window_s")

    def __init__(self, window_s: float, now_s: float = 0.0) -> None:
        if window_s <= 0:
            raise ValueError(f"expected a positive window, got {window_s}")
        self._per_s = 0.0
        self._at_s = now_s
        self._window_s = window_s

    def per_s(self, now_s: float) -> float:
        """The rate at `now_s`: each event counts 1/window at first and fades with e^(-t/window).
        A time before the last event (another thread's clock read earlier) counts as that one."""
        return self._per_s * math.exp(-max(0.0, now_s - self._at_s) / self._window_s)

    def count(self, now_s: float) -> None:
        self._per_s = self.per_s(now_s) + 1.0 / self._window_s
        self._at_s = max(self._at_s, now_s)
