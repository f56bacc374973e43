"""The embedded SQLite read model: what the console shows, built from exported records.

`ReadModelExporter` writes it (one per partition, all into one file); `ReadModel` reads it
(the console's queries; readers never write). `schema.py` says how it is laid out and why.
"""

from propolis.exporters.read_model.exporter import ReadModelExporter
from propolis.exporters.read_model.queries import InstanceFilter, ReadModel

__all__ = ["InstanceFilter", "ReadModel", "ReadModelExporter"]
