"""Loading exporters named in the configuration: import the class by its dotted path, make
one instance per partition and configure it. Anything wrong stops the broker's start with an
`ExporterStartupError` naming the exporter id and the field."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

from propolis.broker.config import ExporterSpec
from propolis.broker.exporting.errors import ExporterStartupError
from propolis.exporters.api import Exporter, ExporterConfigError, ExporterContext

log = logging.getLogger(__name__)

EXPORTER_METHODS = ("configure", "open", "export", "close")


@dataclass
class ConfiguredExporter:
    """An exporter instance for one partition, configured and not yet opened."""

    exporter_id: str
    exporter: Exporter
    context: ExporterContext


def load_exporter_class(spec: ExporterSpec) -> type:
    where = f"exporter {spec.exporter_id!r}: className {spec.class_name!r}"
    module_name, _, class_name = spec.class_name.rpartition(".")
    if not module_name or not class_name:
        raise ExporterStartupError(f"{where}: expected a dotted path 'package.module.Class'")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # an ImportError, or whatever the plugin's module raised
        raise ExporterStartupError(
            f"{where}: cannot import module {module_name!r} ({type(error).__name__}: {error})"
        ) from error
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ExporterStartupError(f"{where}: module {module_name!r} has no class {class_name!r}")
    missing = [name for name in EXPORTER_METHODS if not callable(getattr(cls, name, None))]
    if missing:
        raise ExporterStartupError(
            f"{where}: {class_name} is not an exporter: it has no {', '.join(missing)} method "
            "(see propolis.exporters.api.Exporter)"
        )
    return cls


def configure_exporters(specs: dict[str, ExporterSpec], partition_id: int) -> list[ConfiguredExporter]:
    """One configured instance of each exporter for `partition_id`, in configuration order."""
    configured = []
    for exporter_id, spec in specs.items():
        cls = load_exporter_class(spec)
        where = f"exporter {exporter_id!r} ({spec.class_name})"
        try:
            exporter = cls()
        except Exception as error:
            raise ExporterStartupError(f"{where}: cannot be created ({type(error).__name__}: {error})") from error
        context = ExporterContext(exporter_id=exporter_id, partition_id=partition_id, args=dict(spec.args))
        try:
            exporter.configure(context)
        except ExporterConfigError as error:
            raise ExporterStartupError(f"{where}: args: {error}") from error
        except Exception as error:
            raise ExporterStartupError(
                f"{where}: configure failed ({type(error).__name__}: {error})"
            ) from error
        configured.append(ConfiguredExporter(exporter_id, exporter, context))
    return configured
