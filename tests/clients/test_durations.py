from __future__ import annotations

import pytest
from propolis.clients.durations import format_duration_ms, parse_duration_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("10s", 10_000), ("10m", 600_000), ("1h", 3_600_000), ("1m30s", 90_000),
     ("1.5s", 1_500), ("0", 0), (" 2D ", 172_800_000)],
)
def test_parses_durations_as_people_type_them(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "10", "10 s", "s", "10x", "1m30", "-1s", "10s5"])
def test_rejects_anything_else_with_an_example_of_what_works(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 500ms, 10s"):
        parse_duration_ms(text)


@pytest.mark.parametrize("ms", [0, 1, 999, 1_000, 90_000, 3_600_000, 3_723_004])
def test_formatting_round_trips(ms: int) -> None:
    assert parse_duration_ms(format_duration_ms(ms)) == ms
