"""new-api / one-api / CometAPI console request log: JSON array, API pages, or console CSV."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from costproof.model.errors import InputError
from costproof.model.money import QUOTA_PER_USD
from costproof.model.sanitize import safe_name
from costproof.sources.usage import newapi_bulk as bulk
from costproof.sources.usage import newapi_lines as lines
from costproof.sources.usage import newapi_pages as pages
from costproof.sources.usage import vector
from costproof.sources.usage.base import (
    BadValue,
    Occurrences,
    ParseContext,
    RowBuilder,
    UsageChunk,
    iter_csv_records,
    iter_json_items,
    read_bool,
    read_int,
    read_time,
)

NAME = "newapi-log"
# new-api log types (model/log.go): 0 unknown, 1 top-up, 2 consume, 3 manage, 4 system,
# 5 error, 6 refund, 7 login. one-api uses 5 for "test"; we read it as new-api does.
KINDS = {1: "topup", 2: "consume", 3: "manage", 4: "system", 5: "error", 6: "refund", 7: "login"}
RATIO_KEYS = ("model_ratio", "group_ratio", "completion_ratio", "cache_ratio", "model_price")
_MARKERS = ("prompt_tokens", "model_name", "quota")


def sniff(head: bytes, name: str) -> bool:
    text = head[:8192].decode("utf-8", "replace")
    return all(m in text for m in _MARKERS) and "created_at" in text


def parse(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    """Bulk path (DuckDB) for a JSON array of log rows, saved API pages and the console CSV; the row path otherwise.

    If the bulk reader meets something it cannot read, the row path resumes at the next record.
    """
    path = Path(path)
    seen = Occurrences()
    shape = _bulk_shape(path) if ctx.options.get("bulk", True) else None
    if shape is None:
        yield from parse_rows(path, ctx, seen)
        return
    numbers = bulk.Numbers(seen)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    done = 0
    if shape in ("json", "pages"):  # one item (or page) per line: pyarrow reads the lines
        try:
            for block in (lines.blocks(path) if shape == "json" else pages.blocks(path)):
                for start in range(0, block.table.num_rows, ctx.chunk_rows):
                    chunk = block.table.slice(start, ctx.chunk_rows)
                    out = bulk.run_chunk(con, chunk, chunk, "typed", lambda item: _row(item, ctx), identity_key,
                                         numbers, ctx, _csv_item, item_at=_shifted(block.item_at, start))
                    done = chunk.column("rn")[chunk.num_rows - 1].as_py()
                    yield out
            con.close()
            return
        except (duckdb.Error, pa.ArrowInvalid, UnicodeDecodeError, bulk.Unvouched):
            pass
    if shape == "pages":  # where the pages reader stops, DuckDB's would too: the row path reads on
        con.close()
        numbers.sync()
        yield from parse_rows(path, ctx, seen, after=done)
        return
    if shape == "json":  # else DuckDB reads the array
        chunks = bulk.json_chunks(path, ctx.chunk_rows)
    else:
        chunks = bulk.csv_chunks(path, ctx.chunk_rows, _csv_names(path))
    kind = "csv" if shape == "csv" else "json"
    try:
        for chunk in chunks:
            if done and kind == "json":  # records read already
                if chunk.column("rn")[chunk.num_rows - 1].as_py() <= done:
                    continue
                chunk = chunk.filter(pc.greater(chunk.column("rn"), done))
            # DuckDB reads NaN and Infinity spellings, in any case, where Python's decoder (the row path's) refuses
            # most of them: the row path reads on from such an item
            spelled = vector.nan_inf(chunk.column("json"), any_case=True) if kind == "json" else None
            if spelled is not None and pc.any(spelled).as_py():
                break
            fields = bulk.json_fields(con, chunk) if kind == "json" else chunk
            # saved pages among the items (an array of pages) expand into rows: the row path numbers those
            if kind == "json" and pc.any(fields.column("has_data")).as_py():
                break
            out = bulk.run_chunk(con, chunk, fields, kind, lambda item: _row(item, ctx), identity_key, numbers,
                                 ctx, _csv_item)
            done = chunk.column("rn")[chunk.num_rows - 1].as_py()
            yield out
        else:
            return
    except (duckdb.Error, pa.ArrowInvalid, UnicodeDecodeError, bulk.Unvouched):
        pass
    finally:
        con.close()
    numbers.sync()
    yield from parse_rows(path, ctx, seen, after=done)


def _shifted(item_at: Callable[[int], Any], start: int) -> Callable[[int], Any]:
    return lambda i: item_at(start + i)


def parse_rows(path: Path, ctx: ParseContext, seen: Occurrences | None = None, *,
               after: int = 0) -> Iterator[UsageChunk]:
    """The row path: one record at a time in Python (records numbered <= `after` were read already)."""
    builder = RowBuilder(ctx)
    seen = seen or Occurrences()
    for number, item in _stream(Path(path), ctx.file_label):
        if number <= after:
            continue
        try:
            row = _row(item, ctx)
        except BadValue as exc:
            field, _, reason = str(exc).partition(": ")
            builder.error(number, field, reason or str(exc))
        else:
            key = identity_key(row.pop("_identity"))
            row["record_id"] = record_id_of(key, seen.next_key(key))
            row["source_record"] = number
            builder.add(row)
        if builder.full():
            yield builder.flush()
    yield from builder.drain()


def identity_key(identity: tuple[Any, ...]) -> str:
    """The record_id pre-image before the occurrence number (also the occurrence key)."""
    return "\x1f".join("" if p is None else str(p) for p in (NAME, *identity))


def record_id_of(key: str, occurrence: int) -> str:
    return hashlib.sha256(f"{key}\x1f{occurrence}".encode()).hexdigest()[:24]


def _bulk_shape(path: Path) -> str | None:
    """'json' for a top-level array, 'pages' for saved API pages (one per line), 'csv' for a console CSV with one
    line per record; else None (row path)."""
    with open(path, "rb") as handle:
        start = handle.read(65536).lstrip(b"\xef\xbb\xbf").lstrip()
    if not start:
        return None
    if start[:1] == b"[":
        return "json"
    if start[:1] == b"{":
        return "pages"
    # the CSV bulk reader numbers records by line: no CR, no blank line, no line break inside a value
    with open(path, "rb") as handle:
        tail = b""
        for block in iter(lambda: handle.read(1 << 24), b""):
            piece = tail + block
            if b"\r" in piece or b"\n\n" in piece:
                return None
            tail = block[-1:]
    try:
        names = _csv_names(path)
    except (csv.Error, UnicodeDecodeError):
        return None
    if len(set(names)) != len(names) or any(c not in names for c in ("created_at", "type", "model_name", "quota")):
        return None
    return "csv"


def _csv_names(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


def _csv_item(values: dict[str, Any]) -> dict[str, Any]:
    """A bulk CSV record as the row path's DictReader would give it (only the fields `_row` reads)."""
    return {k[2:]: v for k, v in values.items() if k.startswith("f_")}


def _stream(path: Path, label: str) -> Iterator[tuple[int, Any]]:
    """Records streamed from the file: JSON arrays and pages incrementally, CSV row by row."""
    with open(path, "rb") as handle:
        start = handle.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if not start:
        raise InputError("the file is empty", file=label)
    if start[:1] not in (b"[", b"{"):
        yield from _csv_file(path, label)
        return
    number = 0
    for item in iter_json_items(path, label, (("data",), ("data", "items"))):
        # an array of saved pages: each element is a page, not a log row
        rows = _items(item, label) if isinstance(item, dict) and "data" in item else (item,)
        for row in rows:
            number += 1
            yield number, row


def _csv_file(path: Path, label: str) -> Iterator[tuple[int, Any]]:
    return iter_csv_records(path, label, ("created_at", "type", "model_name", "quota"))


def _items(doc: Any, label: str) -> Iterator[Any]:
    if isinstance(doc, list):
        if doc and all(isinstance(d, dict) and "data" in d for d in doc):
            for page in doc:
                yield from _items(page, label)
            return
        yield from doc
        return
    if isinstance(doc, dict):
        data = doc.get("data")
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            yield from data["items"]
            return
        if isinstance(data, list):
            yield from data
            return
        if doc.get("success") is False:
            raise InputError(f"the API answered success=false: {str(doc.get('message'))[:80]!r}", file=label)
    raise InputError("expected a JSON array of log rows or {data: {items: [...]}} pages", file=label)


def _row(item: Any, ctx: ParseContext) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise BadValue(f"record: expected an object, got {type(item).__name__}")
    kind_code = read_int(item.get("type"), "type", required=True)
    kind = KINDS.get(kind_code)  # type: ignore[arg-type]
    if kind is None:
        raise BadValue(f"type: unknown log type {kind_code}")
    occurred, offset = read_time(item.get("created_at"), "created_at")
    model = _model(item.get("model_name"))
    if kind in ("consume", "error", "refund") and not model:
        raise BadValue("model_name: missing")
    quota = read_int(item.get("quota"), "quota", minimum=None) or 0
    prompt = read_int(item.get("prompt_tokens"), "prompt_tokens") or 0
    completion = read_int(item.get("completion_tokens"), "completion_tokens") or 0
    other = _other(item.get("other"))
    cached = read_int(other.get("cache_tokens"), "other.cache_tokens") or 0
    cache_write = read_int(other.get("cache_creation_tokens"), "other.cache_creation_tokens") or 0
    # OpenAI-style upstreams count cached tokens inside prompt_tokens; Claude-style do not.
    claude_style = model.lower().startswith("claude")
    uncached = prompt if claude_style else prompt - cached - cache_write
    if uncached < 0:
        raise BadValue(f"other.cache_tokens: cached tokens ({cached + cache_write}) exceed prompt_tokens ({prompt})")
    token_name = safe_name(_text(item.get("token_name")), ctx.secret_pattern)
    is_stream = read_bool(item.get("is_stream"), "is_stream") or False
    use_time = read_int(item.get("use_time"), "use_time")
    cost: Decimal | None = None
    if kind in ("consume", "error"):
        cost = Decimal(quota) / QUOTA_PER_USD
    elif kind == "refund":
        cost = -abs(Decimal(quota)) / QUOTA_PER_USD
    status_code = 200 if kind == "consume" else None
    ratios = {k: str(other[k]) for k in RATIO_KEYS if other.get(k) not in (None, "")}
    request_id = _text(item.get("request_id")) or None
    billable = kind in ("consume", "error", "refund")
    return {
        "_identity": (
            request_id or "",
            occurred.isoformat(),
            token_name,
            model,
            kind_code,
            quota,
            prompt,
            completion,
            use_time,
        ),
        "record_kind": kind,
        "occurred_at": occurred,
        "original_offset": offset,
        "provider": "newapi",
        "model_reported": model or None,
        "route_family": _text(other.get("request_path")) or None,
        "request_id": request_id,
        "status_code": status_code,
        "status_class": "2xx" if kind == "consume" else ("5xx" if kind == "error" else ""),
        "is_stream": is_stream,
        "api_key_name": token_name or None,
        "pricing_group": _text(item.get("group")) or None,
        "input_tokens": uncached if billable else 0,
        "cached_input_tokens": cached if billable else 0,
        "cache_write_tokens": cache_write if billable else 0,
        "output_tokens": completion if billable else 0,
        "requests": 1 if kind == "consume" else 0,
        "seconds": use_time,
        "provider_reported_cost": cost,
        "provider_reported_currency": "USD" if cost is not None else None,
        "provider_ratios": json.dumps(ratios, sort_keys=True) if ratios else None,
        "usage_origin": "reported",
    }


def _model(value: Any) -> str:
    """The model name as text: a number (some exports write model ids as numbers) becomes its text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        return str(value)
    raise BadValue(f"model_name: expected text, got {type(value).__name__}")


def _other(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise BadValue("other: not a JSON object") from None
        if isinstance(parsed, dict):
            return parsed
    raise BadValue("other: not a JSON object")


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
