"""Partition state in LMDB. Processors read it; only event appliers write it."""

from __future__ import annotations

from propolis.broker.state.compensation_state import CompensationState
from propolis.broker.state.distribution_state import DistributionState
from propolis.broker.state.element_instance_state import ElementInstanceState
from propolis.broker.state.incident_state import IncidentState
from propolis.broker.state.job_state import JobState
from propolis.broker.state.message_state import MessageState
from propolis.broker.state.meta_state import MetaState
from propolis.broker.state.process_state import ProcessState
from propolis.broker.state.signal_state import SignalState
from propolis.broker.state.store import Store, Tables
from propolis.broker.state.timer_state import TimerState
from propolis.broker.state.variable_state import VariableState


class State:
    """All domain states over one current transaction (`tables.txn`)."""

    def __init__(self, store: Store) -> None:
        self.tables = Tables(store)
        self.meta = MetaState(self.tables)
        self.processes = ProcessState(self.tables)
        self.element_instances = ElementInstanceState(self.tables)
        self.variables = VariableState(self.tables)
        self.jobs = JobState(self.tables)
        self.incidents = IncidentState(self.tables)
        self.messages = MessageState(self.tables)
        self.timers = TimerState(self.tables)
        self.signals = SignalState(self.tables)
        self.compensations = CompensationState(self.tables)
        self.distributions = DistributionState(self.tables)
