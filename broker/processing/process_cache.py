"""Parsed process models by definition key, parsed from the stored resource on first use."""

from __future__ import annotations

from collections import OrderedDict

from propolis.bpmn.model import Process
from propolis.bpmn.parser import parse_bpmn
from propolis.broker.state import State

CACHED_PROCESSES_MAX = 1_000


class ProcessCache:
    def __init__(self) -> None:
        self._cache: OrderedDict[int, Process] = OrderedDict()

    def get(self, state: State, process_definition_key: int) -> Process:
        process = self._cache.get(process_definition_key)
        if process is not None:
            self._cache.move_to_end(process_definition_key)
            return process
        stored = state.processes.get(process_definition_key)
        if stored is None:
            raise KeyError(f"process definition {process_definition_key} is not deployed")
        definitions = parse_bpmn(stored["resource"], stored["resourceName"])
        for candidate in definitions.processes:
            if candidate.id == stored["bpmnProcessId"]:
                self.put(process_definition_key, candidate)
                return candidate
        raise KeyError(f"process {stored['bpmnProcessId']} missing from its resource")

    def put(self, process_definition_key: int, process: Process) -> None:
        self._cache[process_definition_key] = process
        if len(self._cache) > CACHED_PROCESSES_MAX:
            self._cache.popitem(last=False)
