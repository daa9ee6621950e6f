"""The registry's timestamp conversion against protobuf's own FromDatetime."""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from registry.resources.convert import timestamp

CHINA = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 12, 6, 13, 40, 1, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 6, 13, 40, 1, 999999),  # naive: read as UTC
        dt.datetime(2020, 5, 15, 8, 0, tzinfo=CHINA),
        dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=dt.UTC),  # before the epoch
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    ],
)
def test_timestamp_matches_from_datetime(value: dt.datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    assert timestamp(value) == expected
