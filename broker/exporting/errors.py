"""Errors of the exporting package."""

from __future__ import annotations


class ExporterStartupError(ValueError):
    """An exporter of the configuration cannot be loaded or configured; the broker does not
    start. The message names the exporter id and, where known, the field."""
