"""litellm-spend JSON arrays laid out one item per line: pyarrow's JSON reader types the fields, DuckDB the rest.

The file is cut into blocks of whole lines (`litellm_bulk._json_block`: separators blanked, layout flags). A
piece of item lines is parsed by pyarrow against an explicit schema of the fields the row path reads. pyarrow is
strict where it matters: a field of another JSON type, a number outside int64, a repeated schema field (also when
written with escapes), trailing commas and other text json.loads refuses all fail the parse; a failing range is
split and the ranges that still fail go to the DuckDB reader (`litellm_bulk`), which vouches line by line. The
metadata and request_tags texts come from DuckDB's json_extract (pyarrow only checks their type and that they are
not repeated); their combinations are decoded as before (`litellm_bulk._decode`), so floats in them still go to
the row path. A spend is vouched for only where its double settles the stored value (as in `litellm_bulk`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

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
        # declared so that a repeated key (also one spelled with escapes) fails the parse; the texts come from DuckDB,
        # whose json_extract finds a key spelled with escapes as pyarrow does
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
  x[1] AS metadata, x[2] AS request_tags
FROM (SELECT *, json_extract(j, ['$."metadata"', '$."request_tags"']) AS x FROM items)
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
    """A combination as the row path reads the item: pyarrow's strings as they are, the JSON texts decoded."""
    item = {k: v for k, v in rep.items() if v is not None and k not in _JSON}
    texts = {k: rep[k] for k in _JSON if rep.get(k) is not None}
    decoded = lb._decode(texts) if texts else {}
    if decoded is None:
        return None
    item.update(decoded)
    return item


def _slow(piece: pa.Array, done: int) -> Any:
    def slow_item(i: int) -> Any:
        try:
            return json.loads(piece[i].as_py(), parse_float=Decimal)
        except ValueError:
            raise lb._Unvouched(done) from None

    return slow_item


def _arrow_chunk(
    con: duckdb.DuckDBPyConnection, lines: pa.Array, table: pa.Table, numbers: pa.Array, ctx: ParseContext, done: int
) -> UsageChunk | None:
    """Rows of lines pyarrow typed (`table`); None when DuckDB cannot read them (the DuckDB reader's lines)."""
    items = pa.table(
        {
            "j": lines,
            **{
                f: table.column(f)
                for f in ("request_id", "startTime", "endTime", "spend", "prompt_tokens", "completion_tokens")
            },
        }
    )
    con.register("items", vector.scan_batches(items))
    try:
        typed = con.sql(_SQL).to_arrow_table()
    except duckdb.Error:
        return None
    finally:
        con.unregister("items")
    combo = pa.table(
        {
            "api_key": table.column("api_key"),
            **{f: table.column(f) if f not in _JSON else typed.column(f) for f in lb.COMBO},
        }
    )
    return lb.run_block(con, combo, numbers, ctx, _slow(lines, done), typed.drop_columns(list(_JSON)), _decode)


def _duck_chunk(
    con: duckdb.DuckDBPyConnection, lines: pa.Array, numbers: pa.Array, ctx: ParseContext, done: int
) -> UsageChunk:
    """Rows of lines through the DuckDB reader (each line on its own)."""
    stage, _ok = lb._extract(con, lines, lb._odd(lines))
    typed, table = lb._j_typed(con, stage)
    return lb.run_block(con, table, numbers, ctx, _slow(lines, done), typed, lb._decode)


def _merge(chunks: list[UsageChunk]) -> UsageChunk:
    if len(chunks) == 1:
        return chunks[0]
    table = pa.concat_tables([c.table for c in chunks])
    table = table.take(pc.sort_indices(table.column("source_record")))
    errors = sorted((e for c in chunks for e in c.errors), key=lambda e: e.record)
    return UsageChunk(table, errors, sum(c.records for c in chunks))


def piece_ranges(piece: pa.Array) -> list[tuple[int, int, pa.Table | None]]:
    """`_ranges` over a piece of item lines (each ends in a newline)."""
    offsets = np.frombuffer(piece.buffers()[1], np.int32)[piece.offset : piece.offset + len(piece) + 1]
    ranges: list[tuple[int, int, pa.Table | None]] = []
    _ranges(piece.buffers()[2], offsets, 0, len(piece), ranges)
    return ranges


def piece_chunk(
    con: duckdb.DuckDBPyConnection,
    piece: pa.Array,
    done: int,
    ctx: ParseContext,
    ranges: list[tuple[int, int, pa.Table | None]] | None = None,
) -> UsageChunk:
    """Rows of a piece of item lines (`ranges`: its piece_ranges), records numbered from done + 1."""
    n = len(piece)
    numbers = pa.array(np.arange(done + 1, done + 1 + n, dtype=np.int64))
    if ranges is None:
        ranges = piece_ranges(piece)
    if len(ranges) == 1 and ranges[0][2] is not None:
        chunk = _arrow_chunk(con, piece, ranges[0][2], numbers, ctx, done)
        return chunk if chunk is not None else _duck_chunk(con, piece, numbers, ctx, done)
    arrow = [r for r in ranges if r[2] is not None]
    chunks = []
    duck_at = [np.arange(a, b) for a, b, t in ranges if t is None]
    if arrow:
        at = pa.array(np.concatenate([np.arange(a, b) for a, b, _t in arrow]), pa.int64())
        sub = piece.take(at)
        got = _arrow_chunk(con, sub, pa.concat_tables([t for _a, _b, t in arrow]), numbers.take(at), ctx, done)
        if got is None:
            duck_at += [np.arange(a, b) for a, b, _t in arrow]
        else:
            chunks.append(got)
    if duck_at:
        at = pa.array(np.sort(np.concatenate(duck_at)), pa.int64())
        chunks.append(_duck_chunk(con, piece.take(at), numbers.take(at), ctx, done))
    return _merge(chunks)


def parse_json(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    """A JSON array with one item per line in bulk; anything else (pages, pretty-printed items, a line json.loads
    refuses) through the row path from the first record not yet yielded."""
    try:
        yield from _json_bulk(path, ctx)
        return
    except lb._Unvouched as exc:
        done = exc.args[0]
    yield from ls.row_chunks(((n, r) for n, r in ls._records(path, ctx.file_label) if n > done), ctx)


def _prepare(item: tuple[int, memoryview], ctx: ParseContext) -> dict[str, Any] | None:
    """A block's lines and layout flags, its pieces already parsed (on the worker thread, while the previous block
    is typed)."""
    b = lb._json_block(item)
    if b is not None:
        lines = b["lines"]
        pieces = [lines.slice(at, ctx.chunk_rows) for at in range(0, len(lines), ctx.chunk_rows)]
        b["pieces"] = [(piece, piece_ranges(piece)) for piece in pieces]
    return b


def _json_bulk(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    with open(path, "rb") as handle:
        start = handle.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if start[:1] != b"[":
        raise lb._Unvouched(0)
    con = vector.connect()
    layout = lb._Layout()
    done = 0
    try:
        for b in lb._ahead(lb._mutable_blocks(path, lb._block_bytes(ctx)), lambda item: _prepare(item, ctx)):
            if b is None or not layout.check(b):
                raise lb._Unvouched(done)
            for piece, ranges in b["pieces"]:
                yield piece_chunk(con, piece, done, ctx, ranges)
                done += len(piece)
        if not layout.closed:
            raise lb._Unvouched(done)
    finally:
        con.close()
