"""The broker's YAML configuration file (`propolis dev --config FILE` or `PROPOLIS_CONFIG`).

    # any BrokerConfig field, by its name
    snapshot_interval_s: 30
    exporters:
      records-file:                                   # the exporter's id
        className: propolis.exporters.jsonl.JsonLinesExporter
        args: {path: /var/log/propolis/records.jsonl}

Precedence: flags, then environment variables (`PROPOLIS_<FIELD>`), then this file, then the
defaults. Mistakes are refused with the file, the field and what was expected; whether the
exporters' classes import and accept their args is checked when the broker starts
(broker/exporting/loader.py).
"""

from __future__ import annotations

import os
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import yaml
from propolis.broker.config import ENV_PREFIX, BrokerConfig, ExporterSpec, env_value

CONFIG_ENV = "PROPOLIS_CONFIG"
EXPORTER_KEYS = ("className", "args")
# Top-level blocks that belong to the gateway (gateway/security_config.py reads them).
GATEWAY_SECTIONS = ("tls", "auth")


class ConfigFileError(ValueError):
    """The configuration file is unreadable or wrong; the message names the file and field."""


def load_broker_config(path: Path | str | None, **overrides: Any) -> BrokerConfig:
    """A BrokerConfig from the file at `path` (None: no file), the environment and `overrides`
    (flags; None values are ignored)."""
    values: dict[str, Any] = read_config_file(Path(path)) if path is not None else {}
    for name in list(values):
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is not None and name != "exporters":
            values[name] = env_value(name, raw)  # the environment wins over the file
    values.update({name: value for name, value in overrides.items() if value is not None})
    return BrokerConfig(**values)


def read_config_file(path: Path) -> dict[str, Any]:
    """The BrokerConfig fields the file sets, checked and converted."""
    document = read_config_document(path)
    known = {item.name: item for item in fields(BrokerConfig)}
    values: dict[str, Any] = {}
    for name, raw in document.items():
        if name in GATEWAY_SECTIONS:
            continue
        if name not in known:
            raise ConfigFileError(
                f"{path}: unknown setting {name!r}; known settings: "
                f"{', '.join(sorted([*known, *GATEWAY_SECTIONS]))}"
            )
        if name == "exporters":
            values[name] = _exporters(path, raw)
            continue
        default = known[name].default
        assert default is not MISSING
        values[name] = _scalar(path, name, raw, default)
    return values


def read_config_document(path: Path) -> dict[str, Any]:
    """The file's top-level mapping, unchecked beyond being YAML and a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigFileError(f"{path}: cannot read the configuration file ({error.strerror})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigFileError(f"{where}: not valid YAML: {problem}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigFileError(f"{path}: expected a mapping of settings at the top, got {_kind(document)}")
    return document


def _exporters(path: Path, raw: Any) -> dict[str, ExporterSpec]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{path}: exporters: expected a mapping of exporter ids, got {_kind(raw)}")
    specs: dict[str, ExporterSpec] = {}
    for exporter_id, block in raw.items():
        where = f"{path}: exporters.{exporter_id}"
        if not isinstance(exporter_id, str) or not exporter_id:
            raise ConfigFileError(f"{path}: exporters: an exporter id must be a non-empty string, got {exporter_id!r}")
        if not isinstance(block, dict):
            raise ConfigFileError(f"{where}: expected a mapping with className and args, got {_kind(block)}")
        unknown = sorted(set(block) - set(EXPORTER_KEYS))
        if unknown:
            raise ConfigFileError(f"{where}: unknown field {unknown[0]!r}; expected className and args")
        class_name = block.get("className")
        if not isinstance(class_name, str) or "." not in class_name:
            raise ConfigFileError(
                f"{where}.className: expected a dotted class path such as "
                f"'propolis.exporters.jsonl.JsonLinesExporter', got {class_name!r}"
            )
        args = block.get("args") or {}
        if not isinstance(args, dict):
            raise ConfigFileError(f"{where}.args: expected a mapping, got {_kind(args)}")
        specs[exporter_id] = ExporterSpec(exporter_id, class_name, args)
    return specs


def _scalar(path: Path, name: str, raw: Any, default: Any) -> Any:
    if isinstance(default, Path):
        if not isinstance(raw, str):
            raise ConfigFileError(f"{path}: {name}: expected a path, got {_kind(raw)}")
        return Path(raw)
    kind = type(default)
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if type(raw) is not kind:
        raise ConfigFileError(f"{path}: {name}: expected {_kind(default)}, got {_kind(raw)} {raw!r}")
    return raw


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", int: "a whole number",
             float: "a number", bool: "true/false", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)
