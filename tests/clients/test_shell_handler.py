"""The worker's shell-command handler, run on real child processes (no broker needed)."""

from __future__ import annotations

import json
import sys

import pytest
from propolis.clients.client import Job
from propolis.clients.worker import (
    ERROR_MESSAGE_CHARS_MAX,
    JobAbandoned,
    JobFailure,
    ShellCommandHandler,
)

PYTHON = sys.executable


def job(**variables: object) -> Job:
    return Job(
        key=2251799813685300, type="charge", process_instance_key=2251799813685290,
        process_id="order", process_definition_version=1, process_definition_key=2251799813685250,
        element_id="charge-card", element_instance_key=2251799813685295,
        custom_headers={"currency": "EUR"}, worker="test", retries=3, deadline_ms=0,
        variables=dict(variables),
    )


def python(code: str) -> str:
    return f"{PYTHON} -c {json.dumps(code)}"


def test_the_child_gets_variables_on_stdin_and_job_details_in_its_environment() -> None:
    handler = ShellCommandHandler(python(
        "import json, os, sys; v = json.load(sys.stdin); print(json.dumps({'seen': v, 'env': "
        "{k: v for k, v in os.environ.items() if k.startswith('PROPOLIS_')}}))"
    ))
    result = handler(job(amount=12.5))
    assert result is not None
    assert result["seen"] == {"amount": 12.5}
    assert result["env"] == {
        "PROPOLIS_JOB_KEY": "2251799813685300",
        "PROPOLIS_JOB_TYPE": "charge",
        "PROPOLIS_JOB_RETRIES": "3",
        "PROPOLIS_PROCESS_INSTANCE_KEY": "2251799813685290",
        "PROPOLIS_PROCESS_ID": "order",
        "PROPOLIS_ELEMENT_ID": "charge-card",
        "PROPOLIS_ELEMENT_INSTANCE_KEY": "2251799813685295",
        "PROPOLIS_JOB_CUSTOM_HEADERS": '{"currency": "EUR"}',
    }


def test_empty_stdout_completes_without_variables() -> None:
    assert ShellCommandHandler("true")(job()) is None


def test_a_non_zero_exit_fails_with_the_end_of_stderr() -> None:
    handler = ShellCommandHandler(python(
        "import sys; sys.stderr.write('x' * 5000 + ' card declined'); sys.exit(3)"
    ))
    with pytest.raises(JobFailure) as failure:
        handler(job())
    message = failure.value.message
    assert message.startswith("handler exited with code 3: …")
    assert message.endswith("card declined")
    assert len(message) < ERROR_MESSAGE_CHARS_MAX + 100


def test_a_silent_failure_says_so() -> None:
    with pytest.raises(JobFailure, match=r"handler exited with code 1 \(nothing on stderr\)"):
        ShellCommandHandler("false")(job())


def test_invalid_json_on_stdout_fails_with_a_clear_message() -> None:
    with pytest.raises(JobFailure, match="handler printed invalid JSON on stdout .*'done!'"):
        ShellCommandHandler("echo done!")(job())


def test_json_that_is_not_an_object_fails() -> None:
    with pytest.raises(JobFailure, match="handler printed a JSON array on stdout"):
        ShellCommandHandler("echo '[1, 2]'")(job())


def test_a_handler_running_past_the_job_timeout_is_killed_and_the_job_abandoned() -> None:
    with pytest.raises(JobAbandoned, match="still running after 0.3s"):
        ShellCommandHandler("sleep 30", timeout_s=0.3)(job())
