"""`propolis broker` + `propolis gateway` as two processes, for the benchmarks that compare
that shape with `propolis dev` (benchmarks/load.py's DevProcess)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.load import free_port

NODE_START_TIMEOUT_S = 60
NODE_STOP_TIMEOUT_S = 60


class SeparateProcesses:
    """`propolis broker` and `propolis gateway --contact-point` on free ports with a fresh data
    folder (one partition), both with `config` when given (auth, for instance)."""

    def __init__(self, pythonpath: str | None, config: Path | None = None) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="propolis-bench-")
        self.monitoring_port = free_port()
        self.gateway_monitoring_port = free_port()
        self.port = free_port()
        env = {**os.environ, "PROPOLIS_MONITORING_HOST": "127.0.0.1",
               "PROPOLIS_MONITORING_PORT": str(self.monitoring_port),
               "PROPOLIS_GATEWAY_MONITORING_PORT": str(self.gateway_monitoring_port),
               "GRPC_VERBOSITY": "NONE"}
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        executable = str(Path(sys.executable).parent / "propolis")
        configured = ["--config", str(config)] if config is not None else []
        self.broker = PropolisProcess([executable, "broker", "--host", "127.0.0.1", "--port", "0", "--data-dir", self.data_dir,
                             *configured], "propolis broker: node ", env)
        internal = re.search(r"internal API on ([^,\s]+)", self.broker.ready_line)
        assert internal is not None, self.broker.ready_line
        try:
            self.gateway = PropolisProcess([executable, "gateway", "--contact-point", internal.group(1), "--host", "127.0.0.1",
                                  "--port", str(self.port), *configured], "propolis gateway: on ", env)
        except BaseException:
            self.broker.stop()
            raise
        self.address = f"127.0.0.1:{self.port}"

    @property
    def pids(self) -> list[int]:
        return [self.broker.process.pid, self.gateway.process.pid]

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.monitoring_port}/metrics"

    @property
    def gateway_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_monitoring_port}/metrics"

    def stop(self) -> int:
        code = self.gateway.stop()
        code = self.broker.stop() or code
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return code


class PropolisProcess:
    """A `propolis` command whose stderr is read continuously (its last lines kept) until it
    prints `ready_marker`; `stop()` sends SIGTERM and returns the exit code."""

    def __init__(self, command: list[str], ready_marker: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        env=env, cwd=tempfile.gettempdir())
        self.output: list[str] = []
        self.ready_line = ""
        ready = threading.Event()

        def pump() -> None:
            for line in self.process.stderr:
                self.output.append(line)
                del self.output[:-200]
                if ready_marker in line and not ready.is_set():
                    self.ready_line = line
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while not ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"{command[1]} did not start:\n" + "".join(self.output[-30:]))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=NODE_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
