"""Custom scalars: `Long` (64-bit, as a string on the wire), Strawberry's `DateTime` written
faster, and base64 helpers."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from datetime import UTC, datetime
from typing import NewType

import orjson
import strawberry
from strawberry.schema.types.scalar import DEFAULT_SCALAR_REGISTRY

from abstractions.errors import InvalidArgument

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _serialize_long(value: int) -> str:
    return str(int(value))


def _parse_long(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("Long cannot represent a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    else:
        raise ValueError(f"Long cannot represent {value!r}: send an integer or a decimal string")
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError("Long must fit in a signed 64-bit integer")
    return number


Long = NewType("Long", int)

# Registered through the schema's `scalar_map` (see `subgraph.schema.build_schema`).
LONG_SCALAR = strawberry.scalar(
    name="Long",
    description=(
        "A signed 64-bit integer. Serialised as a decimal string so that JavaScript clients "
        "lose no precision above 2^53; accepted as a string or an integer."
    ),
    serialize=_serialize_long,
    parse_value=_parse_long,
)


_dumps = orjson.dumps


def _serialize_datetime(value: datetime) -> str:
    """`value.isoformat()`, as Strawberry's own DateTime writes it.  A datetime in UTC or
    without a zone (a page of events holds a thousand) is written by orjson's C code instead,
    in half the time or less, to the same text (`tests/unit/test_datetime_scalar.py` compares
    them over the whole range of datetimes, with and without microseconds)."""
    if type(value) is datetime and (value.tzinfo is UTC or value.tzinfo is None):
        return _dumps(value)[1:-1].decode()
    return value.isoformat()


# Strawberry's DateTime (its name, description and parsing) with `_serialize_datetime`, through
# the schema's `scalar_map` like `Long`.
DATETIME_SCALAR = dataclasses.replace(
    DEFAULT_SCALAR_REGISTRY[datetime], serialize=_serialize_datetime
)


# The naming rule of every item value, in and out: a field named `value` holds its bytes as
# base64, a field named `text` holds plain text.  An input takes exactly one of them.
VALUE = "The value's bytes, base64-encoded."
TEXT = "The value as plain text; null when its bytes are not UTF-8."
VALUE_IN = "The value's bytes, base64-encoded (give `text` or `value`)."
TEXT_IN = "The value as plain text (give `text` or `value`)."


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str = "value") -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidArgument(f"{what} is not valid base64") from exc


def as_text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
