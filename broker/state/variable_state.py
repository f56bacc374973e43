"""Variables by (scope key, name). Values are stored as decoded JSON values (msgpack)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from propolis.broker.state.store import Tables, int_key, pack, unpack

_MISSING = object()


class VariableState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def get_local(self, scope_key: int, name: str) -> Any:
        """The variable's `{key, value}` in exactly this scope, or None."""
        return self._t.get("variables", int_key(scope_key) + name.encode())

    def local(self, scope_key: int) -> Iterator[tuple[str, dict[str, Any]]]:
        prefix = int_key(scope_key)
        for key, value in self._t.scan("variables", prefix):
            yield key[8:].decode(), unpack(value)

    # -- written by appliers only --
    def put(self, scope_key: int, name: str, variable_key: int, value: Any) -> None:
        self._t.put_raw("variables", int_key(scope_key) + name.encode(), pack({"key": variable_key, "value": value}))

    def remove_scope(self, scope_key: int) -> None:
        for key, _ in list(self._t.scan("variables", int_key(scope_key))):
            self._t.delete("variables", key)


class ScopeVariables(Mapping[str, Any]):
    """What an expression sees from an element instance: its own variables first, then each
    enclosing scope's, up to the process instance. Read lazily: expressions touch few names."""

    def __init__(self, variables: VariableState, scope_chain: list[int], overlay: Mapping[str, Any] | None = None) -> None:
        self._variables = variables
        self._chain = scope_chain
        self._overlay = overlay or {}

    def _lookup(self, name: str) -> Any:
        if name in self._overlay:
            return self._overlay[name]
        for scope_key in self._chain:
            found = self._variables.get_local(scope_key, name)
            if found is not None:
                return found["value"]
        return _MISSING

    def get(self, name: str, default: Any = None) -> Any:
        value = self._lookup(name)
        return default if value is _MISSING else value

    def __getitem__(self, name: str) -> Any:
        value = self._lookup(name)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name) is not _MISSING

    def __iter__(self) -> Iterator[str]:
        return iter(self.collect())

    def __len__(self) -> int:
        return len(self.collect())

    def collect(self, names: list[str] | None = None) -> dict[str, Any]:
        """All visible variables (closest scope wins), optionally only the given names."""
        if names:
            found = ((name, self._lookup(name)) for name in names)
            return {name: value for name, value in found if value is not _MISSING}
        result: dict[str, Any] = {}
        for scope_key in reversed(self._chain):
            for name, variable in self._variables.local(scope_key):
                result[name] = variable["value"]
        result.update(self._overlay)
        return result
