"""Fixtures shared by the whole suite: a real `propolis dev` process on a free port with its
own data directory, per test, per module or per session.

    def test_something(propolis_dev):            # a fresh broker for this test
        run(["zbctl", "--address", propolis_dev.address, ...])

    def test_other(propolis_dev_module): ...     # one broker for every test in the module

Each yields a `tests.support.dev_server.DevServer` (`.address`, `.port`, `.data_dir`,
`.output` — its stderr lines, `.kill()`); at the end it is stopped with SIGTERM and must exit 0.
`running_propolis_dev(data_dir)` is the same as a context manager, for tests that restart a
broker on the same data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.running import running_propolis_dev


@pytest.fixture
def propolis_dev(tmp_path: Path) -> Iterator:
    with running_propolis_dev(tmp_path / "data") as server:
        yield server


@pytest.fixture(scope="module")
def propolis_dev_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with running_propolis_dev(tmp_path_factory.mktemp("propolis-dev") / "data") as server:
        yield server


@pytest.fixture(scope="session")
def propolis_dev_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with running_propolis_dev(tmp_path_factory.mktemp("propolis-dev") / "data") as server:
        yield server
