"""Timer values as Camunda Modeler writes them: ISO 8601 durations, dates, cycles and cron."""

from __future__ import annotations

import datetime as dt

import pytest
from propolis.bpmn.timers import TimerValueError, parse_cycle, parse_date, parse_duration

NOON = int(dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC).timestamp() * 1000)


def test_durations_add_exact_time_and_calendar_months():
    assert parse_duration("PT10S").after(NOON) == NOON + 10_000
    assert parse_duration("P1DT2H30M").after(NOON) == NOON + (26 * 3600 + 1800) * 1000
    assert parse_duration("PT0.25S").after(NOON) == NOON + 250
    # One month after January 31st is the last day of February.
    assert parse_duration("P1M").after(NOON) == int(dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC).timestamp() * 1000)


@pytest.mark.parametrize("text", ["10S", "PT", "P", "PT5X", "-PT1S", "soon"])
def test_invalid_durations_are_refused_naming_the_value(text):
    with pytest.raises(TimerValueError, match="duration"):
        parse_duration(text)


def test_dates_with_offsets_and_without_are_read():
    assert parse_date("2026-01-31T12:00:00Z") == NOON
    assert parse_date("2026-01-31T13:00:00+01:00") == NOON
    assert parse_date("2026-01-31T12:00:00") == NOON
    with pytest.raises(TimerValueError, match="date"):
        parse_date("tomorrow")


def test_cycles_repeat_a_number_of_times_or_forever_and_cron_follows_the_calendar():
    bounded = parse_cycle("R5/PT10S")
    assert bounded.repetitions == 5 and bounded.first_due(NOON) == NOON + 10_000
    assert bounded.next_due(NOON + 10_000) == NOON + 20_000
    assert parse_cycle("R/PT1M").repetitions == -1
    started = parse_cycle("R3/2026-01-31T11:00:00Z/PT1H")
    assert started.first_due(NOON) == NOON - 3600_000  # late: due at once
    cron = parse_cycle("0 0 9 * * MON-FRI")
    due = dt.datetime.fromtimestamp(cron.first_due(NOON) / 1000, dt.UTC)
    assert (due.weekday(), due.hour, due.minute) == (0, 9, 0)  # Jan 31st 2026 is a Saturday
    with pytest.raises(TimerValueError, match="cron"):
        parse_cycle("every day")
