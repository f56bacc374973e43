"""A tenant's share of the gateway's requests in flight."""

from __future__ import annotations

import grpc
import pytest
from propolis.gateway.errors import GatewayError
from propolis.gateway.tenant_shares import TenantShares


def test_a_tenant_alone_may_use_everything() -> None:
    shares = TenantShares(requests_in_flight_max=4)
    for _ in range(10):
        assert shares.enter("CreateProcessInstance", ("a",))


def test_beyond_the_limit_the_tenant_over_its_share_is_refused_and_the_other_gets_in() -> None:
    shares = TenantShares(requests_in_flight_max=4)
    for _ in range(4):
        shares.enter("CreateProcessInstance", ("flood",))
    assert shares.enter("CreateProcessInstance", ("light",))  # under its share of 4 / 2
    with pytest.raises(GatewayError) as caught:
        shares.enter("PublishMessage", ("flood",))
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "tenant 'flood' has 4 requests in flight, its share of 4 while 2 tenants are busy" in caught.value.message
    shares.leave(("light",))
    assert shares.enter("CreateProcessInstance", ("flood",))  # alone again


def test_long_polls_and_finishing_work_are_never_counted_nor_refused() -> None:
    shares = TenantShares(requests_in_flight_max=1)
    shares.enter("CreateProcessInstance", ("flood",))
    shares.enter("CreateProcessInstance", ("light",))
    for rpc in ("ActivateJobs", "StreamActivatedJobs", "CompleteJob", "FailJob", "ThrowError", "Topology"):
        assert shares.enter(rpc, ("flood",)) is False


def test_creations_awaiting_their_result_are_not_held_against_the_share() -> None:
    shares = TenantShares(requests_in_flight_max=2)
    shares.enter("CreateProcessInstance", ("flood",))
    shares.enter("CreateProcessInstance", ("flood",))
    # The light tenant's instances take long: their waits do not use up its share.
    for _ in range(5):
        assert shares.enter("CreateProcessInstanceWithResult", ("light",)) is False
    assert shares.enter("CreateProcessInstance", ("light",))
    with pytest.raises(GatewayError):
        shares.enter("CreateProcessInstance", ("flood",))
