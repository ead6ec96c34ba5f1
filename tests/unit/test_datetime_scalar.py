"""DateTime is written as Strawberry's own writes it (`isoformat()`), however it is written."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from strawberry.schema.types.scalar import DEFAULT_SCALAR_REGISTRY

from subgraph.schema import build_schema
from subgraph.schema.scalars import DATETIME_SCALAR, _serialize_datetime

MICROS = (0, 1, 10, 100, 1_000, 10_000, 100_000, 999_999)


def datetimes(count: int) -> list[datetime]:
    """Over the whole range of datetimes, in UTC and naive, with every length of fraction."""
    rng = random.Random(14)
    span = (datetime.max - datetime.min) // timedelta(microseconds=1)
    out = [datetime.min, datetime.max, datetime(999, 5, 5), datetime(2026, 1, 1, 0, 0, 0, 1)]
    for _ in range(count):
        value = datetime.min + timedelta(microseconds=rng.randrange(span))
        if rng.random() < 0.5:
            value = value.replace(microsecond=rng.choice(MICROS))
        out.append(value)
    return out + [value.replace(tzinfo=UTC) for value in out]


def test_utc_and_naive_datetimes_are_written_as_isoformat_writes_them() -> None:
    for value in datetimes(50_000):
        assert _serialize_datetime(value) == value.isoformat(), repr(value)


class Moment(datetime):
    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "a subclass's own"


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(seconds=-3601), "odd")),
        Moment(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        date(2026, 1, 2),
    ],
    ids=["another zone", "an offset with seconds", "a subclass", "a date"],
)
def test_other_values_are_written_by_their_own_isoformat(value: object) -> None:
    assert _serialize_datetime(value) == value.isoformat()  # type: ignore[arg-type, attr-defined]


def test_the_schema_s_datetime_is_strawberry_s_but_for_writing() -> None:
    default = DEFAULT_SCALAR_REGISTRY[datetime]
    assert DATETIME_SCALAR.name == default.name == "DateTime"
    assert DATETIME_SCALAR.description == default.description
    assert DATETIME_SCALAR.parse_value is default.parse_value
    assert DATETIME_SCALAR.specified_by_url == default.specified_by_url
    scalar = build_schema()._schema.get_type("DateTime")
    assert scalar.serialize is _serialize_datetime  # type: ignore[union-attr]
