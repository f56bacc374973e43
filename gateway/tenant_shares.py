"""Requests in flight per tenant at this gateway: one tenant's flood is refused here, cheaply,
before it takes the broker's time from the others.

Under contention only: while the gateway holds fewer than `requests_in_flight_max` requests,
or only one tenant has any, everything is let in (a tenant alone may use all the capacity
there is). Beyond it, a tenant holding its share (`requests_in_flight_max` divided by the
tenants with requests in flight, itself included) is answered RESOURCE_EXHAUSTED, as Zeebe
answers backpressure, so clients back off and retry; the others still get in. Long polls and
job streams (they wait, and cost nothing while they do) and the commands that finish work
(CompleteJob, FailJob, ThrowError: shedding them only makes more work) are not counted, and
neither is a creation that awaits its result: its wait is the instance's own work, and the
rate of creations is what tenant_rates.py limits (counted here, a light tenant whose instances
took over a second was refused once they held its share, while it sent only 40 a second). A
tenant is the set of tenants its caller may use. The partition's own queue is fair as well
(broker/command_queue.py); this keeps the backlog from building up in front of it, where it
would be served in arrival order.
"""

from __future__ import annotations

import grpc
from propolis.gateway.errors import GatewayError, expected

NOT_COUNTED = frozenset(
    {"Topology", "ActivateJobs", "StreamActivatedJobs", "CompleteJob", "FailJob", "ThrowError"}
)


# Not held in flight here; still counted by the rate limits (tenant_rates.py).
NOT_HELD = NOT_COUNTED | {"CreateProcessInstanceWithResult"}


class TenantShares:
    def __init__(self, requests_in_flight_max: int) -> None:
        self._max = requests_in_flight_max
        self._in_flight: dict[tuple[str, ...], int] = {}
        self._total = 0

    def enter(self, rpc: str, tenants: tuple[str, ...]) -> bool:
        """Count a request in (True), or raise RESOURCE_EXHAUSTED; False: not counted."""
        if rpc in NOT_HELD:
            return False
        mine = self._in_flight.get(tenants, 0)
        if self._total >= self._max:
            active = len(self._in_flight) + (0 if mine else 1)
            share = max(1, self._max // active)
            if active > 1 and mine >= share:
                raise GatewayError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    expected(
                        f"handle gRPC request {rpc}",
                        f"tenant {', '.join(repr(t) for t in tenants)} has {mine} requests in flight, its share "
                        f"of {self._max} while {active} tenants are busy; retry later",
                    ),
                )
        self._in_flight[tenants] = mine + 1
        self._total += 1
        return True

    def leave(self, tenants: tuple[str, ...]) -> None:
        left = self._in_flight[tenants] - 1
        if left:
            self._in_flight[tenants] = left
        else:
            del self._in_flight[tenants]
        self._total -= 1
