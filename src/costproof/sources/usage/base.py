"""Shared plumbing for usage adapters: the Arrow schema, a chunking row builder, identities."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa

from costproof.model.errors import RowError
from costproof.model.sanitize import _DEFAULT
from costproof.model.usage import USAGE_COLUMNS

_ARROW = {
    "str": pa.string(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "ts": pa.timestamp("us", tz="UTC"),
    "dec": pa.decimal128(38, 12),
}
USAGE_SCHEMA = pa.schema([pa.field(n, _ARROW[t]) for n, t in USAGE_COLUMNS])
DEFAULTS: dict[str, Any] = {
    "attempt": 1,
    "is_retry": False,
    "is_stream": False,
    "is_partial": False,
    "usage_origin": "reported",
    "record_kind": "consume",
}
CHUNK_ROWS = 100_000


class UsageChunk(NamedTuple):
    table: pa.Table
    errors: list[RowError]
    records: int  # records read in this chunk: rows in table + errors


@dataclass
class ParseContext:
    file_label: str
    secret_pattern: re.Pattern[str] = _DEFAULT
    chunk_rows: int = CHUNK_ROWS
    options: dict[str, Any] = field(default_factory=dict)


def record_id(fmt: str, *parts: object) -> str:
    """A record's identity from its content, so overlapping exports dedupe."""
    text = "\x1f".join("" if p is None else str(p) for p in (fmt, *parts))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class RowBuilder:
    """Collects normalized rows as dicts and yields Arrow chunks of at most `chunk_rows`."""

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.rows: list[dict[str, Any]] = []
        self.errors: list[RowError] = []
        self.records = 0

    def add(self, row: dict[str, Any]) -> None:
        self.records += 1
        self.rows.append(row)

    def error(self, record: int, field_name: str, reason: str) -> None:
        self.records += 1
        self.errors.append(RowError(record, field_name, reason))

    def full(self) -> bool:
        return self.records >= self.ctx.chunk_rows

    def flush(self) -> UsageChunk:
        chunk = UsageChunk(to_table(self.rows), self.errors, self.records)
        self.rows, self.errors, self.records = [], [], 0
        return chunk

    def drain(self) -> Iterator[UsageChunk]:
        if self.records:
            yield self.flush()


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    cols: dict[str, list[Any]] = {}
    for name, _ in USAGE_COLUMNS:
        default = DEFAULTS.get(name)
        cols[name] = [r.get(name, default) if r.get(name) is not None else default for r in rows]
    return pa.table(cols, schema=USAGE_SCHEMA)


# ---------------------------------------------------------------- value readers
class BadValue(ValueError):
    """A field value that makes a row unusable; the message becomes the quarantine reason."""


def read_int(value: Any, name: str, *, required: bool = False, minimum: int | None = 0) -> int | None:
    if value is None or value == "":
        if required:
            raise BadValue(f"{name}: missing")
        return None
    if isinstance(value, bool):
        raise BadValue(f"{name}: expected an integer, got a boolean")
    if isinstance(value, int):
        out = value
    elif isinstance(value, float) and value.is_integer():
        out = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.0+)?\s*", value):
        out = int(Decimal(value.strip()))
    else:
        raise BadValue(f"{name}: expected an integer, got {type(value).__name__} {str(value)[:20]!r}")
    if minimum is not None and out < minimum:
        raise BadValue(f"{name}: negative value {out}")
    return out


def read_bool(value: Any, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise BadValue(f"{name}: expected a boolean, got {str(value)[:20]!r}")


def read_decimal(value: Any, name: str) -> Decimal | None:
    from costproof.model.money import dec

    if value is None or value == "":
        return None
    try:
        return dec(value)
    except ValueError as exc:
        raise BadValue(f"{name}: {exc}") from None


_TS_EPOCH_MS = 10**11


def read_time(value: Any, name: str) -> tuple[datetime, str]:
    """Parse a timestamp into UTC; returns (utc, original offset like '+08:00' or 'Z')."""
    if value is None or value == "":
        raise BadValue(f"{name}: missing")
    if isinstance(value, bool):
        raise BadValue(f"{name}: expected a time")
    if isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"\d{9,19}(\.\d+)?", value.strip())):
        num = Decimal(str(value).strip())
        if num > 10**17:  # nanoseconds
            num = num / 10**9
        elif num > 10**14:  # microseconds
            num = num / 10**6
        elif num > _TS_EPOCH_MS:  # milliseconds
            num = num / 1000
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=float(num)), "Z"
        except OverflowError:
            raise BadValue(f"{name}: time out of range") from None
    if not isinstance(value, str):
        raise BadValue(f"{name}: expected a time, got {type(value).__name__}")
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(f"{name}: unparseable time {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
        offset = "Z"
    else:
        delta = parsed.utcoffset() or timedelta(0)
        offset = "Z" if delta == timedelta(0) else _fmt_offset(delta)
    return parsed.astimezone(UTC), offset


def _fmt_offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def open_bytes(path: Path) -> bytes:
    return Path(path).read_bytes()


__all__ = [
    "BadValue",
    "ParseContext",
    "RowBuilder",
    "USAGE_SCHEMA",
    "UsageChunk",
    "read_bool",
    "read_decimal",
    "read_int",
    "read_time",
    "record_id",
    "timezone",
]
