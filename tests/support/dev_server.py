"""A real `propolis dev` process on a free port, which tests can kill and restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

READY_MARKER = "propolis dev: gateway on"
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def propolis_executable() -> str:
    candidate = Path(sys.executable).parent / "propolis"
    return str(candidate) if candidate.exists() else "propolis"


class DevServer:
    def __init__(self, data_dir: Path | None, port: int | None = None, env: dict[str, str] | None = None) -> None:
        """`data_dir` None: no --data-dir flag (the environment's or configuration file's)."""
        self.data_dir = data_dir
        self.port = port or free_port()
        self.monitoring_port = free_port()
        self.console_port = free_port()
        self.env = {**os.environ, "PROPOLIS_MONITORING_PORT": str(self.monitoring_port), **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [propolis_executable(), "dev", "--port", str(self.port), "--host", "127.0.0.1",
             "--console-port", str(self.console_port),
             *(["--data-dir", str(self.data_dir)] if self.data_dir is not None else [])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        ready = threading.Event()

        def pump(stream) -> None:
            for line in stream:
                self.output.append(line)
                if READY_MARKER in line:
                    ready.set()

        threading.Thread(target=pump, args=(self.process.stderr,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("propolis dev did not start:\n" + "".join(self.output[-50:]))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C would; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)
