"""Vectorized plumbing for tabular usage formats: Arrow batches in, DuckDB SQL, usage chunks out."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from costproof.model.errors import InputError, RowError
from costproof.sources.usage.base import (
    USAGE_SCHEMA,
    BadValue,
    ParseContext,
    UsageChunk,
    read_time,
    sanitize_table,
)

ERR_FIELD = "__err_field"
ERR_REASON = "__err_reason"
ROW_NUMBER = "__rn"
NULL_TEXT = ["", "NULL", "null", "None"]
# DuckDB scans a registered Arrow table one record batch per thread: batches this size keep both cores busy
SCAN_BATCH = 25_000


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    return con


def is_parquet(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def csv_header(path: Path, label: str) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            header = next(csv.reader(handle), None)
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text (byte {exc.start})", file=label) from None
        except csv.Error as exc:
            raise InputError(f"unreadable CSV header ({exc})", file=label, record=1) from None
    if not header:
        raise InputError("the file is empty", file=label)
    return [h.strip() for h in header]


def batches(path: Path, ctx: ParseContext) -> Iterator[tuple[int, pa.Table]]:
    """(first record number, table) slices of at most chunk_rows rows, streamed.

    CSV: every column read as text, `NULL`/empty as null; record number = data row + 1 (the
    file line when no field spans lines). Parquet: native types; record number = row + 1.
    """
    label = ctx.file_label
    if is_parquet(path):
        try:
            source = pq.ParquetFile(path)
            iterator = source.iter_batches(batch_size=ctx.chunk_rows)
            first = 1
            for batch in iterator:
                yield first, pa.Table.from_batches([batch])
                first += batch.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"unreadable Parquet ({str(exc)[:120]})", file=label) from None
        return
    names = csv_header(path, label)
    if len(set(names)) != len(names):
        raise InputError("CSV header repeats a column name", file=label, record=1)
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        null_values=NULL_TEXT,
        strings_can_be_null=True,
    )
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=16 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=convert,
        )
        first = 2
        for batch in reader:
            for start in range(0, batch.num_rows, ctx.chunk_rows):
                piece = batch.slice(start, ctx.chunk_rows)
                yield first, pa.Table.from_batches([piece])
                first += piece.num_rows
    except pa.ArrowInvalid as exc:
        message = str(exc)
        match = re.search(r"row (\d+)|line (\d+)", message)
        record = int(next(g for g in match.groups() if g)) if match else None
        raise InputError(f"unreadable CSV ({message[:160]})", file=label, record=record) from None


# a NaN or Infinity spelled as a value, which Python's decoder (the row paths') refuses: pyarrow's JSON reader
# takes Inf and -NaN (Python reads NaN and Infinity alike, so Infinity may match: harmless); DuckDB's takes every
# spelling in any case. The words are found first (arrow's case-blind substring search is the fast one).
# NAN_INF, pyarrow's, only matches a line holding its words: a reader scanning its lines with a regex of its own
# may fold it in (openai_bulk does).
NAN_INF = r"[:,\[][ \t\r\n]*(-?Inf|-NaN)"
_SPELLED = {
    False: (("inf", "-nan"), NAN_INF),
    True: (("inf", "nan"), r"[:,\[][ \t\r\n]*[-+]?([Nn][Aa]|[Ii][Nn])"),
}


def nan_inf(lines: pa.Array, *, any_case: bool = False) -> pa.Array | None:
    """Lines that may hold such a spelling as a value (`any_case` for DuckDB's reader; a string may match too:
    harmless, the row path reads it); None when no line holds the words (the usual case)."""
    words, pattern = _SPELLED[any_case]
    maybe = pc.or_(pc.match_substring(lines, words[0], ignore_case=True),
                   pc.match_substring(lines, words[1], ignore_case=True))
    return pc.match_substring_regex(lines, pattern) if pc.any(maybe).as_py() else None


def narrowed(at: list[int], read: Callable[[list[int]], pa.Table | None], smallest: int
             ) -> tuple[list[pa.Table], list[int], list[int]]:
    """Read the lines at indices `at` together; where that fails (read gives None or a wrong row count), in 16
    parts, recursively, down to `smallest` lines: (tables, indices read in table order, indices that failed)."""
    if not at:
        return [], [], []
    table = read(at)
    if table is not None and table.num_rows == len(at):
        return [table], list(at), []
    if len(at) <= smallest:
        return [], [], list(at)
    step = -(-len(at) // 16)
    tables: list[pa.Table] = []
    done: list[int] = []
    failed: list[int] = []
    for start in range(0, len(at), step):
        t, d, f = narrowed(at[start:start + step], read, smallest)
        tables += t
        done += d
        failed += f
    return tables, done, failed


def read_ahead(items: Iterator[Any]) -> Iterator[Any]:
    """The items, each produced on a worker thread while the consumer works on the one before it (pyarrow's
    readers and compute release the GIL, so the two overlap)."""
    end = object()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(next, items, end)
        while (item := future.result()) is not end:
            future = pool.submit(next, items, end)
            yield item


def with_row_numbers(table: pa.Table, first: int) -> pa.Table:
    """The table with its record numbers, cut into SCAN_BATCH-row record batches for a parallel DuckDB scan."""
    numbers = pa.array(np.arange(first, first + table.num_rows, dtype=np.int64))  # range() costs ~60 ns a row
    return scan_batches(table.append_column(ROW_NUMBER, numbers))


def scan_batches(table: pa.Table) -> pa.Table:
    """The table cut into SCAN_BATCH-row record batches (zero-copy slices) for a parallel DuckDB scan."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_BATCH), table.schema)


def in_row_order(table: pa.Table) -> pa.Table:
    """The table ordered by record number: a check that costs a comparison, a sort only if a join reordered rows."""
    rn = table.column(ROW_NUMBER).combine_chunks()
    if len(rn) > 1 and not pc.all(pc.less(rn.slice(0, len(rn) - 1), rn.slice(1))).as_py():
        table = table.take(pc.sort_indices(rn))
    return table


def time_map(value: Any) -> dict[str, Any]:
    """Lenient time parse for one distinct value: ISO 8601, `YYYY-MM-DD HH:MM:SS`, `5/1/25`."""
    if isinstance(value, datetime):
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return {"t": utc, "o": "Z", "t_err": None}
    text = str(value).strip()
    try:
        utc, offset = read_time(text, "t")
        return {"t": utc, "o": offset, "t_err": None}
    except BadValue:
        pass
    for fmt in ("%m/%d/%y", "%m/%d/%Y", "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"):
        try:
            return {"t": datetime.strptime(text, fmt).replace(tzinfo=UTC), "o": "Z", "t_err": None}
        except ValueError:
            continue
    return {"t": None, "o": None, "t_err": f"unparseable time {text[:40]!r}"}


TIME_SCHEMA = pa.schema([("t", pa.timestamp("us", tz="UTC")), ("o", pa.string()), ("t_err", pa.string())])


def finish(result: pa.Table, ctx: ParseContext) -> UsageChunk:
    """Split a SQL result into usage rows (cast to the usage schema, sanitized) and row errors."""
    err_field = result.column(ERR_FIELD)
    errors: list[RowError] = []
    if err_field.null_count < len(err_field):
        mask = err_field.is_valid()
        bad = result.filter(mask).select([ROW_NUMBER, ERR_FIELD, ERR_REASON]).to_pylist()
        errors = [RowError(int(r[ROW_NUMBER]), r[ERR_FIELD], r[ERR_REASON]) for r in bad]
        result = result.filter(err_field.is_null())
    table = result.select(list(USAGE_SCHEMA.names)).cast(USAGE_SCHEMA)
    table = sanitize_table(table, ctx.secret_pattern)
    return UsageChunk(table, errors, table.num_rows + len(errors))
