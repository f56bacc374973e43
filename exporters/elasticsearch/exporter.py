"""The Elasticsearch exporter, on the official `elasticsearch` client.

Records that pass the filter (by default: events of every value type but job batches, see
config.py) are buffered and sent with the bulk API once `bulk.size` records or
`bulk.memoryLimit` bytes are waiting, or `bulk.delay` seconds after the last flush. Their
positions are acknowledged only after a bulk request in which Elasticsearch took every
document. A failed bulk request (unreachable server, an error status after the client's own
retries, or any document refused) raises, so the director retries with back-off: the buffer is
kept and sent again, and since document ids are `{partitionId}-{position}` a document sent
twice is overwritten, not duplicated.
"""

from __future__ import annotations

import json
import logging

from elasticsearch import Elasticsearch
from propolis.exporters.api import ExporterContext, ExporterController, ExporterError, ScheduledTask
from propolis.exporters.elasticsearch import indices
from propolis.exporters.elasticsearch.config import ElasticsearchConfig, parse_config
from propolis.exporters.json_records import record_json

from propolis.records import Record

log = logging.getLogger(__name__)


class ElasticsearchExportError(ExporterError):
    """A bulk request or template installation failed; the message says which and why."""


class ElasticsearchExporter:
    def __init__(self) -> None:
        self.config: ElasticsearchConfig | None = None
        self.version = indices.propolis_version()
        self._client: Elasticsearch | None = None
        self._controller: ExporterController | None = None
        self._flush_task: ScheduledTask | None = None
        self._lines: list[str] = []  # action and document lines, NDJSON, in record order
        self._buffered_bytes = 0
        self._last_buffered = -1
        self._last_flush_failed = False

    # -- the Exporter interface -------------------------------------------------------------
    def configure(self, context: ExporterContext) -> None:
        self.config = parse_config(context.args)
        context.set_filter(record_types=self.config.record_types, value_types=self.config.value_types)

    def open(self, controller: ExporterController) -> None:
        config = self._require_config()
        self._controller = controller
        self._last_buffered = controller.get_last_exported_position()
        if self._client is not None:  # open is tried again after a failed one
            self._client.close()
        self._client = Elasticsearch(
            hosts=list(config.urls),
            request_timeout=config.request_timeout_ms / 1000,
            max_retries=config.retries,
            retry_on_timeout=True,
            basic_auth=(config.username, config.password) if config.username is not None else None,
        )
        if config.create_template:
            self._install_templates()
        if config.bulk_delay_ms > 0:
            self._flush_task = controller.schedule_cancellable_task(config.bulk_delay_ms, self._flush_periodically)

    def export(self, record: Record) -> None:
        config = self._require_config()
        if record.position > self._last_buffered:
            # Offered again after a failed flush: it is still in the buffer.
            action = {"index": {"_index": indices.index_for(record, config.prefix, self.version),
                                "_id": indices.document_id(record), "routing": str(record.partition_id)}}
            document = record_json(record)
            self._lines.append(json.dumps(action, separators=(",", ":")))
            self._lines.append(document)
            self._buffered_bytes += len(document)
            self._last_buffered = record.position
        if (
            config.bulk_delay_ms == 0
            or len(self._lines) // 2 >= config.bulk_size
            or self._buffered_bytes >= config.bulk_memory_limit_bytes
        ):
            self.flush()

    def close(self) -> None:
        if self._flush_task is not None:
            self._flush_task.cancel()
            self._flush_task = None
        if self._client is None:
            return
        # Not acknowledged records are exported again after the restart; when the server was
        # failing, do not make the shutdown wait for the client's time-outs once more.
        if not self._last_flush_failed:
            try:
                self.flush()
            except Exception:
                log.warning("the last bulk request failed at close", exc_info=True)
        self._client.close()
        self._client = None

    # -- bulk requests ---------------------------------------------------------------------
    def flush(self) -> None:
        """Send what is buffered in one bulk request; acknowledge it once every document was
        taken. Raises ElasticsearchExportError (keeping the buffer) otherwise."""
        if not self._lines:
            return
        assert self._client is not None and self._controller is not None, "open comes first"
        documents = len(self._lines) // 2
        self._last_flush_failed = True  # until this one succeeds
        try:
            response = self._client.bulk(operations=self._lines)
        except Exception as error:
            raise ElasticsearchExportError(
                f"bulk request of {documents} documents failed: {type(error).__name__}: {error}"
            ) from error
        if response.get("errors"):
            refused = [item for item in response["items"] if next(iter(item.values())).get("error")]
            first = next(iter(refused[0].values()))
            reason = first["error"]
            raise ElasticsearchExportError(
                f"bulk request: Elasticsearch refused {len(refused)} of {documents} documents; first: "
                f"index {first.get('_index')!r}, id {first.get('_id')!r}: "
                f"{reason.get('type') if isinstance(reason, dict) else ''}: "
                f"{reason.get('reason') if isinstance(reason, dict) else reason}"
            )
        self._lines = []
        self._buffered_bytes = 0
        self._last_flush_failed = False
        self._controller.update_last_exported_position(self._last_buffered)

    def _flush_periodically(self) -> None:
        assert self._controller is not None
        self._flush_task = self._controller.schedule_cancellable_task(self._require_config().bulk_delay_ms, self._flush_periodically)
        self.flush()

    def _install_templates(self) -> None:
        config = self._require_config()
        assert self._client is not None
        try:
            self._client.cluster.put_component_template(
                name=config.prefix, template=indices.component_template(config.number_of_shards, config.number_of_replicas)
            )
            for value_type in sorted(config.value_types):
                self._client.indices.put_index_template(
                    name=indices.index_prefix(config.prefix, value_type, self.version),
                    **indices.index_template(config.prefix, value_type, self.version),
                )
        except Exception as error:
            raise ElasticsearchExportError(
                f"installing the index templates failed: {type(error).__name__}: {error}"
            ) from error

    def _require_config(self) -> ElasticsearchConfig:
        assert self.config is not None, "configure comes first"
        return self.config
