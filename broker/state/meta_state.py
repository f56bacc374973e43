"""Positions and the key counter: where processing and event application stand."""

from __future__ import annotations

from propolis.broker.state.store import Tables

_LAST_APPLIED = b"last_applied_position"
_LAST_PROCESSED = b"last_processed_position"
_KEY_COUNTER = b"key_counter"


class MetaState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def last_applied_position(self) -> int:
        return self._t.get("meta", _LAST_APPLIED) or 0

    def last_processed_position(self) -> int:
        return self._t.get("meta", _LAST_PROCESSED) or 0

    def key_counter(self) -> int:
        return self._t.get("meta", _KEY_COUNTER) or 0

    def set_positions(self, applied: int, processed: int) -> None:
        self._t.put("meta", _LAST_APPLIED, applied)
        self._t.put("meta", _LAST_PROCESSED, processed)

    def set_key_counter(self, counter: int) -> None:
        self._t.put("meta", _KEY_COUNTER, counter)
