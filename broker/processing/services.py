"""What processors share beyond the context: the process cache and the broker's limits."""

from __future__ import annotations

from dataclasses import dataclass

from propolis.broker.config import BrokerConfig
from propolis.broker.processing.process_cache import ProcessCache


@dataclass
class Services:
    processes: ProcessCache
    config: BrokerConfig
