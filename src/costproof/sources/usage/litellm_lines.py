"""litellm-spend JSON arrays laid out one item per line: pyarrow's JSON reader types the fields, DuckDB the rest."""

# The file is cut into blocks of whole lines (`litellm_bulk._json_block`: separators blanked, layout flags). A
# piece of item lines is parsed by pyarrow against an explicit schema of the fields the row path reads. pyarrow is
# strict where it matters: a field of another JSON type, a number outside int64, a repeated schema field (also when
# written with escapes), trailing commas and other text json.loads refuses all fail the parse; a failing range is
# split and the ranges that still fail go to the DuckDB reader (`litellm_bulk`), which vouches line by line. The
# metadata text comes from DuckDB's json_extract (pyarrow only checks that it is an object, not repeated) and is
# decoded per combination as before (`litellm_bulk._decode`: floats in it still go to the row path); request_tags
# are pyarrow's lists of strings. A spend is vouched for only where its double settles the stored value (as in
# `litellm_bulk`). Parsing and typing run on the read-ahead thread; the main thread assembles rows (run_block).

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from costproof.sources.usage import litellm_bulk as lb
from costproof.sources.usage import litellm_spend as ls
from costproof.sources.usage import vector
from costproof.sources.usage.base import ParseContext, UsageChunk

_S = pa.string()
_TEXTS = (
    "request_id",
    "startTime",
    "endTime",
    "api_key",
    "model",
    "model_group",
    "call_type",
    "custom_llm_provider",
    "status",
    "cache_hit",
    "team_id",
    "end_user",
    "stream",
)
SCHEMA = pa.schema(
    [
        *((name, _S) for name in _TEXTS),
        ("spend", pa.float64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        # metadata is declared so that a repeated key (also one spelled with escapes) fails the parse; its text comes
        # from DuckDB, whose json_extract finds a key spelled with escapes as pyarrow does
        ("metadata", pa.struct([])),
        ("request_tags", pa.list_(_S)),
    ]
)
_OPTIONS = pajson.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="ignore", newlines_in_values=False)
_READ = pajson.ReadOptions(use_threads=True, block_size=1 << 21)
_SMALL = 256  # a failing range this short goes to the DuckDB reader without further splitting
_SPLIT = 16
_JSON = ("metadata", "request_tags")

_SQL = f"""
SELECT
  request_id IS NOT NULL AND request_id NOT IN {lb._NULLS}
    AND NOT regexp_matches(request_id, '^{lb._SPACE}|{lb._SPACE}$') AS rid_ok,
  {lb._TIMES}
  "endTime" IS NULL OR "endTime" IN {lb._NULLS} OR "endTime" = "startTime"
    OR (regexp_matches("endTime", '{lb._ISO}') AND TRY_CAST("endTime" AS TIMESTAMPTZ) IS NOT NULL) AS end_ok,
  spend IS NULL AS spend_null,
  CASE WHEN abs(spend) < 1000 AND CAST(CAST(spend AS DECIMAL(38, 12)) AS DOUBLE) = spend
       THEN CAST(spend AS DECIMAL(38, 12)) END AS spend,
  coalesce(prompt_tokens, 0) AS prompt,
  coalesce(completion_tokens, 0) AS completion,
  left(sha256('litellm-spend' || chr(31) || request_id), 24) AS record_id,
  json_extract(j, '$."metadata"') AS metadata
FROM items
"""


def _parse(data: pa.Buffer) -> pa.Table | None:
    try:
        return pajson.read_json(pa.BufferReader(data), read_options=_READ, parse_options=_OPTIONS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _ranges(
    data: pa.Buffer,
    offsets: np.ndarray,
    a: int,
    b: int,
    out: list[tuple[int, int, pa.Table | None]],
    failed: bool = False,
) -> None:
    """(start, end, table or None) for lines a..b: pyarrow's table where every line of the range parses as one
    object, None for the ranges left to the DuckDB reader (`failed`: the range is known not to parse)."""
    table = None if failed else _parse(data.slice(int(offsets[a]), int(offsets[b] - offsets[a])))
    if table is not None and table.num_rows == b - a:
        out.append((a, b, table))
        return
    if b - a <= _SMALL:
        out.append((a, b, None))
        return
    step = -(-(b - a) // _SPLIT)
    parts = []
    for s in range(a, b, step):
        e = min(s + step, b)
        t = _parse(data.slice(int(offsets[s]), int(offsets[e] - offsets[s])))
        parts.append((s, e, t if t is not None and t.num_rows == e - s else None))
    if sum(1 for p in parts if p[2] is None) > 2:  # odd lines throughout (fields typed otherwise): all to DuckDB
        out.append((a, b, None))
        return
    for s, e, t in parts:
        if t is not None:
            out.append((s, e, t))
        else:
            _ranges(data, offsets, s, e, out, failed=True)


def _decode(rep: dict[str, Any]) -> dict[str, Any] | None:
    """A combination as the row path reads the item: pyarrow's strings as they are, the metadata's JSON text
    decoded, the request_tags key (`_tag_keys`) spelled back into its list."""
    item = {k: v for k, v in rep.items() if v is not None and k not in _JSON}
    if rep.get("metadata") is not None:
        decoded = lb._decode({"metadata": rep["metadata"]})
        if decoded is None:
            return None
        item.update(decoded)
    if rep.get("request_tags") is not None:
        item["request_tags"] = _untag(rep["request_tags"])
    return item


def _tag_keys(tags: pa.ChunkedArray) -> pa.Array:
    """One text per request_tags list that tells lists apart (grouping needs a hashable column): each element as
    `<length>:<text>`, `-` for a null element; null for a null list."""
    arr = tags.combine_chunks()
    values = arr.values
    coded = pc.binary_join_element_wise(pc.cast(pc.utf8_length(values), pa.string()), values, ":")
    coded = pc.fill_null(coded, "-")
    return pc.binary_join(pa.ListArray.from_arrays(arr.offsets, coded, mask=arr.is_null()), "")


def _untag(key: str) -> list[str | None]:
    """The list a `_tag_keys` text was made from."""
    out: list[str | None] = []
    at = 0
    while at < len(key):
        if key[at] == "-":
            out.append(None)
            at += 1
            continue
        colon = key.index(":", at)
        end = colon + 1 + int(key[at:colon])
        out.append(key[colon + 1 : end])
        at = end
    return out


def _slow(piece: pa.Array, done: int) -> Any:
    def slow_item(i: int) -> Any:
        try:
            return json.loads(piece[i].as_py(), parse_float=Decimal)
        except ValueError:
            raise lb._Unvouched(done) from None

    return slow_item


class Part(NamedTuple):
    """Item lines of a piece typed for `litellm_bulk.run_block`: `at` their indices in the piece (None: all)."""

    lines: pa.Array
    at: np.ndarray | None
    typed: pa.Table
    table: pa.Table
    decode: Callable[[dict[str, Any]], dict[str, Any] | None]


def _batches(table: pa.Table) -> pa.Table:
    """The table in four record batches or more (zero-copy): DuckDB scans one batch per thread, so a block of
    ~30k lines keeps both cores busy (25k-row batches would leave one idle)."""
    size = max(2048, min(vector.SCAN_BATCH, -(-table.num_rows // 4)))
    return pa.Table.from_batches(table.to_batches(max_chunksize=size), table.schema)


def _arrow_part(con: duckdb.DuckDBPyConnection, lines: pa.Array, table: pa.Table, at: np.ndarray | None) -> Part | None:
    """Lines pyarrow typed (`table`), their remaining fields from DuckDB; None when DuckDB cannot read them."""
    scalars = ("request_id", "startTime", "endTime", "spend", "prompt_tokens", "completion_tokens")
    items = pa.table({"j": lines, **{f: table.column(f) for f in scalars}})
    con.register("items", _batches(items))
    try:
        typed = con.sql(_SQL).to_arrow_table()
    except duckdb.Error:
        return None
    finally:
        con.unregister("items")
    combo = pa.table(
        {
            "api_key": table.column("api_key"),
            **{f: table.column(f) for f in lb.COMBO if f not in _JSON},
            "metadata": typed.column("metadata"),
            "request_tags": _tag_keys(table.column("request_tags")),
        }
    )
    return Part(lines, at, typed.drop_columns(["metadata"]), combo, _decode)


def _duck_part(con: duckdb.DuckDBPyConnection, lines: pa.Array, at: np.ndarray | None) -> Part:
    """Lines through the DuckDB reader (each line on its own)."""
    stage, _ok = lb._extract(con, lines, lb._odd(lines))
    typed, table = lb._j_typed(con, stage)
    return Part(lines, at, typed, table, lb._decode)


def piece_parts(con: duckdb.DuckDBPyConnection, piece: pa.Array) -> list[Part]:
    """A piece of item lines (each ends in a newline) parsed and typed: pyarrow's ranges, then DuckDB's."""
    offsets = np.frombuffer(piece.buffers()[1], np.int32)[piece.offset : piece.offset + len(piece) + 1]
    ranges: list[tuple[int, int, pa.Table | None]] = []
    _ranges(piece.buffers()[2], offsets, 0, len(piece), ranges)
    # pyarrow reads Inf and -NaN in a field it is not asked for, where json.loads refuses the line: such lines go
    # to the DuckDB reader, which hands them to the row path
    spelled = vector.nan_inf(piece)
    odd = None if spelled is None else spelled.to_numpy(zero_copy_only=False)
    if len(ranges) == 1 and ranges[0][2] is not None and odd is None:
        part = _arrow_part(con, piece, ranges[0][2], None)
        return [part if part is not None else _duck_part(con, piece, None)]
    parts = []
    duck = [np.arange(a, b) for a, b, t in ranges if t is None]
    arrow_at: list[np.ndarray] = []
    tables: list[pa.Table] = []
    for a, b, t in ranges:
        if t is None:
            continue
        keep = np.ones(b - a, bool) if odd is None else ~odd[a:b]
        arrow_at.append(np.arange(a, b)[keep])
        if keep.all():
            tables.append(t)
        else:
            tables.append(t.filter(pa.array(keep)))
            duck.append(np.arange(a, b)[~keep])
    at = np.concatenate(arrow_at) if arrow_at else np.empty(0, np.int64)
    if len(at):
        part = _arrow_part(con, piece.take(pa.array(at, pa.int64())), pa.concat_tables(tables), at)
        if part is None:
            duck.append(at)
        else:
            parts.append(part)
    if duck:
        at = np.sort(np.concatenate(duck))
        parts.append(_duck_part(con, piece.take(pa.array(at, pa.int64())), at))
    return parts


def piece_chunk(parts: list[Part], done: int, ctx: ParseContext) -> UsageChunk:
    """Rows of a piece from its parts (records numbered from done + 1): bulk where vouched, else the row path."""
    chunks = []
    for part in parts:
        n = len(part.lines)
        first = np.arange(done + 1, done + 1 + n, dtype=np.int64) if part.at is None else part.at + (done + 1)
        chunks.append(lb.run_block(None, part.table, pa.array(first), ctx, _slow(part.lines, done), part.typed,
                                   part.decode))  # fmt: skip
    if len(chunks) == 1:
        return chunks[0]
    table = pa.concat_tables([c.table for c in chunks])
    table = table.take(pc.sort_indices(table.column("source_record")))
    errors = sorted((e for c in chunks for e in c.errors), key=lambda e: e.record)
    return UsageChunk(table, errors, sum(c.records for c in chunks))


def parse_json(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    """A JSON array with one item per line in bulk; anything else (pages, pretty-printed items, a line json.loads
    refuses) through the row path from the first record not yet yielded."""
    try:
        yield from _json_bulk(path, ctx)
        return
    except lb._Unvouched as exc:
        done = exc.args[0]
    yield from ls.row_chunks(((n, r) for n, r in ls._records(path, ctx.file_label) if n > done), ctx)


def _prepare(item: tuple[int, memoryview], ctx: ParseContext, con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """A block's lines and layout flags, its pieces parsed and typed (on the read-ahead thread, with its own DuckDB
    connection, while the main thread finishes the previous block)."""
    b = lb._json_block(item)
    if b is not None:
        lines = b["lines"]
        pieces = [lines.slice(at, ctx.chunk_rows) for at in range(0, len(lines), ctx.chunk_rows)]
        b["pieces"] = [(len(piece), piece_parts(con, piece)) for piece in pieces]
    return b


def _json_bulk(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    with open(path, "rb") as handle:
        start = handle.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if start[:1] != b"[":
        raise lb._Unvouched(0)
    con = vector.connect()
    layout = lb._Layout()
    done = 0
    blocks = lb._ahead(lb._mutable_blocks(path, lb._block_bytes(ctx)), lambda item: _prepare(item, ctx, con))
    try:
        for b in blocks:
            if b is None or not layout.check(b):
                raise lb._Unvouched(done)
            for n, parts in b["pieces"]:
                yield piece_chunk(parts, done, ctx)
                done += n
        if not layout.closed:
            raise lb._Unvouched(done)
    finally:
        blocks.close()  # waits for the read-ahead thread, which uses the connection
        con.close()
