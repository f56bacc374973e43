"""Start a `propolis dev` process for a block of test code and stop it cleanly afterwards."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.dev_server import DevServer

OUTPUT_TAIL_LINES = 40


def output_tail(server: DevServer) -> str:
    return "".join(server.output[-OUTPUT_TAIL_LINES:])


def stop_cleanly(server: DevServer) -> None:
    """SIGTERM, then fail the test unless the process exits 0 within DevServer's timeout."""
    process = server.process
    assert process is not None, "the server was never started"
    if process.poll() is not None:
        pytest.fail(
            f"propolis dev had already exited with {process.returncode}:\n{output_tail(server)}"
        )
    try:
        returncode = server.stop()
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"propolis dev did not stop on SIGTERM:\n{output_tail(server)}")
    if returncode != 0:
        pytest.fail(f"propolis dev exited with {returncode} on SIGTERM:\n{output_tail(server)}")


@contextmanager
def running_propolis_dev(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[DevServer]:
    server = DevServer(data_dir, env=env)
    try:
        server.start()
    except BaseException:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        raise
    try:
        yield server
    except BaseException:
        # The block failed: report that, not the shutdown.
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        raise
    # A server that died during the block fails here too.
    stop_cleanly(server)
