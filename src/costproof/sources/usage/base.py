"""Shared plumbing for usage adapters: the Arrow schema, a chunking row builder, identities."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from costproof.model.errors import InputError, RowError
from costproof.model.sanitize import _DEFAULT, key_hash
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


class Occurrences:
    """Numbers repeats of one identity so identical records in a file stay distinct.

    Memory is bounded: after `limit` distinct identities the table starts afresh, so exact
    duplicates further apart than that are taken as one record (exports repeat rows nearby).
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self.seen: dict[bytes, int] = {}

    def next(self, *identity: object) -> int:
        return self.next_key(hashlib.blake2b(repr(identity).encode("utf-8"), digest_size=12).digest())

    def next_key(self, key: object) -> int:
        """The occurrence number of one identity given as a ready key (the bulk paths pass its text)."""
        count = self.seen.get(key, 0) + 1
        if count == 1 and len(self.seen) >= self.limit:
            self.seen.clear()
        self.seen[key] = count
        return count


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

    def reject(self, record: int, exc: Exception) -> None:
        """Quarantine a record from a BadValue whose message reads `field: reason`."""
        field_name, sep, reason = str(exc).partition(": ")
        if not sep or " " in field_name:
            field_name, reason = "record", str(exc)
        self.error(record, field_name, reason)

    def full(self) -> bool:
        return self.records >= self.ctx.chunk_rows

    def flush(self) -> UsageChunk:
        table = sanitize_table(to_table(self.rows), self.ctx.secret_pattern)
        chunk = UsageChunk(table, self.errors, self.records)
        self.rows, self.errors, self.records = [], [], 0
        return chunk

    def drain(self) -> Iterator[UsageChunk]:
        if self.records:
            yield self.flush()


COST_QUANTUM = Decimal("1e-12")


def stored_cost(value: Decimal | None) -> Decimal | None:
    """A provider-reported cost as stored: 12 decimal places, finer digits rounded half away from zero.

    LiteLLM's spend and OpenRouter's usage.cost are binary floats whose text can carry 17+ decimals of float noise;
    the stored column is DECIMAL(38,12) (a trillionth of a dollar), and the SQL paths' casts round the same way.
    """
    if value is None or value.as_tuple().exponent >= -12:  # type: ignore[operator]
        return value
    return value.quantize(COST_QUANTUM, context=_WIDE)


_WIDE = Context(prec=80, rounding=ROUND_HALF_UP)


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    cols: dict[str, list[Any]] = {}
    for name, _ in USAGE_COLUMNS:
        default = DEFAULTS.get(name)
        if default is None:
            cols[name] = [r.get(name) for r in rows]
        else:
            cols[name] = [default if (v := r.get(name)) is None else v for r in rows]
    cols["provider_reported_cost"] = [stored_cost(v) for v in cols["provider_reported_cost"]]
    return pa.table(cols, schema=USAGE_SCHEMA)


# Columns whose text comes from the input file: the safety net looks for secrets in them.
TEXT_COLUMNS: tuple[str, ...] = (
    "provider",
    "model_reported",
    "route_family",
    "request_id",
    "environment",
    "api_key_name",
    "pricing_group",
    "cost_center",
    "project",
    "customer",
    "workflow",
    "provider_ratios",
)


# a column whose first rows are more than this share distinct is searched as it stands (finding its distinct
# values would not pay: request ids, say)
_DISTINCT_SHARE = 0.25
_SAMPLE = 1024


def sanitize_table(table: pa.Table, pattern: re.Pattern[str] = _DEFAULT) -> pa.Table:
    """Replace any key-like value in a text column by its hash (vectorized, RE2 first).

    Usage rows repeat a few models, keys, groups and labels, so where a column repeats its values they are searched
    once each and the answers mapped back to the rows (each value is judged alone, so the result is the same).
    """
    for name in TEXT_COLUMNS:
        index = table.schema.get_field_index(name)
        if index < 0:
            continue
        col = table.column(index)
        if col.null_count == len(col):
            continue
        head = col.slice(0, _SAMPLE)
        if pc.count_distinct(head, mode="all").as_py() > _DISTINCT_SHARE * len(head):
            fixed = _sanitized(col, pattern)
        else:
            values = pc.unique(col)
            if len(values) > _DISTINCT_SHARE * len(col):
                fixed = _sanitized(col, pattern)
            else:
                safe = _sanitized(values, pattern)
                fixed = None if safe is None else pc.take(safe, pc.index_in(col, value_set=values))
        if fixed is not None:
            table = table.set_column(index, table.field(index), fixed)
    return table


def _sanitized(col: pa.Array | pa.ChunkedArray, pattern: re.Pattern[str]) -> pa.Array | None:
    """The column with key-like values replaced by their hashes; None when it has none."""
    try:
        mask = pc.match_substring_regex(col, pattern.pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        mask = pa.array([v is not None and pattern.search(v) is not None for v in col.to_pylist()])
    if not pc.any(mask).as_py():
        return None
    values = col.to_pylist()
    flags = mask.to_pylist()
    return pa.array([key_hash(v) if f and v is not None else v for v, f in zip(values, flags, strict=True)],
                    pa.string())


def collect(chunks: Iterable[UsageChunk]) -> tuple[pa.Table, list[RowError], int]:
    """All chunks of one parse as one table, its errors and the record count (small files)."""
    tables, errors, records = [], [], 0
    for chunk in chunks:
        tables.append(chunk.table)
        errors.extend(chunk.errors)
        records += chunk.records
    table = pa.concat_tables(tables) if tables else USAGE_SCHEMA.empty_table()
    return table, errors, records


# ---------------------------------------------------------------- labels
_LABEL_ALIASES: dict[str, tuple[str, ...]] = {
    "cost_center": ("cost_center", "costcenter", "cost_centre", "cc"),
    "project": ("project", "project_name", "project_id"),
    "customer": ("customer", "customer_id", "customer_name", "tenant", "tenant_id"),
    "workflow": ("workflow", "workflow_name", "feature", "use_case"),
    "environment": (
        "environment",
        "env",
        "deployment_environment",
        "deployment_environment_name",
    ),
    "api_key_name": (
        "api_key_name",
        "key_name",
        "token_name",
        "api_key_alias",
        "key_alias",
        "user_api_key_alias",
    ),
}
_ALIAS_TO_LABEL = {alias: label for label, aliases in _LABEL_ALIASES.items() for alias in aliases}
LABEL_KEYS: tuple[str, ...] = tuple(_LABEL_ALIASES)
_ENVIRONMENTS = {
    "production": "production",
    "prod": "production",
    "prd": "production",
    "live": "production",
    "staging": "staging",
    "stage": "staging",
    "stg": "staging",
    "preprod": "staging",
    "pre-production": "staging",
    "test": "test",
    "testing": "test",
    "qa": "test",
    "dev": "test",
    "development": "test",
    "sandbox": "test",
}


@functools.lru_cache(maxsize=4096)
def label_key(key: str) -> str | None:
    """The normalized label a caller key names (`Cost-Center`, `costCenter`, `env`...), if any."""
    norm = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", key).lower().replace("-", "_").replace(".", "_")
    return _ALIAS_TO_LABEL.get(norm.replace(" ", "_"))


def extract_labels(*sources: Any) -> dict[str, str]:
    """Known label keys from caller metadata objects; the first source naming a label wins."""
    out: dict[str, str] = {}
    for source in sources:
        if not isinstance(source, dict):
            continue
        for key, value in source.items():
            if not isinstance(key, str) or isinstance(value, dict | list) or value is None:
                continue
            label = label_key(key)
            if label is None or label in out:
                continue
            text = str(value).strip() if not isinstance(value, bool) else str(value).lower()
            if text:
                out[label] = normalize_environment(text) if label == "environment" else text
    return out


def normalize_environment(value: str | None) -> str | None:
    """production / staging / test from common spellings; other values kept lowercased."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    return _ENVIRONMENTS.get(text, text)


# ---------------------------------------------------------------- streaming readers
def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based line numbers, streamed (a BOM on line 1 is dropped)."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if line.strip():
                yield number, line


_WS = " \t\r\n"


class _JsonStream:
    """Incremental reader over a large JSON text: decodes one value at a time."""

    def __init__(self, handle: Any, label: str) -> None:
        self.handle = handle
        self.label = label
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.decoder = json.JSONDecoder(parse_float=Decimal)

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(1 << 20)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def take(self, char: str, record: int | None = None) -> None:
        if self.peek() != char:
            found = self.peek() or "end of file"
            raise InputError(
                f"not valid JSON: expected {char!r}, found {found!r}",
                file=self.label,
                record=record,
            )
        self.pos += 1

    def value(self, record: int | None = None) -> Any:
        self.peek()
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self._fill():
                    continue
                raise InputError(f"not valid JSON ({exc.msg})", file=self.label, record=record) from None
            if end == len(self.buf) and not self.eof and self.buf[self.pos] not in '{["':
                # a bare number may continue in the next block
                if self._fill():
                    continue
            self.pos = end
            return obj


def iter_csv_records(path: Path, label: str, required: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a UTF-8 CSV with the file line each ends on (header = line 1); a bad header or
    undecodable text is an InputError naming the file."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            fields = reader.fieldnames or []
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text (byte {exc.start})", file=label) from None
        missing = [c for c in required if c not in fields]
        if missing:
            raise InputError(f"CSV header lacks column(s) {', '.join(missing)}", file=label, record=1)
        try:
            for row in reader:
                yield reader.line_num, row
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text (byte {exc.start})", file=label) from None
        except csv.Error as exc:
            raise InputError(f"unreadable CSV ({exc})", file=label, record=reader.line_num) from None


def iter_json_items(path: Path, label: str, paths: tuple[tuple[str, ...], ...] = ()) -> Iterator[Any]:
    """Stream the items of a top-level JSON array, or of the array at one of `paths` in an object.

    Several documents may follow each other (pages saved one per line): items of all are yielded.
    Record numbers are the 1-based item index across the file.
    """
    with open(path, encoding="utf-8-sig", errors="strict") as handle:
        stream = _JsonStream(handle, label)
        try:
            first = stream.peek()
            if first == "":
                raise InputError("the file is empty", file=label)
            count = 0
            while stream.peek():
                for item in _doc_items(stream, label, paths, count):
                    count += 1
                    yield item
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text (byte {exc.start})", file=label) from None


def _doc_items(stream: _JsonStream, label: str, paths: tuple[tuple[str, ...], ...], done: int) -> Iterator[Any]:
    char = stream.peek()
    if char == "[":
        yield from _array_items(stream, done)
        return
    if char != "{":
        raise InputError("expected a JSON array or object", file=label, record=done + 1)
    prefixes = {p[:1] for p in paths if p}
    found = False
    stream.take("{")
    while stream.peek() != "}":
        key = stream.value()
        stream.take(":")
        subpaths = tuple(p[1:] for p in paths if p[:1] == (key,))
        if (key,) in prefixes and stream.peek() == "[" and () in subpaths:
            yield from _array_items(stream, done)
            found = True
        elif (key,) in prefixes and stream.peek() == "{" and any(subpaths):
            yield from _doc_items(stream, label, tuple(s for s in subpaths if s), done)
            found = True
        else:
            value = stream.value()
            if key == "success" and value is False:
                raise InputError("the API answered success=false", file=label)
        if stream.peek() == ",":
            stream.take(",")
    stream.take("}")
    if not found:
        names = " or ".join(".".join(p) for p in paths) or "an array"
        raise InputError(f"expected {names} in the JSON object", file=label, record=done + 1)


def _array_items(stream: _JsonStream, done: int) -> Iterator[Any]:
    stream.take("[")
    number = done
    while stream.peek() != "]":
        number += 1
        yield stream.value(record=number)
        if stream.peek() == ",":
            stream.take(",", record=number)
        elif stream.peek() != "]":
            stream.take("]", record=number)
    stream.take("]")


# ---------------------------------------------------------------- value readers
class BadValue(ValueError):
    """A field value that makes a row unusable; the message becomes the quarantine reason."""


_INT64 = 2**63


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
    if not -_INT64 <= out < _INT64:
        raise BadValue(f"{name}: {str(out)[:24]} is outside the 64-bit integer range")
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
    "LABEL_KEYS",
    "collect",
    "extract_labels",
    "iter_json_items",
    "iter_lines",
    "normalize_environment",
    "sanitize_table",
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
