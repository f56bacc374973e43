"""The Elasticsearch exporter in a real broker, talking through the official client to a local
HTTP server that answers as Elasticsearch 8 does (tests/support/elasticsearch_server.py). No
Elasticsearch runs here: these tests check the exact requests the client sends (templates, bulk
NDJSON bodies, index names, ids, routing), not what a real cluster would make of them."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

import pytest
from propolis.broker.config import ExporterSpec
from propolis.broker.exporting.errors import ExporterStartupError
from propolis.exporters.elasticsearch.indices import propolis_version

from propolis.records import ValueType
from tests.broker import models
from tests.broker.harness import BrokerHarness
from tests.exporters.documents import as_json
from tests.support.cli import wait_until
from tests.support.elasticsearch_server import ElasticsearchLikeServer

ES = "propolis.exporters.elasticsearch.ElasticsearchExporter"
VERSION = propolis_version()


@pytest.fixture
def server():
    with ElasticsearchLikeServer() as running:
        yield running


def broker(tmp_path: Path, server: ElasticsearchLikeServer, extra: dict | None = None, **args: object) -> BrokerHarness:
    spec = ExporterSpec("elasticsearch", ES, {"url": server.url, **args})
    exporters = {"elasticsearch": spec, **(extra or {})}
    return BrokerHarness(
        tmp_path / "data", exporters=exporters,
        exporter_retry_backoff_initial_ms=10, exporter_retry_backoff_max_ms=50,
    )


def run_one_instance(harness: BrokerHarness) -> None:
    harness.deploy(("one.bpmn", models.one_task("one", "work")))
    harness.create("one", {"orderId": 7})
    [(job_key, _)] = harness.activate("work")
    harness.complete(job_key, {"paid": True})


def expected_documents(harness: BrokerHarness, record_types=("EVENT",), skip_value_types=("JOB_BATCH", "PROCESS_INSTANCE_RESULT")) -> list[dict]:
    return [
        as_json(r) for r in harness.records()
        if r["recordType"] in record_types and r["valueType"] not in skip_value_types
    ]


def index_name(document: dict) -> str:
    day = datetime.datetime.fromtimestamp(document["timestamp"] / 1000, tz=datetime.UTC).strftime("%Y-%m-%d")
    return f"propolis-record_{document['valueType'].lower().replace('_', '-')}_{VERSION}_{day}"


def bulk_lines(server: ElasticsearchLikeServer) -> list[dict]:
    return [line for request in server.taken("/_bulk") for line in request.ndjson()]


def test_bulk_bodies_carry_each_event_with_zeebe_style_index_id_and_routing(tmp_path: Path, server: ElasticsearchLikeServer) -> None:
    harness = broker(tmp_path, server, bulk={"delay": 0.05, "size": 1000}).start()
    try:
        run_one_instance(harness)
        expected = expected_documents(harness)
        wait_until(lambda: len(bulk_lines(server)) == 2 * len(expected))
        requests = server.taken("/_bulk")
        for request in requests:
            assert request.method in ("PUT", "POST")
            assert request.headers["content-type"] == "application/vnd.elasticsearch+x-ndjson; compatible-with=8"
            # NDJSON exactly: compact JSON, one object per line, a newline after the last.
            lines = request.body.decode().split("\n")
            assert lines[-1] == ""
            assert lines[:-1] == [json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False) for line in lines[:-1]]
        sent = bulk_lines(server)
        actions, documents = sent[0::2], sent[1::2]
        assert documents == expected
        assert actions == [
            {"index": {"_index": index_name(d), "_id": f"1-{d['position']}", "routing": "1"}} for d in documents
        ]
        assert {a["index"]["_index"].rsplit("_", 1)[0] for a in actions} >= {
            f"propolis-record_process-instance_{VERSION}", f"propolis-record_job_{VERSION}", f"propolis-record_deployment_{VERSION}",
        }
        last = harness.broker.partition(1).log.last_position
        wait_until(lambda: harness.broker.partition(1).director.acknowledged_positions() == {"elasticsearch": last})
    finally:
        harness.close()


def test_templates_are_installed_at_open(tmp_path: Path, server: ElasticsearchLikeServer) -> None:
    harness = broker(tmp_path, server, index={"prefix": "acme", "numberOfShards": 1, "numberOfReplicas": 2,
                                               "jobBatch": True, "variable": False}).start()
    try:
        # Every value type but instance results (off by default) and variables (turned off).
        wait_until(lambda: len(server.taken("/_index_template/")) == len(ValueType) - 2)
    finally:
        harness.close()
    [component] = server.taken("/_component_template/")
    assert (component.method, component.path) == ("PUT", "/_component_template/acme")
    body = component.json()
    assert body["template"]["settings"] == {"number_of_shards": 1, "number_of_replicas": 2}
    assert body["template"]["mappings"]["properties"]["position"] == {"type": "long"}
    templates = {r.path: r.json() for r in server.taken("/_index_template/")}
    assert f"/_index_template/acme_variable_{VERSION}" not in templates
    assert templates[f"/_index_template/acme_job-batch_{VERSION}"] == {
        "index_patterns": [f"acme_job-batch_{VERSION}_*"],
        "composed_of": ["acme"],
        "priority": 20,
        "template": {"aliases": {"acme-job-batch": {}}},
    }
    assert f"/_index_template/acme_process-message-subscription_{VERSION}" in templates


def test_bulk_size_bounds_each_request_and_filters_choose_the_records(tmp_path: Path, server: ElasticsearchLikeServer) -> None:
    harness = broker(tmp_path, server, bulk={"size": 3, "delay": 3600},
                     index={"command": True, "event": False, "createTemplate": False}).start()
    try:
        run_one_instance(harness)
        expected = expected_documents(harness, record_types=("COMMAND",))
        full = len(expected) - len(expected) % 3
        wait_until(lambda: len(bulk_lines(server)) == 2 * full)
    finally:
        harness.close()  # sends the rest
    assert [len(r.ndjson()) // 2 for r in server.taken("/_bulk")] == [3] * (full // 3) + ([len(expected) % 3] if len(expected) % 3 else [])
    assert bulk_lines(server)[1::2] == expected
    assert server.all("/_component_template/") == [] and server.all("/_index_template/") == []


def test_a_failing_server_is_retried_while_other_exporters_and_processing_go_on(tmp_path: Path, server: ElasticsearchLikeServer) -> None:
    file_out = tmp_path / "records.jsonl"
    jsonl = ExporterSpec("file", "propolis.exporters.jsonl.JsonLinesExporter", {"path": str(file_out), "flushIntervalMs": 0})
    server.failing = True
    harness = broker(tmp_path, server, extra={"file": jsonl}, bulk={"delay": 0.02}, retries=0).start()
    metrics = harness.broker.metrics.registry
    labels = {"partition": "1", "exporter": "elasticsearch"}
    try:
        run_one_instance(harness)
        run_one_instance(harness)  # processing goes on
        last = harness.broker.partition(1).log.last_position
        wait_until(lambda: file_out.exists() and len(file_out.read_text().splitlines()) == last)
        wait_until(lambda: (metrics.get_sample_value("propolis_exporter_failures_total", labels) or 0) >= 3)
        # Acknowledged: only the commands before the first event, which its filter refuses.
        expected = expected_documents(harness)
        not_exported = last - (expected[0]["position"] - 1)
        wait_until(lambda: metrics.get_sample_value("propolis_exporter_lag_records", labels) == not_exported)
        assert server.taken("/_bulk") == [] and len(server.all("/_bulk")) >= 3

        server.failing = False
        wait_until(lambda: metrics.get_sample_value("propolis_exporter_lag_records", labels) == 0)
        # Every event arrived; what was sent again has the same id, so it overwrites.
        sent = bulk_lines(server)
        by_id = {action["index"]["_id"]: document for action, document in zip(sent[0::2], sent[1::2], strict=True)}
        assert by_id == {f"1-{d['position']}": d for d in expected}
    finally:
        harness.close()


@pytest.mark.parametrize(("retries", "director_retries"), [(2, False), (0, True)])
def test_the_client_retries_503_itself_up_to_retries(tmp_path: Path, server: ElasticsearchLikeServer, retries: int, director_retries: bool) -> None:
    server.unavailable_times = 2
    harness = broker(tmp_path, server, bulk={"delay": 0.02}, retries=retries).start()
    labels = {"partition": "1", "exporter": "elasticsearch"}
    try:
        harness.deploy(("one.bpmn", models.one_task("one", "work")))
        last = harness.broker.partition(1).log.last_position
        wait_until(lambda: harness.broker.partition(1).director.acknowledged_positions() == {"elasticsearch": last})
        failures = harness.broker.metrics.registry.get_sample_value("propolis_exporter_failures_total", labels) or 0
    finally:
        harness.close()
    assert len(server.all("/_bulk")) == 3, "two answered 503, then one taken"
    assert (failures > 0) is director_retries


def test_a_refused_document_fails_the_whole_bulk_and_is_sent_again(tmp_path: Path, server: ElasticsearchLikeServer, caplog: pytest.LogCaptureFixture) -> None:
    server.refusing = True
    harness = broker(tmp_path, server, bulk={"delay": 0.02}).start()
    labels = {"partition": "1", "exporter": "elasticsearch"}
    try:
        harness.deploy(("one.bpmn", models.one_task("one", "work")))
        wait_until(lambda: (harness.broker.metrics.registry.get_sample_value("propolis_exporter_failures_total", labels) or 0) >= 2)
        first_event = expected_documents(harness)[0]["position"]
        # Nothing exported is acknowledged (only the command before, which the filter refuses).
        assert harness.broker.partition(1).director.acknowledged_positions() == {"elasticsearch": first_event - 1}
        assert "Elasticsearch refused 1 of" in caplog.text and "mapper_parsing_exception: failed to parse field [value.x]" in caplog.text
        server.refusing = False
        last = harness.broker.partition(1).log.last_position
        wait_until(lambda: harness.broker.partition(1).director.acknowledged_positions() == {"elasticsearch": last})
    finally:
        harness.close()


def test_basic_authentication_is_sent(tmp_path: Path, server: ElasticsearchLikeServer) -> None:
    harness = broker(tmp_path, server, authentication={"username": "elastic", "password": "s3cret"}).start()
    try:
        wait_until(lambda: server.taken("/_component_template/"))
    finally:
        harness.close()
    expected = "Basic " + base64.b64encode(b"elastic:s3cret").decode()
    assert {r.headers["authorization"] for r in server.all()} == {expected}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"url": "localhost:9200"}, "url: expected http(s)://host:port, got 'localhost:9200'"),
        ({"bulk": {"size": 0}}, "bulk.size: expected a whole number >= 1, got 0"),
        ({"bulk": {"delay": "5s"}}, "bulk.delay: expected a number >= 0, got '5s'"),
        ({"index": {"processInstanse": True}}, "index.processInstanse: unknown setting; expected one of "),
        ({"index": {"prefix": "Zeebe_Record"}}, "index.prefix: expected a lower-case Elasticsearch index name"),
        ({"authentication": {"username": "elastic"}}, "authentication: expected both username and password, or neither"),
        ({"bulks": {}}, "bulks: unknown setting; expected one of "),
    ],
)
def test_wrong_args_stop_the_start_naming_the_field(tmp_path: Path, args: dict, message: str) -> None:
    harness = BrokerHarness(tmp_path / "data", exporters={"es": ExporterSpec("es", ES, args)})
    with pytest.raises(ExporterStartupError) as raised:
        harness.broker.start()
    assert str(raised.value).startswith(f"exporter 'es' ({ES}): args: {message}")
    harness.loop.close()
