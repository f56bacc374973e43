"""A job worker: long-polls the gateway for jobs of one type and runs a handler per job.

    worker = JobWorker(client, "charge", ShellCommandHandler("./charge.sh"), max_jobs=32)
    worker.run()      # until worker.stop() (from a signal handler or another thread)

A handler is a callable `(Job) -> dict | None`: what it returns completes the job with those
variables; raising `JobFailure` fails the job (retries - 1 unless it says otherwise), and any
other exception fails it with the exception as the message. `ShellCommandHandler` runs a shell
command per job: the job's variables as JSON on stdin, a JSON object (or nothing) on stdout.

Concurrency: at most `max_jobs` handlers run at once, each on its own thread; the worker asks
the gateway only for as many jobs as it has free slots, so no activated job waits in a queue
while its timeout runs. Stopping: `stop()` cancels the pending long poll and lets running
handlers finish; `ShellCommandHandler.kill_all()` ends them early.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from propolis.clients.client import ActivateJobsCall, Job, PropolisClient
from propolis.clients.errors import GatewayError

log = logging.getLogger(__name__)

# Long poll on the gateway's side: an idle worker makes one call per this many milliseconds.
POLL_REQUEST_TIMEOUT_MS = 10_000
# After a failed activation (gateway down, overloaded), wait this long, doubling up to the max.
POLL_BACKOFF_MS_MIN = 100
POLL_BACKOFF_MS_MAX = 5_000
# A failure message keeps at most this many characters of the handler's stderr (its end).
ERROR_MESSAGE_CHARS_MAX = 2_000
# How much of an unparsable stdout is quoted back in the failure message.
STDOUT_QUOTE_CHARS_MAX = 200

Handler = Callable[[Job], "dict[str, Any] | None"]


class JobFailure(Exception):
    """Raised by a handler to fail its job with a message (and optionally explicit retries)."""

    def __init__(self, message: str, retries: int | None = None, retry_backoff_ms: int = 0):
        super().__init__(message)
        self.message = message
        self.retries = retries
        self.retry_backoff_ms = retry_backoff_ms


class JobAbandoned(Exception):  # noqa: N818 -- names what happened, not a failure of ours
    """The handler gave up on a job without an answer (e.g. it ran past the job's timeout, by
    which time the broker has made the job activatable again): neither complete nor fail it."""


class JobWorker:
    def __init__(
        self,
        client: PropolisClient,
        job_type: str,
        handler: Handler,
        *,
        name: str = "propolis-worker",
        max_jobs: int = 32,
        timeout_ms: int = 300_000,
        poll_request_timeout_ms: int = POLL_REQUEST_TIMEOUT_MS,
        fetch_variables: Iterable[str] = (),
    ) -> None:
        assert max_jobs >= 1, max_jobs
        assert timeout_ms >= 1, timeout_ms
        self.client = client
        self.job_type = job_type
        self.handler = handler
        self.name = name
        self.max_jobs = max_jobs
        self.timeout_ms = timeout_ms
        self.poll_request_timeout_ms = poll_request_timeout_ms
        self.fetch_variables = list(fetch_variables)
        self.completed = 0
        self.failed = 0
        self._stopping = threading.Event()
        self._slots = threading.Condition()
        self._in_flight = 0
        self._call: ActivateJobsCall | None = None
        self._call_lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        with self._slots:
            return self._in_flight

    def stop(self) -> None:
        """Stop polling (cancelling the pending poll); running handlers finish. Thread-safe."""
        self._stopping.set()
        with self._call_lock:
            if self._call is not None:
                self._call.cancel()
        with self._slots:
            self._slots.notify_all()

    def run(self) -> None:
        """Poll and handle jobs until `stop()`; returns when every started handler has ended."""
        executor = ThreadPoolExecutor(max_workers=self.max_jobs, thread_name_prefix="job")
        poller = threading.Thread(target=self._poll, args=(executor,), name="poll", daemon=True)
        poller.start()
        try:
            while poller.is_alive():
                poller.join(timeout=0.2)  # short waits keep the main thread open to signals
        finally:
            self.stop()
            executor.shutdown(wait=True)

    # -- polling ---------------------------------------------------------------------------

    def _free_slots(self) -> int:
        with self._slots:
            while self._in_flight >= self.max_jobs and not self._stopping.is_set():
                self._slots.wait()
            return self.max_jobs - self._in_flight

    def _poll(self, executor: ThreadPoolExecutor) -> None:
        backoff_ms = POLL_BACKOFF_MS_MIN
        while not self._stopping.is_set():
            free = self._free_slots()
            if self._stopping.is_set():
                break
            call = self.client.start_activate_jobs(
                self.job_type,
                worker=self.name,
                max_jobs=free,
                timeout_ms=self.timeout_ms,
                request_timeout_ms=self.poll_request_timeout_ms,
                fetch_variables=self.fetch_variables,
            )
            with self._call_lock:
                self._call = call
            if self._stopping.is_set():
                call.cancel()
            try:
                jobs = call.result()
            except GatewayError as error:
                log.warning(
                    "could not activate jobs; retrying",
                    extra={"job_type": self.job_type, "status": error.status,
                           "error": error.message, "retry_in_ms": backoff_ms},
                )
                self._stopping.wait(backoff_ms / 1000)
                backoff_ms = min(backoff_ms * 2, POLL_BACKOFF_MS_MAX)
                continue
            finally:
                with self._call_lock:
                    self._call = None
            backoff_ms = POLL_BACKOFF_MS_MIN
            # Jobs that arrived are ours even when stopping: handle them rather than let them
            # sit out their timeout.
            for job in jobs:
                with self._slots:
                    self._in_flight += 1
                executor.submit(self._handle, job)

    # -- handling --------------------------------------------------------------------------

    def _handle(self, job: Job) -> None:
        extra = {"job_key": job.key, "job_type": job.type,
                 "process_instance_key": job.process_instance_key}
        try:
            try:
                variables = self.handler(job)
            except JobFailure as failure:
                self._fail(job, failure)
                return
            except JobAbandoned as abandoned:
                log.warning("job abandoned: %s", abandoned, extra=extra)
                return
            except Exception as error:  # a handler's bug fails its job, not the worker
                log.exception("handler raised", extra=extra)
                self._fail(job, JobFailure(f"handler raised {type(error).__name__}: {error}"))
                return
            self.client.complete_job(job.key, variables)
            with self._slots:
                self.completed += 1
            log.info("job completed", extra=extra)
        except GatewayError as error:
            log.warning(
                "could not report the job's result: %s", error,
                extra={**extra, "status": error.status},
            )
        except Exception:
            log.exception("unexpected error while handling a job", extra=extra)
        finally:
            with self._slots:
                self._in_flight -= 1
                self._slots.notify_all()

    def _fail(self, job: Job, failure: JobFailure) -> None:
        retries = failure.retries if failure.retries is not None else max(job.retries - 1, 0)
        self.client.fail_job(
            job.key,
            retries=retries,
            error_message=failure.message,
            retry_backoff_ms=failure.retry_backoff_ms,
        )
        with self._slots:
            self.failed += 1
        log.info(
            "job failed: %s", failure.message,
            extra={"job_key": job.key, "job_type": job.type, "retries": retries},
        )


def _truncate_tail(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):]


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {list: "array", str: "string", type(None): "null"}.get(type(value), "value")


class ShellCommandHandler:
    """Runs `command` through the shell for each job.

    The child gets the job's variables as a JSON object on stdin and these environment
    variables: PROPOLIS_JOB_KEY, PROPOLIS_JOB_TYPE, PROPOLIS_JOB_RETRIES,
    PROPOLIS_PROCESS_INSTANCE_KEY, PROPOLIS_PROCESS_ID, PROPOLIS_ELEMENT_ID,
    PROPOLIS_ELEMENT_INSTANCE_KEY, PROPOLIS_JOB_CUSTOM_HEADERS (JSON).
    Exit 0 with a JSON object (or nothing) on stdout completes the job with those variables;
    a non-zero exit fails it with the end of stderr as the message; stdout that is not a JSON
    object fails it too. A command still running after `timeout_s` is killed and the job left
    to time out on the broker.
    """

    def __init__(self, command: str, timeout_s: float | None = None, retry_backoff_ms: int = 0):
        self.command = command
        self.timeout_s = timeout_s
        self.retry_backoff_ms = retry_backoff_ms
        self._running: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    def environment(self, job: Job) -> dict[str, str]:
        return {
            **os.environ,
            "PROPOLIS_JOB_KEY": str(job.key),
            "PROPOLIS_JOB_TYPE": job.type,
            "PROPOLIS_JOB_RETRIES": str(job.retries),
            "PROPOLIS_PROCESS_INSTANCE_KEY": str(job.process_instance_key),
            "PROPOLIS_PROCESS_ID": job.process_id,
            "PROPOLIS_ELEMENT_ID": job.element_id,
            "PROPOLIS_ELEMENT_INSTANCE_KEY": str(job.element_instance_key),
            "PROPOLIS_JOB_CUSTOM_HEADERS": json.dumps(job.custom_headers),
        }

    def __call__(self, job: Job) -> dict[str, Any] | None:
        # A session of its own: Ctrl-C in the terminal reaches the worker, which lets running
        # handlers finish, instead of killing them mid-job.
        process = subprocess.Popen(
            self.command,
            shell=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.environment(job),
            start_new_session=True,
        )
        with self._lock:
            self._running.add(process)
        try:
            try:
                stdout, stderr = process.communicate(
                    json.dumps(job.variables).encode(), timeout=self.timeout_s
                )
            except subprocess.TimeoutExpired:
                self._kill(process)
                process.communicate()
                raise JobAbandoned(
                    f"handler still running after {self.timeout_s:g}s (the job's timeout); killed"
                ) from None
        finally:
            with self._lock:
                self._running.discard(process)
        return self._result(process.returncode, stdout, stderr)

    def _result(self, returncode: int, stdout: bytes, stderr: bytes) -> dict[str, Any] | None:
        error_text = stderr.decode("utf-8", errors="replace")
        if returncode != 0:
            if returncode < 0:
                try:
                    reason = f"handler was killed by {signal.Signals(-returncode).name}"
                except ValueError:
                    reason = f"handler was killed by signal {-returncode}"
            else:
                reason = f"handler exited with code {returncode}"
            detail = _truncate_tail(error_text, ERROR_MESSAGE_CHARS_MAX)
            message = f"{reason}: {detail}" if detail else f"{reason} (nothing on stderr)"
            raise JobFailure(message, retry_backoff_ms=self.retry_backoff_ms)
        if error_text.strip():
            log.info("handler stderr: %s", _truncate_tail(error_text, ERROR_MESSAGE_CHARS_MAX))
        output = stdout.decode("utf-8", errors="replace").strip()
        if not output:
            return None
        try:
            value = json.loads(output)
        except json.JSONDecodeError as error:
            quoted = output[:STDOUT_QUOTE_CHARS_MAX]
            raise JobFailure(
                f"handler printed invalid JSON on stdout ({error}); expected a JSON object of "
                f"variables or nothing; stdout began with: {quoted!r}",
                retry_backoff_ms=self.retry_backoff_ms,
            ) from None
        if not isinstance(value, dict):
            raise JobFailure(
                f"handler printed a JSON {_json_kind(value)} on stdout; expected a JSON "
                "object of variables or nothing",
                retry_backoff_ms=self.retry_backoff_ms,
            )
        return value

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill_all(self) -> None:
        """Kill every running handler (and its children); their jobs fail as killed."""
        with self._lock:
            running = list(self._running)
        for process in running:
            self._kill(process)
