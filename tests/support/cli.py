"""Run the `propolis` command line as a user would: a real process, its exit code and output."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from tests.support.dev_server import propolis_executable

CLI_TIMEOUT_S = 60
WORKER_READY_MARKER = "propolis worker: handling"
WORKER_START_TIMEOUT_S = 30
WORKER_STOP_TIMEOUT_S = 30


def propolis(
    *args: str, address: str | None = None, input: str | None = None,
    timeout_s: float = CLI_TIMEOUT_S, env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`propolis [--address A] ARGS...`, waited for; never raises on a non-zero exit."""
    command = [propolis_executable()]
    if address is not None:
        command += ["--address", address]
    return subprocess.run(
        [*command, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        # `propolis dev` would serve /metrics on 9600: a free port keeps tests independent.
        env={**os.environ, "PROPOLIS_MONITORING_PORT": "0", "PROPOLIS_GATEWAY_MONITORING_PORT": "0", **(env or {})},
    )


def propolis_ok(*args: str, **kwargs) -> str:
    """Like `propolis`, but the command must exit 0; returns its stdout."""
    result = propolis(*args, **kwargs)
    assert result.returncode == 0, (
        f"propolis {' '.join(args)} exited {result.returncode}\n"
        f"stdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result.stdout


class Worker:
    """A `propolis worker` process; `stop()` sends SIGINT (Ctrl-C) and returns the exit code."""

    def __init__(self, address: str, job_type: str, handler: str, *options: str,
                 env: dict[str, str] | None = None) -> None:
        self.command = [propolis_executable(), "--address", address, "worker", job_type,
                        "--handler", handler, *options]
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.stderr: list[str] = []
        self._pump: threading.Thread | None = None

    def start(self) -> Worker:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=self.env,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.process is not None and self.process.stderr is not None
            for line in self.process.stderr:
                self.stderr.append(line)
                if WORKER_READY_MARKER in line:
                    ready.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while not ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("propolis worker did not start:\n" + "".join(self.stderr))
        return self

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            returncode = self.process.wait(timeout=WORKER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        if self._pump is not None:
            self._pump.join(timeout=5)  # the last lines (the summary) are read
        return returncode

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if self.process is None:
            return
        returncode = self.stop()
        if exc_type is None:
            assert returncode == 0, (
                f"propolis worker exited {returncode} on Ctrl-C:\n" + "".join(self.stderr)
            )


def wait_until(condition, timeout_s: float = 30, interval_s: float = 0.05, message: str = ""):
    """Poll `condition()` until it returns something truthy; return that or fail."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout_s}s")
        time.sleep(interval_s)

