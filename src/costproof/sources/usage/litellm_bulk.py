"""The litellm-spend bulk path: whole blocks of SpendLogs rows typed at once; records it cannot vouch for go to the
row path (`litellm_spend._row`) verbatim, so quarantine reasons and identities are the row path's own.

CSV: the file is cut into blocks of whole lines; pyarrow reads each block as text columns. A block is taken in bulk
only when every record sits on one line (rows = newlines, no lone CR, no line over the csv module's field limit);
otherwise the block goes through the csv module like the row path. Where pyarrow cannot read a block at all, the rest
of the file goes through the row path (from the start of the file when the text is not UTF-8, so messages match).

Per record, the high-cardinality fields (request_id, startTime, endTime, spend, token counts) are typed in DuckDB
under strict shape guards (no edge whitespace, plain digits, ISO times the row path parses the same way). All other
fields the row path reads (model, status, metadata, request_tags, ...) are low-cardinality in practice: each distinct
combination of them is evaluated once in Python with the row path's own helpers, so labels, status codes and usage
details are the row path's by construction. A combination whose evaluation raises goes to the row path.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from costproof.model.errors import InputError
from costproof.model.sanitize import safe_name
from costproof.model.usage import status_class
from costproof.sources.usage import litellm_spend as ls
from costproof.sources.usage import vector
from costproof.sources.usage.base import (
    CHUNK_ROWS,
    USAGE_SCHEMA,
    BadValue,
    ParseContext,
    RowBuilder,
    UsageChunk,
    sanitize_table,
    to_table,
)

# fields read per distinct combination (Python, the row path's helpers) and per record (SQL)
COMBO = ("model", "model_group", "call_type", "custom_llm_provider", "status", "cache_hit", "team_id", "end_user",
         "stream", "metadata", "request_tags")
SCALAR = ("request_id", "startTime", "endTime", "spend", "prompt_tokens", "completion_tokens", "api_key")
FIELDS = (*SCALAR, *COMBO)
LABELS = ("environment", "cost_center", "project", "customer", "workflow")
METER_DETAILS = ("cached", "cache_write", "audio_in", "reasoning", "audio_out")

# Python's str.isspace() characters: the row path strips them, so a vouched value must not start or end with one
_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
# ISO times that datetime.fromisoformat and DuckDB read alike (years 1900-2999 keep astimezone in range)
_ISO = (r"^(19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
        r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$")
_DEC = r"^[0-9]{1,20}(\.[0-9]{1,12})?$"
_INT = r"^[0-9]{1,18}$"
_NULLS = "('', 'None', 'none', 'null', 'NULL')"  # litellm_spend._NULLS, exact (edge spaces go to the row path)
_FIELD_LIMIT = 131072  # csv.field_size_limit(): a longer line may hold a field the csv module refuses
# startTime as the row path reads it (strict ISO shapes only; others go to the row path) and its offset as written
_TIMES = f"""CASE WHEN regexp_matches("startTime", '{_ISO}') THEN
    CASE WHEN right("startTime", 1) = 'Z' OR substr("startTime", -6, 1) IN ('+', '-')
         THEN TRY_CAST("startTime" AS TIMESTAMPTZ)
         ELSE CAST(TRY_CAST("startTime" AS TIMESTAMP) AS TIMESTAMPTZ) END END AS occurred,
  CASE WHEN length("startTime") > 19 AND substr("startTime", -6, 1) IN ('+', '-')
            AND right("startTime", 5) <> '00:00' THEN right("startTime", 6) ELSE 'Z' END AS offs,"""
_ROW_SQL = f"""
SELECT
  request_id IS NOT NULL AND request_id NOT IN {_NULLS}
    AND NOT regexp_matches(request_id, '^{_SPACE}|{_SPACE}$') AS rid_ok,
  {_TIMES}
  "endTime" IS NULL OR "endTime" IN {_NULLS} OR "endTime" = "startTime"
    OR (regexp_matches("endTime", '{_ISO}') AND TRY_CAST("endTime" AS TIMESTAMPTZ) IS NOT NULL) AS end_ok,
  spend IS NULL OR spend IN {_NULLS} AS spend_null,
  CASE WHEN regexp_matches(spend, '{_DEC}') THEN CAST(spend AS DECIMAL(38, 12)) END AS spend,
  CASE WHEN prompt_tokens IS NULL OR prompt_tokens IN {_NULLS} THEN 0
       WHEN regexp_matches(prompt_tokens, '{_INT}') THEN CAST(prompt_tokens AS BIGINT) END AS prompt,
  CASE WHEN completion_tokens IS NULL OR completion_tokens IN {_NULLS} THEN 0
       WHEN regexp_matches(completion_tokens, '{_INT}') THEN CAST(completion_tokens AS BIGINT) END AS completion,
  left(sha256('litellm-spend' || chr(31) || request_id), 24) AS record_id
FROM blk
"""


# ---------------------------------------------------------------- per distinct combination
def _facts(item: dict[str, Any], ctx: ParseContext) -> dict[str, Any] | None:
    """The row path's results for one combination of the low-cardinality fields; None when any of them raises."""
    try:
        metadata = ls._json(item.get("metadata"), "metadata", dict)
        tags = ls._json(item.get("request_tags"), "request_tags", list)
        model, failed = ls._model_failed(item, metadata)
        if not model and not failed:
            return None
        details = ls._details(metadata)
        labels = ls._labels(item, metadata, tags)
        alias = ls._text(metadata.get("user_api_key_alias"))
        status_code = ls._status_code(metadata, failed)
    except BadValue:
        return None
    if max(details) >= 10**18:  # keeps the token arithmetic inside int64
        return None
    cache_hit = ls._text(item.get("cache_hit")).lower() == "true"
    out: dict[str, Any] = {
        "ok": True,
        "failed": failed,
        "cache_hit": cache_hit,
        "model": model or None,
        "provider": ls._text(item.get("custom_llm_provider")) or "litellm",
        "route": ls._text(item.get("call_type")) or None,
        "status_code": status_code,
        "status_class": status_class(status_code),
        "is_stream": ls._is_stream(item, metadata),
        "has_alias": bool(alias),
        "alias": safe_name(alias, ctx.secret_pattern) or None if alias else None,
        "requests": 0 if failed or cache_hit else 1,
    }
    out.update({lab: labels.get(lab) for lab in LABELS})
    out.update(dict(zip(METER_DETAILS, details, strict=True)))
    return out


_FACT_TYPES = {"ok": pa.bool_(), "failed": pa.bool_(), "cache_hit": pa.bool_(), "model": pa.string(),
               "provider": pa.string(), "route": pa.string(), "status_code": pa.int64(),
               "status_class": pa.string(), "is_stream": pa.bool_(), "has_alias": pa.bool_(), "alias": pa.string(),
               "requests": pa.int64(), **{lab: pa.string() for lab in LABELS},
               **{m: pa.int64() for m in METER_DETAILS}}


def _codes(table: pa.Table, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(combination index per row, a representative row per combination) of the named text columns."""
    code = np.zeros(table.num_rows, np.int64)
    width = 1
    for name in names:
        if name not in table.column_names:
            continue
        col = table.column(name)
        uniq = pc.unique(col)
        idx = pc.index_in(col, uniq).to_numpy(zero_copy_only=False).astype(np.int64)
        if width * len(uniq) >= 1 << 40:
            _, code = np.unique(code, return_inverse=True)
            code = code.reshape(-1).astype(np.int64)
            width = int(code.max()) + 1
        code = code * len(uniq) + idx
        width *= max(len(uniq), 1)
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    return inverse.reshape(-1), first


def _combo_facts(table: pa.Table, ctx: ParseContext,
                 decode: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None) -> pa.Table:
    """One row of facts per record, from one Python evaluation per distinct combination (`decode` turns a
    combination's column values into the record's values, None when it cannot)."""
    inverse, first = _codes(table, COMBO)
    present = [c for c in COMBO if c in table.column_names]
    reps = table.select(present).take(pa.array(first, pa.int64())).to_pylist()
    rows = []
    for rep in reps:
        item = decode(rep) if decode is not None else rep
        facts = _facts(item, ctx) if item is not None else None
        rows.append(facts if facts is not None else {"ok": False})
    facts_table = pa.Table.from_pylist(rows, schema=pa.schema(list(_FACT_TYPES.items())))
    return facts_table.take(pa.array(inverse, pa.int64()))


# ---------------------------------------------------------------- a block of records
def run_block(con: duckdb.DuckDBPyConnection | None, table: pa.Table, numbers: pa.Array, ctx: ParseContext,
              slow_item: Callable[[int], Any], typed: pa.Table | None = None,
              decode: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None) -> UsageChunk:
    """Rows of one block (text columns named after the SpendLogs fields): bulk where certain, the row path for the
    rest (`slow_item(i)` gives record i as the row path reads it). `typed` (JSON) is the block's scalar fields
    already typed, with a `json_ok` column; `decode` reads a combination of JSON texts (see _combo_facts)."""
    n = table.num_rows
    cols = {f: table.column(f) if f in table.column_names else pa.nulls(n, pa.string()) for f in SCALAR}
    if typed is None:
        assert con is not None  # the CSV path types the block here
        con.register("blk", vector.scan_batches(pa.table(cols)))
        try:
            typed = con.sql(_ROW_SQL).to_arrow_table()
        finally:
            con.unregister("blk")
    facts = _combo_facts(table, ctx, decode)
    prompt = typed.column("prompt")
    completion = typed.column("completion")
    uncached = pc.subtract(pc.subtract(pc.subtract(prompt, facts.column("cached")), facts.column("cache_write")),
                           facts.column("audio_in"))
    text_out = pc.subtract(pc.subtract(completion, facts.column("reasoning")), facts.column("audio_out"))
    checks = [
        facts.column("ok"), typed.column("rid_ok"), pc.is_valid(typed.column("occurred")), typed.column("end_ok"),
        pc.or_(typed.column("spend_null"), pc.and_(pc.is_valid(typed.column("spend")),
                                                    pc.greater_equal(typed.column("spend"), 0))),
        pc.greater_equal(uncached, 0), pc.greater_equal(text_out, 0),
    ]
    if "json_ok" in typed.column_names:
        checks.append(typed.column("json_ok"))
    ok = checks[0]
    for check in checks[1:]:
        ok = pc.and_kleene(ok, check)
    ok_np = np.asarray(ok.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)

    builder = RowBuilder(ctx)
    numbers_list = numbers.to_pylist()
    for i in np.flatnonzero(~ok_np).tolist():
        try:
            row = ls._row(slow_item(i), ctx)
        except BadValue as exc:
            builder.reject(numbers_list[i], exc)
        else:
            row["source_record"] = numbers_list[i]
            builder.add(row)

    mask = pa.array(ok_np)
    good_facts = facts.filter(mask)
    good = typed.filter(mask)
    m = good.num_rows
    parts = []
    if m:
        record_ids = good.column("record_id")
        # key name: the metadata's alias, else the (hashed) virtual key, once per distinct value
        key_name = good_facts.column("alias")
        no_alias = pc.invert(good_facts.column("has_alias"))
        if pc.any(no_alias).as_py():
            keys = cols["api_key"].filter(mask)
            distinct = pc.unique(keys)
            named = pa.array([safe_name(ls._text(v), ctx.secret_pattern) or None for v in distinct.to_pylist()],
                             pa.string())
            by_key = pc.take(named, pc.index_in(keys, distinct))
            key_name = pc.if_else(no_alias, by_key, key_name)
        cache_hit = good_facts.column("cache_hit")
        zero = pa.scalar(0, pa.int64())

        def meter(values: Any) -> Any:
            return pc.if_else(cache_hit, zero, values)

        spend = good.column("spend")
        out = {
            "record_id": record_ids,
            "source_record": numbers.filter(mask),
            "record_kind": pc.if_else(good_facts.column("failed"), "error", "consume"),
            "occurred_at": good.column("occurred"),
            "original_offset": good.column("offs"),
            "provider": good_facts.column("provider"),
            "model_reported": good_facts.column("model"),
            "route_family": good_facts.column("route"),
            "status_code": good_facts.column("status_code"),
            "status_class": good_facts.column("status_class"),
            "is_stream": good_facts.column("is_stream"),
            "api_key_name": key_name,
            **{lab: good_facts.column(lab) for lab in LABELS},
            "input_tokens": meter(uncached.filter(mask)),
            "cached_input_tokens": meter(good_facts.column("cached")),
            "cache_write_tokens": meter(good_facts.column("cache_write")),
            "output_tokens": meter(text_out.filter(mask)),
            "reasoning_tokens": meter(good_facts.column("reasoning")),
            "audio_input_tokens": meter(good_facts.column("audio_in")),
            "audio_output_tokens": meter(good_facts.column("audio_out")),
            "requests": good_facts.column("requests"),
            "provider_reported_cost": spend,
            "provider_reported_currency": pc.if_else(pc.is_valid(spend), "USD", pa.scalar(None, pa.string())),
        }
        defaults = {"attempt": pa.scalar(1, pa.int64()), "is_retry": pa.scalar(False), "is_partial": pa.scalar(False),
                    "usage_origin": pa.scalar("computed-by-litellm")}
        columns = []
        for field in USAGE_SCHEMA:
            if field.name in out:
                columns.append(pc.cast(out[field.name], field.type))
            elif field.name in defaults:
                columns.append(pa.repeat(defaults[field.name], m).cast(field.type))
            else:
                columns.append(pa.nulls(m, field.type))
        parts.append(pa.Table.from_arrays(columns, schema=USAGE_SCHEMA))
    if builder.rows:
        parts.append(to_table(builder.rows))
    result = pa.concat_tables(parts) if parts else USAGE_SCHEMA.empty_table()
    if len(parts) > 1:
        result = result.take(pc.sort_indices(result.column("source_record")))
    result = sanitize_table(result, ctx.secret_pattern)
    errors = sorted(builder.errors, key=lambda e: e.record)
    return UsageChunk(result, errors, result.num_rows + len(errors))


# ---------------------------------------------------------------- CSV
def _block_bytes(ctx: ParseContext) -> int:
    """16 MiB blocks; smaller chunk sizes (tests) cut proportionally smaller blocks so block edges get exercised."""
    return 16 << 20 if ctx.chunk_rows >= CHUNK_ROWS else max(256, ctx.chunk_rows * 48)


def _header(path: Path) -> tuple[list[str], int] | None:
    """The header's names and the byte offset where data starts, when the header is one plain line."""
    with open(path, "rb") as handle:
        first = handle.readline(1 << 20)
    if not first.endswith(b"\n"):
        return None
    line = first[3:] if first.startswith(b"\xef\xbb\xbf") else first
    body = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    if b"\r" in body:
        return None
    try:
        names = next(csv.reader([body.decode("utf-8")]), None)
    except (UnicodeDecodeError, csv.Error):
        return None
    if not names or len(set(names)) != len(names) or any(r not in names for r in ls._REQUIRED):
        return None
    if body.count(b'"') % 2:
        return None
    return names, len(first)


def _cut_blocks(path: Path, start: int, size: int) -> Iterator[tuple[int, bytes]]:
    """(byte offset, block) of whole lines from `start`; the last block may lack its final newline."""
    with open(path, "rb") as handle:
        handle.seek(start)
        offset = start
        tail = b""
        while True:
            data = handle.read(size)
            if not data:
                if tail:
                    yield offset, tail
                return
            data = tail + data if tail else data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                tail = data
                continue
            yield offset, data[:cut]
            offset += cut
            tail = data[cut:]


def _max_line(ends: np.ndarray) -> int:
    """The longest line (with its newline) of a block whose newline positions are `ends` (the block ends in one)."""
    return int(max(ends[0] + 1, np.diff(ends).max(initial=0))) if len(ends) else 0


def _crs_in_crlf(arr: np.ndarray, ends: np.ndarray) -> bool:
    """True when every CR of the block ends a line (CRLF): the csv module and the newline count see the same lines."""
    crs = int(np.count_nonzero(arr == 13))
    if not crs:
        return True
    before = ends[ends > 0] - 1
    return crs == int(np.count_nonzero(arr[before] == 13))


def _dict_rows(text: str, names: list[str], base: int, label: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The row path's csv.DictReader over one block that starts at a record boundary (base = lines before it)."""
    reader = csv.DictReader(io.StringIO(text, newline=""), fieldnames=names)
    try:
        for row in reader:
            yield base + reader.line_num, row
    except csv.Error as exc:
        raise InputError(f"unreadable CSV ({exc})", file=label, record=base + reader.line_num) from None


def parse_csv(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    label = ctx.file_label
    head = _header(path)
    if head is None:  # an unusual header: the row path reads (or refuses) the file
        yield from ls.row_chunks(ls._records(path, label), ctx)
        return
    names, start = head
    wanted = [f for f in FIELDS if f in names]
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)
    read = pacsv.ReadOptions(column_names=names, use_threads=True, block_size=4 << 20)
    parse_opts = pacsv.ParseOptions(newlines_in_values=True)
    con = vector.connect()
    line = 1  # lines read so far (the header is line 1)

    def prepare(item: tuple[int, bytes]) -> tuple[int, bytes, bytes, pa.Table | None, np.ndarray, np.ndarray]:
        """Read one block (on a worker thread, while the previous block is typed)."""
        offset, block = item
        data = block if block.endswith(b"\n") else block + b"\n"
        try:
            table = pacsv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse_opts,
                                   convert_options=convert)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            table = None
        arr = np.frombuffer(data, np.uint8)
        return offset, block, data, table, arr, np.flatnonzero(arr == 10)

    for offset, block, _data, table, arr, ends in _ahead(_cut_blocks(path, start, _block_bytes(ctx)), prepare):
        if table is None:
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                # the row path's own error message (its byte position): re-read the file from its start
                yield from ls.row_chunks(((n, r) for n, r in ls._records(path, label) if n > line), ctx)
                return
            yield from _rest(path, offset, names, line, ctx)
            return
        lines = len(ends)
        last = table.slice(table.num_rows - 1) if table.num_rows else None
        last_ok = last is not None and not any(
            "\n" in v or "\r" in v for v in last.to_pylist()[0].values() if isinstance(v, str))
        if not last_ok and table.num_rows:
            # the block may end inside a quoted field: the row path reads the rest of the file
            yield from _rest(path, offset, names, line, ctx)
            return
        simple = (table.num_rows == lines and _crs_in_crlf(arr, ends) and _max_line(ends) <= _FIELD_LIMIT)
        if not simple:
            text = block.decode("utf-8")
            reader_lines = _count_lines(text)
            yield from ls.row_chunks(_dict_rows(text, names, line, label), ctx)
            line += reader_lines
            continue
        numbers = pa.array(np.arange(line + 1, line + 1 + table.num_rows, dtype=np.int64))
        sub = table.select(wanted)

        def slow_item(i: int, sub: pa.Table = sub) -> dict[str, Any]:
            return sub.slice(i, 1).to_pylist()[0]

        for piece_start in range(0, table.num_rows, ctx.chunk_rows):
            piece = sub.slice(piece_start, ctx.chunk_rows)
            yield run_block(con, piece, numbers.slice(piece_start, ctx.chunk_rows), ctx,
                            lambda i, p=piece_start: slow_item(p + i))
        line += lines
    con.close()


def _ahead(items: Iterator[Any], fn: Callable[[Any], Any]) -> Iterator[Any]:
    """fn over items, computed one item ahead on a worker thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for item in items:
            future = pool.submit(fn, item)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()


def _count_lines(text: str) -> int:
    """Lines as the csv module counts them when reading a file opened with newline='' (CR, LF, CRLF)."""
    return len(io.StringIO(text, newline="").readlines())


def _rest(path: Path, offset: int, names: list[str], line: int, ctx: ParseContext) -> Iterator[UsageChunk]:
    """The row path from a record boundary at byte `offset` (after `line` lines) to the end of the file."""
    label = ctx.file_label
    with open(path, "rb") as raw:
        raw.seek(offset)
        handle = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        reader = csv.DictReader(handle, fieldnames=names)

        def records() -> Iterator[tuple[int, Any]]:
            try:
                for row in reader:
                    yield line + reader.line_num, row
            except csv.Error as exc:
                raise InputError(f"unreadable CSV ({exc})", file=label, record=line + reader.line_num) from None

        done = line
        try:
            for chunk in ls.row_chunks(records(), ctx):
                done = line + reader.line_num
                yield chunk
        except UnicodeDecodeError:
            pass
        else:
            return
    # text that is not UTF-8 further on: the row path's own message, from the file's start
    yield from ls.row_chunks(((n, r) for n, r in ls._records(path, label) if n > done), ctx)


# ---------------------------------------------------------------- JSON array, one item per line
# litellm_lines reads these files: pyarrow types most lines; the lines it cannot type come through the DuckDB reader
# below, line by line. Each line of the file holds one item (`[{...}`, `,{...}`, `{...},`, `{...}]`, blank, `[` or `]`
# lines): the items are cut from the raw bytes, so the row path gets each item's own text. DuckDB re-serializes numbers,
# so a number is vouched for only where its value settles the row path's result (integers; a spend whose double is a
# 12-decimal value under 1000, which is the stored value of every text that reads as that double); a float, NaN or
# oversized integer anywhere in the combination fields sends the record to the row path. DuckDB also accepts what
# Python's json module refuses (trailing commas, NaN spellings): a line where such text may appear goes to the row path,
# which reads it with json.loads (and a line json.loads refuses ends the bulk read: the row path reads the file from the
# last record yielded, so its own error is raised).
class _Unvouched(Exception):
    """The rest of the file goes through the row path."""


_WS = np.zeros(256, bool)
_WS[[9, 10, 13, 32]] = True
_J_PATHS = "[" + ", ".join(f"'$.\"{k}\"'" for k in FIELDS) + "]"
# trailing commas (DuckDB reads them, json.loads does not)
_TRAILING = r",[ \t\r\n]*[]}]"
_J_LIST = "[" + ", ".join(f"'{k}'" for k in FIELDS) + "]"
def _sv(f: str) -> str:
    """A JSON text's string value (NULL unless the text is a JSON string)."""
    return f"CASE WHEN left(\"{f}\", 1) = '\"' THEN json_extract_string(\"{f}\", '$') END"


# each field's JSON text (x[i]: DuckDB evaluates json_extract once for all of them), the scalars' string values;
# same = no repeated field key (json.loads keeps a repeated key's last value, DuckDB its first)
_EXTRACT_SQL = f"""
SELECT {_sv("request_id")} AS request_id, {_sv("startTime")} AS "startTime", {_sv("api_key")} AS api_key,
  "endTime" IS NULL OR "endTime" = 'null' AS end_null, {_sv("endTime")} AS "endTime",
  spend IS NULL OR spend = 'null' AS spend_null0, {_sv("spend")} AS spend_s,
  CASE WHEN regexp_matches(spend, '^[0-9]{{1,20}}$') THEN CAST(spend AS DECIMAL(38, 12)) END AS spend_i,
  CASE WHEN regexp_matches(spend, '^-?[0-9][0-9.eE+-]*$') THEN TRY_CAST(spend AS DOUBLE) END AS spend_d,
  prompt_tokens AS p_j, {_sv("prompt_tokens")} AS p_s, completion_tokens AS c_j, {_sv("completion_tokens")} AS c_s,
  (api_key IS NULL OR api_key = 'null' OR left(api_key, 1) = '"') AND same AS json_ok0,
  {", ".join(f'"{k}"' for k in COMBO)}
FROM (SELECT {", ".join(f'x[{i + 1}] AS "{k}"' for i, k in enumerate(FIELDS))},
        len(list_filter(x, lambda v: v IS NOT NULL)) = nk AS same
      FROM (SELECT json_extract(j, {_J_PATHS}) AS x,
              len(list_filter(json_keys(j), lambda k: list_contains({_J_LIST}, k))) AS nk FROM items))
"""


def _j_tokens(j: str, s: str) -> str:
    return (f"CASE WHEN {j} IS NULL OR {j} = 'null' OR {s} IN {_NULLS} THEN 0 "
            f"WHEN regexp_matches({s}, '{_INT}') THEN CAST({s} AS BIGINT) "
            f"WHEN regexp_matches({j}, '^[0-9]{{1,18}}$') THEN CAST({j} AS BIGINT) END")


_J_ROW_SQL = f"""
SELECT
  request_id IS NOT NULL AND request_id NOT IN {_NULLS} AND NOT contains(request_id, chr(0))
    AND NOT regexp_matches(request_id, '^{_SPACE}|{_SPACE}$') AS rid_ok,
  {_TIMES}
  end_null OR "endTime" IN {_NULLS} OR "endTime" = "startTime"
    OR (regexp_matches("endTime", '{_ISO}') AND TRY_CAST("endTime" AS TIMESTAMPTZ) IS NOT NULL) AS end_ok,
  spend_null0 OR coalesce(spend_s IN {_NULLS}, false) AS spend_null,
  CASE WHEN regexp_matches(spend_s, '{_DEC}') THEN CAST(spend_s AS DECIMAL(38, 12))
       WHEN spend_i IS NOT NULL THEN spend_i
       WHEN spend_d >= 0 AND spend_d < 1000
            AND CAST(CAST(spend_d AS DECIMAL(38, 12)) AS DOUBLE) = spend_d THEN CAST(spend_d AS DECIMAL(38, 12))
       END AS spend,
  {_j_tokens("p_j", "p_s")} AS prompt,
  {_j_tokens("c_j", "c_s")} AS completion,
  left(sha256('litellm-spend' || chr(31) || request_id), 24) AS record_id,
  json_ok0 AS json_ok
FROM jstage
"""


class _NotExact(Exception):
    pass


def _no_float(text: str) -> Any:
    raise _NotExact(text)


def _exact_int(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**63:  # DuckDB keeps 64-bit integers exactly, not larger ones
        raise _NotExact(text)
    return value


def _decode(rep: dict[str, Any]) -> dict[str, Any] | None:
    """A combination's JSON texts (as DuckDB wrote them) as json.loads reads the item, or None when DuckDB's text
    may differ from the file's (a float, NaN or a wide integer)."""
    item: dict[str, Any] = {}
    for key, text in rep.items():
        if text is None:
            continue
        try:
            item[key] = json.loads(text, parse_float=_no_float, parse_int=_exact_int, parse_constant=_no_float)
        except (_NotExact, ValueError):
            return None
    return item


def _skip(arr: np.ndarray, s: np.ndarray, e: np.ndarray, back: bool) -> bool:
    """Moves starts (or ends, back=True) over JSON whitespace inside each line; False when a line has too much."""
    for _ in range(64):
        if back:
            m = (e > s) & _WS[arr[np.maximum(e - 1, 0)]]
            if not m.any():
                return True
            e[m] -= 1
        else:
            m = (s < e) & _WS[arr[np.minimum(s, len(arr) - 1)]]
            if not m.any():
                return True
            s[m] += 1
    return False


def _strip(arr: np.ndarray, s: np.ndarray, e: np.ndarray, char: str, back: bool) -> np.ndarray:
    """Lines whose first (last) character is `char`: blanked out in the buffer and stepped over."""
    code = ord(char)
    if back:
        m = (e > s) & (arr[np.maximum(e - 1, 0)] == code)
        arr[e[m] - 1] = 32
        e[m] -= 1
    else:
        m = (s < e) & (arr[np.minimum(s, len(arr) - 1)] == code)
        arr[s[m]] = 32
        s[m] += 1
    return m


def _mutable_blocks(path: Path, size: int) -> Iterator[tuple[int, memoryview]]:
    """(byte offset, block) of whole lines, each a writable buffer of its own ending in a newline."""
    with open(path, "rb") as handle:
        offset = 0
        tail = b""
        while True:
            buf = bytearray(len(tail) + size + 1)
            buf[: len(tail)] = tail
            got = handle.readinto(memoryview(buf)[len(tail) : len(tail) + size])
            end = len(tail) + got
            if not got:
                if tail:
                    buf[end] = 10
                    yield offset, memoryview(buf)[: end + 1]
                return
            cut = buf.rfind(b"\n", 0, end) + 1
            if cut == 0:
                tail = bytes(buf[:end])
                continue
            tail = bytes(buf[cut:end])
            yield offset, memoryview(buf)[:cut]
            offset += cut


def _json_block(item: tuple[int, memoryview]) -> dict[str, Any] | None:
    """A block's lines: item texts (separators blanked) and the layout flags the caller checks; None when the lines
    are not one item each (or not UTF-8)."""
    offset, buf = item
    if offset == 0 and bytes(buf[:3]) == b"\xef\xbb\xbf":
        buf[:3] = b"   "
    arr = np.frombuffer(buf, np.uint8)
    ends = np.flatnonzero(arr == 10)
    s = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    e = ends.astype(np.int64)
    if not (_skip(arr, s, e, False) and _skip(arr, s, e, True)):
        return None
    nonempty = s < e
    opens = _strip(arr, s, e, "[", False)
    closes = _strip(arr, s, e, "]", True)
    ok = _skip(arr, s, e, False) and _skip(arr, s, e, True)
    lead = _strip(arr, s, e, ",", False)
    trail = _strip(arr, s, e, ",", True)
    ok = ok and _skip(arr, s, e, False) and _skip(arr, s, e, True)
    if not ok:
        return None
    items = s < e
    if items.any():
        first = arr[s[items]]
        last = arr[e[items] - 1]
        if not (np.all(first == 123) and np.all(last == 125)):
            return None
    if np.any((lead | trail) & ~items):
        return None
    offsets = np.concatenate([[0], ends + 1]).astype(np.int32)
    lines = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(buf))
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        return None
    index = np.flatnonzero(items)
    if len(index) != len(ends):
        lines = lines.take(pa.array(index, pa.int64()))
    return {"lines": lines, "nonempty": nonempty, "opens": opens, "closes": closes, "items": items,
            "lead": lead[index], "trail": trail[index]}


class _Layout:
    """The file-wide layout checks across blocks: `[` first, `]` last, one comma between items."""

    def __init__(self) -> None:
        self.opened = False
        self.closed = False
        self.prev_trail: bool | None = None  # the last item's trailing comma (None before the first item)

    def check(self, b: dict[str, Any]) -> bool:
        nonempty = np.flatnonzero(b["nonempty"])
        if not len(nonempty):
            return True
        if self.closed:
            return False
        opens = np.flatnonzero(b["opens"])
        if self.opened:
            if len(opens):
                return False
        elif list(opens) != [nonempty[0]]:
            return False
        self.opened = True
        closes = np.flatnonzero(b["closes"])
        if len(closes):
            if list(closes) != [nonempty[-1]]:
                return False
        lead, trail = b["lead"], b["trail"]
        if len(lead):
            before = np.concatenate([[bool(self.prev_trail)], trail[:-1]])
            if self.prev_trail is None and lead[0]:
                return False
            if self.prev_trail is None:
                before[0] = True  # the first item: no comma before it (checked above)
                if np.any(before[1:].astype(int) + lead[1:].astype(int) != 1):
                    return False
            elif np.any(before.astype(int) + lead.astype(int) != 1):
                return False
            self.prev_trail = bool(trail[-1])
        if len(closes):
            if self.prev_trail:
                return False
            self.closed = True
        return True


def _odd(lines: pa.Array) -> pa.Array:
    """Lines that may hold a trailing comma or a NaN/Infinity spelling (DuckDB reads them; json.loads refuses
    them or reads them otherwise): the row path's. Strings may match too (harmless: the row path reads them)."""
    odd = pc.match_substring_regex(lines, _TRAILING)
    spelled = vector.nan_inf(lines, any_case=True)
    return odd if spelled is None else pc.or_(odd, spelled)


def _extract(con: duckdb.DuckDBPyConnection, lines: pa.Array, odd: pa.Array) -> tuple[pa.Table, pa.Array]:
    """(fields as JSON texts, json_ok0) of item lines; lines DuckDB cannot read are not ok (the row path's)."""
    valid = None
    for _ in range(2):
        use = lines if valid is None else pc.if_else(valid, lines, "{}")
        con.register("items", vector.scan_batches(pa.table({"j": use})))
        try:
            got = con.sql(_EXTRACT_SQL).to_arrow_table()
            break
        except duckdb.Error:
            if valid is not None:
                raise
            con.register("items", vector.scan_batches(pa.table({"j": lines})))
            valid = con.sql("SELECT json_valid(j) AS v FROM items").to_arrow_table().column("v")
        finally:
            con.unregister("items")
    ok = pc.and_(got.column("json_ok0"), pc.invert(odd))
    if valid is not None:
        ok = pc.and_(ok, valid)
    return got.set_column(got.schema.get_field_index("json_ok0"), "json_ok0", ok), ok


def _j_typed(con: duckdb.DuckDBPyConnection, stage: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(typed scalar fields as run_block reads them, the block table with string values for the scalars)."""
    con.register("jstage", vector.scan_batches(stage.drop_columns(list(COMBO))))
    try:
        typed = con.sql(_J_ROW_SQL).to_arrow_table()
    finally:
        con.unregister("jstage")
    table = pa.table({**{f: stage.column(f) for f in ("request_id", "startTime", "endTime", "api_key")},
                      "spend": stage.column("spend_s"),
                      **{f: stage.column(f) for f in COMBO}})
    return typed, table
