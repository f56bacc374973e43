"""The broker's YAML configuration: what it sets, what wins over it, and how mistakes read."""

from __future__ import annotations

from pathlib import Path

import pytest
from propolis.broker.config import BrokerConfig, ExporterSpec
from propolis.broker.config_file import ConfigFileError, load_broker_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "propolis.yaml"
    path.write_text(text)
    return path


def test_settings_and_exporters_come_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, """
data_dir: /srv/propolis
snapshot_interval_s: 30
exporters:
  records-file:
    className: propolis.exporters.jsonl.JsonLinesExporter
    args: {path: records.jsonl, fsync: true}
  bare:
    className: acme.Exporter
""")
    config = load_broker_config(path)
    assert config.data_dir == Path("/srv/propolis")
    assert config.snapshot_interval_s == 30.0
    assert config.exporters == {
        "records-file": ExporterSpec("records-file", "propolis.exporters.jsonl.JsonLinesExporter", {"path": "records.jsonl", "fsync": True}),
        "bare": ExporterSpec("bare", "acme.Exporter", {}),
    }


def test_flags_win_over_the_environment_which_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "batch_commands_max: 100\ninflight_commands_max: 200\ndata_dir: from-file\n")
    monkeypatch.setenv("PROPOLIS_BATCH_COMMANDS_MAX", "50")
    monkeypatch.setenv("PROPOLIS_DATA_DIR", "from-env")
    config = load_broker_config(path, data_dir=Path("from-flag"), partition_count=None)
    assert (config.batch_commands_max, config.inflight_commands_max, config.data_dir) == (50, 200, Path("from-flag"))


def test_without_a_file_the_defaults_hold() -> None:
    assert load_broker_config(None) == BrokerConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("snapshot_interval: 5\n", "unknown setting 'snapshot_interval'; known settings: "),
        ("batch_commands_max: lots\n", "batch_commands_max: expected a whole number, got a string 'lots'"),
        ("- a\n- b\n", "expected a mapping of settings at the top, got a list"),
        ("exporters: [a]\n", "exporters: expected a mapping of exporter ids, got a list"),
        ("exporters:\n  es: yes\n", "exporters.es: expected a mapping with className and args, got true/false"),
        ("exporters:\n  es:\n    classname: a.B\n", "exporters.es: unknown field 'classname'; expected className and args"),
        ("exporters:\n  es:\n    className: Exporter\n", "exporters.es.className: expected a dotted class path"),
        ("exporters:\n  es:\n    className: a.B\n    args: [1]\n", "exporters.es.args: expected a mapping, got a list"),
        ("exporters:\n  es:\n    className: a.B\n   args: {}\n", "propolis.yaml:4:4: not valid YAML"),
    ],
)
def test_mistakes_name_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigFileError) as raised:
        load_broker_config(path)
    assert str(raised.value).startswith(str(path))
    assert message in str(raised.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="nope.yaml: cannot read the configuration file"):
        load_broker_config(tmp_path / "nope.yaml")
