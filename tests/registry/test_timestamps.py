"""The registry's timestamp conversions against protobuf's own FromDatetime."""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from registry.resources.convert import timestamp
from registry.resources.convert_household import timestamp_fields
from registry.resources.household_rows import micros

CHINA = dt.timezone(dt.timedelta(hours=8))
VALUES = pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 12, 6, 13, 40, 1, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 6, 13, 40, 1, 999999),  # naive: read as UTC
        dt.datetime(2020, 5, 15, 8, 0, tzinfo=CHINA),
        dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=dt.UTC),  # before the epoch
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    ],
)


@VALUES
def test_timestamp_matches_from_datetime(value: dt.datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    assert timestamp(value) == expected


@VALUES
def test_microseconds_make_the_timestamp_from_datetime_makes(value: dt.datetime) -> None:
    """A time as microseconds (from a datetime, or SQLite's stored text: how a page of
    households reads it) gives protobuf's own Timestamp of it."""
    expected = Timestamp()
    expected.FromDatetime(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    assert Timestamp(**timestamp_fields(micros(value))) == expected
    stored = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    assert micros(stored.isoformat(sep=" ")) == micros(value)
    assert micros(micros(value)) == micros(value)
