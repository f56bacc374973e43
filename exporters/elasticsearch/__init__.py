"""The Elasticsearch exporter (`className: propolis.exporters.elasticsearch.ElasticsearchExporter`)."""

from propolis.exporters.elasticsearch.exporter import (
    ElasticsearchExporter,
    ElasticsearchExportError,
)

__all__ = ["ElasticsearchExportError", "ElasticsearchExporter"]
