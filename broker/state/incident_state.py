"""Open incidents, by key, and which incident blocks a job or an element instance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from propolis.broker.state.store import Tables, int_key, unpack


class IncidentState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def get(self, incident_key: int) -> dict[str, Any] | None:
        return self._t.get("incidents", int_key(incident_key))

    def all(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for key, value in self._t.scan("incidents", b""):
            yield int.from_bytes(key, "big", signed=True), unpack(value)

    # -- written by appliers only --
    def put(self, incident_key: int, incident: dict[str, Any]) -> None:
        self._t.put("incidents", int_key(incident_key), incident)

    def remove(self, incident_key: int) -> None:
        self._t.delete("incidents", int_key(incident_key))
