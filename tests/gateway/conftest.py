"""Fixtures for gateway tests against the fake broker (see fake_broker.py):

    def test_something(fake_broker, gateway_stub): ...   # default config, one partition
    @pytest.mark.parametrize("gateway_config", [GatewayConfig(...)], indirect=True)
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from propolis.gateway.config import GatewayConfig
from propolis.gateway.protocol import GatewayStub

from tests.gateway.fake_broker import FakeBroker, RunningGateway


@pytest.fixture
def fake_broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def gateway_config(request: pytest.FixtureRequest) -> GatewayConfig:
    return getattr(request, "param", None) or GatewayConfig(host="127.0.0.1", port=0)


@pytest.fixture
def gateway(fake_broker: FakeBroker, gateway_config: GatewayConfig) -> Iterator[RunningGateway]:
    running = RunningGateway(fake_broker, gateway_config)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def gateway_channel(gateway: RunningGateway) -> Iterator[grpc.Channel]:
    channel = grpc.insecure_channel(
        gateway.address, options=[("grpc.max_send_message_length", 64 << 20)]
    )
    try:
        yield channel
    finally:
        channel.close()


@pytest.fixture
def gateway_stub(gateway_channel: grpc.Channel) -> GatewayStub:
    return GatewayStub(gateway_channel)
