"""The otel-genai bulk path: pyarrow's JSON reader types blocks of OTLP/JSON lines (one export document per line, as
the collector's file exporter writes them) against an explicit schema of the fields the row path reads; numpy and
pyarrow compute pivot the span attributes into columns and build the usage rows. Whatever it cannot vouch for goes
through the row path of `otel_genai`, so the output is the row path's, row for row and error for error.

Three levels of hand-over:
- a span whose values need the row path's judgement (a quarantine, a string stream flag, a token in an unusual
  spelling, a null span, a repeated attribute key...) is rebuilt from its typed columns, exactly as the row path
  would see the fields it reads, and goes through `otel_genai._row`;
- a line the schema cannot describe exactly goes through the row path whole: pyarrow refuses it (a field of
  another JSON type, a repeated key, a lone surrogate, a number outside int64...), it holds an AnyValue kind
  present with `null`, an escaped letter (a key could hide behind it), a doubleValue in a field that is read
  (the row path tells `5` from `5.0`), a nested array or kvlist where a value is read, or `success: false`;
- a line that is not one whole document (pretty-printed JSON, a document spanning lines, a line too long to hold)
  hands the rest of the file to the row path's streaming reader, from that line on.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import mmap
import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from costproof.model.errors import InputError, RowError
from costproof.model.sanitize import safe_name
from costproof.sources.usage import otel_genai as og
from costproof.sources.usage import vector
from costproof.sources.usage.base import (
    USAGE_SCHEMA,
    BadValue,
    ParseContext,
    RowBuilder,
    UsageChunk,
    _doc_items,
    _JsonStream,
    label_key,
    sanitize_table,
    to_table,
)

_S = pa.string()
_MAX_LINE = 256 << 20  # a longer line goes to the streaming row path (memory stays bounded)
# block size in bytes per ctx.chunk_rows row: parsed spans (nested attribute lists) take several times their text,
# so 40 MB blocks peaked at 1.7 GB in a 10M-span parse; 15 MB blocks at 1 GB, just as fast
_BYTES_PER_ROW = 150

# kinds of an AnyValue: the first key present, in the row path's order
NONE, STR, INT, DBL, BOOL, ARR, KVL = range(7)

# ---------------------------------------------------------------- attribute slots read by name
_SLOTS: dict[str, int] = {}
_GROUPS: dict[str, tuple[int, ...]] = {}


def _slots(group: str, keys: tuple[str, ...]) -> None:
    ids = []
    for key in keys:
        _SLOTS[key] = len(_SLOTS) + 1
        ids.append(_SLOTS[key])
    _GROUPS[group] = tuple(ids)


_slots("op", ("gen_ai.operation.name",))
_slots("req_model", ("gen_ai.request.model",))
_slots("resp_model", ("gen_ai.response.model",))
_slots("error_type", ("error.type",))
_slots("input", og._INPUT)
_slots("output", og._OUTPUT)
_slots("cache_read", og._CACHE_READ)
_slots("cache_write", og._CACHE_WRITE)
_slots("reasoning", og._REASONING)
_slots("audio_in", og._AUDIO_IN)
_slots("audio_out", og._AUDIO_OUT)
_slots("finish", ("gen_ai.response.finish_reasons",))
_slots("stream", og._STREAM)
_slots("cost", og._COST)
_slots("status", ("http.response.status_code",))
_slots("provider", ("gen_ai.provider.name", "gen_ai.system", "server.address"))
_NSLOTS = len(_SLOTS) + 1
_COST_SLOTS = frozenset(_GROUPS["cost"])
_TOKEN_GROUPS = ("input", "output", "cache_read", "cache_write", "reasoning", "audio_in", "audio_out")
_METER_OF = {"cache_read": "cached_input_tokens", "cache_write": "cache_write_tokens",
             "reasoning": "reasoning_tokens", "audio_in": "audio_input_tokens", "audio_out": "audio_output_tokens"}


@functools.lru_cache(maxsize=65536)
def _key_info(key: str) -> tuple[int, bool, bool]:
    """(slot, names a usage meter, can give a label) for one attribute key."""
    usage = key.startswith(("gen_ai.usage.", "llm.usage."))
    label = label_key(key) is not None or (
        key.startswith(og._LABEL_PREFIXES) and label_key(key.split(".")[-1]) is not None
    )
    return _SLOTS.get(key, 0), usage, label


# ---------------------------------------------------------------- schema (one per spelling of int64 values)
def _any_value(int_type: pa.DataType, depth: int) -> pa.DataType:
    nested: list[tuple[str, pa.DataType]]
    if depth == 0:
        nested = [("arrayValue", pa.struct([("values", pa.list_(_any_value(int_type, 1)))])),
                  ("kvlistValue", pa.struct([]))]
    else:
        nested = [("arrayValue", pa.struct([])), ("kvlistValue", pa.struct([]))]
    return pa.struct([("stringValue", _S), ("intValue", int_type), ("doubleValue", pa.decimal256(76, 30)),
                      ("boolValue", pa.bool_()), *nested])


@functools.lru_cache(maxsize=8)
def _options(variant: tuple[bool, bool, bool]) -> pajson.ParseOptions:
    """variant = (intValue is text, times are text, status code is text)."""
    int_type = _S if variant[0] else pa.int64()
    time_type = _S if variant[1] else pa.int64()
    attrs = pa.list_(pa.struct([("key", _S), ("value", _any_value(int_type, 0))]))
    span = pa.struct([("traceId", _S), ("spanId", _S), ("startTimeUnixNano", time_type),
                      ("endTimeUnixNano", time_type), ("attributes", attrs),
                      ("status", pa.struct([("code", _S if variant[2] else pa.int64())]))])
    scopes = pa.list_(pa.struct([("spans", pa.list_(span))]))
    item = pa.struct([("resource", pa.struct([("attributes", attrs)])), ("scopeSpans", scopes),
                      ("instrumentationLibrarySpans", scopes)])
    schema = pa.schema([("resourceSpans", pa.list_(item)), ("success", pa.bool_())])
    return pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=False)


_INT_TEXT = re.compile(rb'"intValue"\s*:\s*(["0-9-])')
_TIME_TEXT = re.compile(rb'"(?:start|end)TimeUnixNano"\s*:\s*(["0-9-])')
_CODE_TEXT = re.compile(rb'"code"\s*:\s*(["0-9-])')


def _variant(data: bytes, start: int, end: int) -> tuple[bool, bool, bool]:
    def text(pattern: re.Pattern[bytes], default: bool) -> bool:
        m = pattern.search(data, start, end)
        return default if m is None else m.group(1) == b'"'

    return text(_INT_TEXT, True), text(_TIME_TEXT, True), text(_CODE_TEXT, False)


# raw-text guard: an AnyValue kind present with null (the row path stops at it, pyarrow reads it as absent); an
# escaped character where a null stands could hide a key name, so such a line goes to the row path too
_KIND_NULL = re.compile(rb'"(?:stringValue|intValue|doubleValue|boolValue|arrayValue|kvlistValue)"\s*:\s*null')
_ESCAPED_LETTER = re.compile(rb"\\u00(?:4[1-9a-fA-F]|5[0-9aA]|6[1-9a-fA-F]|7[0-9aA])")


class _Block:
    """Whole non-blank lines of the file, read through a memory map: line i is data[starts[i]:ends[i]]."""

    def __init__(self, data: mmap.mmap, starts: list[int], ends: list[int], bom: bool) -> None:
        self.data, self.starts, self.ends, self.bom = data, starts, ends, bom

    def __len__(self) -> int:
        return len(self.starts)

    def line(self, i: int) -> bytes:
        return self.data[self.starts[i]:self.ends[i]]

    def text(self, at: list[int]) -> pa.Buffer:
        """The lines at `at` as newline-delimited JSON: a view of the map when they are all of the block."""
        if len(at) == len(self.starts):
            return pa.py_buffer(memoryview(self.data)[self.starts[0]:self.ends[-1]])
        return pa.py_buffer(b"\n".join(self.line(i) for i in at))

    def suspects(self) -> set[int]:
        first = self.starts[0]
        view = memoryview(self.data)[first:self.ends[-1]]
        offsets = pa.array(np.array([*self.starts, self.ends[-1]], np.int64) - first, pa.int64())
        arr = pa.Array.from_buffers(pa.large_binary(), len(self.starts), [None, offsets.buffers()[1],
                                                                          pa.py_buffer(view)])
        hits = np.flatnonzero(_np(pc.match_substring_regex(arr, "null")))
        out = set()
        try:  # pyarrow's reader takes invalid UTF-8 in strings; the row path does not
            arr.cast(pa.large_string())
        except pa.ArrowInvalid:
            for i in range(len(self.starts)):
                try:
                    self.line(i).decode("utf-8")
                except UnicodeDecodeError:
                    out.add(i)
        for i in hits.tolist():
            line = self.line(i)
            if _KIND_NULL.search(line) or _ESCAPED_LETTER.search(line):
                out.add(i)
        spelled = vector.nan_inf(arr)  # pyarrow takes Inf and -NaN as numbers, json.loads refuses them
        if spelled is not None:
            out.update(np.flatnonzero(_np(spelled)).tolist())
        return out

    def release(self) -> None:
        """Drop the block's pages from this process (they stay in the page cache): memory stays bounded."""
        page = mmap.PAGESIZE
        lo = self.starts[0] // page * page
        hi = self.ends[-1] // page * page
        if hi > lo and hasattr(self.data, "madvise"):
            with contextlib.suppress(OSError, ValueError):
                self.data.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


_BLANK = re.compile(rb"[ \t\r]*")


def _blocks(path: Path, size: int) -> Iterator[_Block | int]:
    """Blocks of about `size` bytes of whole non-blank lines; an int is the offset of a line too long to hold (the
    caller hands the rest of the file to the streaming row path)."""
    with open(path, "rb") as handle:
        total = os.fstat(handle.fileno()).st_size
        if not total:
            return
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    bom = data[:3] == b"\xef\xbb\xbf"
    pos = 0
    while pos < total:
        end = total
        if pos + size < total:
            window = min(total, pos + size + _MAX_LINE)
            nl = data.find(b"\n", pos + size - 1, window)
            if nl >= 0:
                end = nl + 1
            elif window < total:  # the line through pos + size is too long: stop before it
                end = data.rfind(b"\n", pos, pos + size) + 1 or pos
                if end == pos:
                    yield pos
                    return
        starts: list[int] = []
        ends: list[int] = []
        at = pos
        while at < end:
            stop = data.find(b"\n", at, end)
            if stop < 0:
                stop = end
            if stop - at > _MAX_LINE:
                if starts:
                    yield _Block(data, starts, ends, bom and starts[0] == 3)
                yield at
                return
            s = 3 if at == 0 and bom else at
            if _BLANK.match(data, s, stop).end() < stop:
                starts.append(s)
                ends.append(stop)
            at = stop + 1
        if starts:
            yield _Block(data, starts, ends, bom and starts[0] == 3)
        pos = end


_READ = pajson.ReadOptions(use_threads=True, block_size=4 << 20)


def _read(block: _Block, at: list[int], variant: tuple[bool, bool, bool]) -> pa.Table | None:
    longest = max(block.ends[i] - block.starts[i] for i in at)
    options = _READ if longest < (2 << 20) else pajson.ReadOptions(use_threads=True, block_size=2 * longest + 16)
    try:
        table = pajson.read_json(pa.BufferReader(block.text(at)), read_options=options,
                                 parse_options=_options(variant))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return table if table.num_rows == len(at) else None


def _parse(block: _Block, at: list[int]) -> tuple[list[tuple[list[int], tuple[bool, bool, bool], pa.Table]],
                                                  list[int]]:
    """Parse the lines `at`: ([(indices, variant, table)], indices pyarrow refused), splitting a refused piece."""
    if not at:
        return [], []
    first = at[0]
    variant = _variant(block.data, block.starts[first], block.ends[first])
    table = _read(block, at, variant)
    if table is not None:
        return [(at, variant, table)], []
    if len(at) == 1:
        return [], list(at)
    half = len(at) // 2
    a, fa = _parse(block, at[:half])
    b, fb = _parse(block, at[half:])
    return a + b, fa + fb


# ---------------------------------------------------------------- the row path on one line, and on the rest of a file
def _reject(number: int, exc: Exception) -> RowError:
    field_name, sep, reason = str(exc).partition(": ")
    if not sep or " " in field_name:
        field_name, reason = "record", str(exc)
    return RowError(number, field_name, reason)


class _Whole(Exception):
    """The line is not one whole document: the streaming row path takes over from it."""


def _line_rows(line: bytes, ctx: ParseContext, items: int) -> tuple[list[dict[str, Any]], list[RowError], int, int]:
    """The row path over one line: (rows, errors, spans, resourceSpans items), span numbers from 1."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise _Whole from None
    stream = _JsonStream(io.StringIO(text), ctx.file_label)
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    number = 0
    count = items
    try:
        while stream.peek():
            for rs in _doc_items(stream, ctx.file_label, og.PATHS, count):
                count += 1
                if not isinstance(rs, dict):
                    continue
                resource, labels = og.resource_context(rs)
                for scope in og.scope_list(rs):
                    for span in og.span_list(scope):
                        number += 1
                        try:
                            row = og._row(span, resource, labels, ctx)
                        except BadValue as exc:
                            errors.append(_reject(number, exc))
                        else:
                            if row is not None:
                                row["source_record"] = number
                                rows.append(row)
    except InputError:
        raise _Whole from None
    return rows, errors, number, count - items


def _stream_from(path: Path, offset: int, ctx: ParseContext, number: int, items: int) -> Iterator[UsageChunk]:
    """The row path's streaming reader from a byte offset (span and item counts carried on)."""
    label = ctx.file_label
    builder = RowBuilder(ctx)
    try:
        with open(path, "rb") as raw:
            raw.seek(offset)
            handle = io.TextIOWrapper(raw, encoding="utf-8-sig" if offset == 0 else "utf-8", errors="strict")
            stream = _JsonStream(handle, label)

            def items_from() -> Iterator[Any]:
                count = items
                while stream.peek():
                    for item in _doc_items(stream, label, og.PATHS, count):
                        count += 1
                        yield item

            for _ in og.rows_from_items(items_from(), number, builder, ctx):
                yield builder.flush()
    except UnicodeDecodeError:
        _replay(path, ctx)
    yield from builder.drain()


def _replay(path: Path, ctx: ParseContext) -> None:
    """Undecodable text: the row path over the whole file names the error exactly as it would."""
    for _ in og.parse_rows(path, ctx):
        pass
    raise InputError("not UTF-8 text", file=ctx.file_label)  # pragma: no cover - the row path raises first


# ---------------------------------------------------------------- the bulk path
def parse(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    """Blocks are read, parsed and pivoted on a worker thread one block ahead of the rows being built."""
    worker_con = duckdb.connect()  # used by the worker thread only
    worker_con.execute("SET enable_progress_bar = false")
    worker_con.execute("SET preserve_insertion_order = true")  # record ids are read back in row order
    number = items = 0
    any_line = False
    pending: Future[_Prepared] | None = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otel-bulk")
    try:
        for block in itertools.chain(_blocks(path, max(1, ctx.chunk_rows) * _BYTES_PER_ROW), [None]):
            ahead = pool.submit(_prepare, block, ctx, worker_con) if isinstance(block, _Block) else None
            if pending is not None:
                prepared = pending.result()
                any_line = True
                chunk, number, items, cut = _block(prepared, ctx, number, items)
                prepared.block.release()
                yield from _pieces(chunk, max(1, ctx.chunk_rows))
                if cut is not None:
                    if ahead is not None:
                        ahead.cancel()
                    yield from _stream_from(path, cut, ctx, number, items)
                    return
            pending = ahead
            if isinstance(block, int):
                yield from _stream_from(path, block, ctx, number, items)
                return
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        worker_con.close()
    if not any_line:
        raise InputError("the file is empty", file=ctx.file_label)


def _pieces(chunk: UsageChunk, size: int) -> Iterator[UsageChunk]:
    """A block's chunk as chunks of at most `size` rows (its quarantine rides with the first)."""
    table = chunk.table
    if table.num_rows <= size:
        if chunk.records:
            yield chunk
        return
    for start in range(0, table.num_rows, size):
        piece = table.slice(start, size)
        errors = chunk.errors if start == 0 else []
        yield UsageChunk(piece, errors, piece.num_rows + len(errors))


class _Prepared:
    """A block parsed and pivoted (the worker's part)."""

    def __init__(self, block: _Block, results: list[_Bulk], slow: set[int]) -> None:
        self.block, self.results, self.slow = block, results, slow


def _prepare(block: _Block, ctx: ParseContext, con: duckdb.DuckDBPyConnection) -> _Prepared:
    parsed, refused = _parse(block, list(range(len(block))))
    slow = block.suspects() | set(refused)
    results = []
    for idx, variant, table in parsed:  # one piece per table: joining its chunks costs little, per-piece work more
        results.append(_Bulk(idx, variant, table.column("resourceSpans").combine_chunks(),
                             table.column("success").combine_chunks(), ctx))
    for r in results:
        slow |= r.line_fallback
    # record ids of every span (those of spans the row path takes are not used)
    if results:
        ids = _record_ids(con, pa.concat_arrays([_ascii_lower(r.trace) for r in results]),
                          pa.concat_arrays([_ascii_lower(r.span_id) for r in results]))
        first = 0
        for r in results:
            r.ids = ids.slice(first, len(r.spans))
            first += len(r.spans)
    return _Prepared(block, results, slow)


def _block(prepared: _Prepared, ctx: ParseContext, number: int,
           items: int) -> tuple[UsageChunk, int, int, int | None]:
    """One block of lines: (chunk, spans so far, items so far, offset where the streaming row path takes over)."""
    block, results, slow = prepared.block, prepared.results, prepared.slow
    n = len(block)
    # the row path for whole lines, in order; the first line that is not one document stops the block there
    line_out: dict[int, tuple[list[dict[str, Any]], list[RowError], int, int]] = {}
    spans_of = np.zeros(n, np.int64)
    items_of = np.zeros(n, np.int64)
    for r in results:
        spans_of[r.lines] = r.spans_per_line
        items_of[r.lines] = r.items_per_line
    cut: int | None = None
    stop = n
    for i in sorted(slow):
        try:
            out = _line_rows(block.line(i), ctx, items + int(items_of[:i].sum()))
        except _Whole:
            cut, stop = block.starts[i] - (3 if block.bom and i == 0 else 0), i
            break
        line_out[i] = out
        spans_of[i], items_of[i] = out[2], out[3]
    base = number + np.concatenate([[0], np.cumsum(spans_of)])[:n]  # span number before each line
    parts: list[pa.Table] = []
    errors: list[RowError] = []
    rows: list[dict[str, Any]] = []
    for r in results:
        table, errs, extra = r.finish(base, stop, slow)
        if table is not None and table.num_rows:
            parts.append(table)
        errors += errs
        rows += extra
    for i, (lrows, lerrs, _, _) in line_out.items():
        first = int(base[i])
        for row in lrows:
            row["source_record"] += first
        rows += lrows
        errors += [RowError(e.record + first, e.field, e.reason) for e in lerrs]
    if rows:
        parts.append(sanitize_table(to_table(rows), ctx.secret_pattern))
    table = pa.concat_tables(parts) if parts else USAGE_SCHEMA.empty_table()
    if rows and len(parts) > 1:  # the bulk parts are in record order; rows from the row path are merged in
        table = table.take(pc.sort_indices(table.column("source_record")))
    errors.sort(key=lambda e: e.record)
    number = int(base[stop - 1] + spans_of[stop - 1]) if stop else number
    items += int(items_of[:stop].sum())
    return UsageChunk(table, errors, table.num_rows + len(errors)), number, items, cut


def _scopes(scope_spans: pa.Array, ils: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The row path's `scopeSpans or instrumentationLibrarySpans`: (scopes, item of each scope)."""
    use_ils = _np(pc.fill_null(pc.less_equal(pc.list_value_length(scope_spans), 0), True))
    use_ils &= _np(pc.fill_null(pc.greater(pc.list_value_length(ils), 0), False))
    scopes = scope_spans.flatten()
    owner = _np(pc.list_parent_indices(scope_spans)).astype(np.int64)
    if not use_ils.any():
        return scopes, owner
    other = ils.flatten()
    other_owner = _np(pc.list_parent_indices(ils)).astype(np.int64)
    keep_other = use_ils[other_owner]
    merged = pa.concat_arrays([scopes, other.filter(pa.array(keep_other))])
    owners = np.concatenate([owner, other_owner[keep_other]])
    order = np.argsort(owners, kind="stable")
    return merged.take(pa.array(order)), owners[order]


def _digits(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(value, readable) of texts the row path's read_int takes as they are: ASCII digits within int64."""
    decimal = pc.ascii_is_decimal(text)
    if decimal.null_count == 0 and pc.all(decimal).as_py():
        with contextlib.suppress(pa.ArrowInvalid):  # beyond int64: see below
            return _np(pc.cast(text, pa.int64())), np.ones(len(text), bool)
    size = pc.binary_length(text)
    good = pc.and_(decimal, pc.or_(pc.less_equal(size, 18), pc.and_(
        pc.equal(size, 19), pc.less_equal(text, "9223372036854775807"))))
    good_np = _np(pc.fill_null(good, False))
    nums = pc.cast(pc.if_else(pa.array(good_np), text, pa.scalar(None, _S)), pa.int64())
    return _np(nums.fill_null(0)), good_np


def _np(arr: pa.Array) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _valid(arr: pa.Array) -> np.ndarray:
    return _np(arr.is_valid())


def _take(arr: pa.Array, idx: np.ndarray) -> pa.Array:
    """arr[idx] with null where idx < 0."""
    return arr.take(pa.array(idx, mask=idx < 0))


class _Bulk:
    """One parsed piece of a block: lines `lines` (block indices) read with one schema variant."""

    def __init__(self, lines: list[int], variant: tuple[bool, bool, bool], docs: pa.Array, success: pa.Array,
                 ctx: ParseContext):
        self.lines = np.asarray(lines, np.int64)
        self.variant = variant
        self.ids: pa.Array = pa.array([], _S)  # set by _prepare: the record id of every span
        self.ctx = ctx
        nl = len(lines)
        fallback = np.zeros(nl, bool)
        fallback |= ~_valid(docs)
        fallback |= _np(pc.fill_null(pc.equal(success, False), False))
        self.items_per_line = _np(pc.fill_null(pc.list_value_length(docs), 0)).astype(np.int64)
        items = docs.flatten()
        item_line = _np(pc.list_parent_indices(docs)).astype(np.int64)
        resource, scope_spans, ils = items.flatten()
        scopes, scope_item = _scopes(scope_spans, ils)
        span_lists = scopes.flatten()[0]
        spans = span_lists.flatten()
        span_item = scope_item[_np(pc.list_parent_indices(span_lists)).astype(np.int64)]
        span_line = item_line[span_item]
        ns = len(spans)
        self.span_line = span_line
        self.spans_per_line = np.bincount(span_line, minlength=nl).astype(np.int64)
        self.spans = spans
        # resource attributes: few items, read in Python (as the row path would see them)
        res_id, self.res_labels, bad_items = _resources(resource.flatten()[0], variant)
        for j in bad_items:
            fallback[item_line[j]] = True
        span_res = res_id[span_item]
        trace, span_id, start, end, attributes, status = spans.flatten()
        code = status.flatten()[0]
        attrs = attributes.flatten()
        attr_span = _np(pc.list_parent_indices(attributes)).astype(np.int64)
        keys, values = attrs.flatten()
        sv, iv, dv, bv, av, kv = values.flatten()
        kind = np.select([_valid(sv), _valid(iv), _valid(dv), _valid(bv), _valid(av), _valid(kv)],
                         [STR, INT, DBL, BOOL, ARR, KVL], NONE).astype(np.int8)
        enc = pc.dictionary_encode(keys)
        info = [_key_info(k) for k in enc.dictionary.to_pylist()]
        key_idx = _np(enc.indices.fill_null(-1)).astype(np.int64)
        has_key = key_idx >= 0
        lut_slot = np.array([s for s, _, _ in info] + [0], np.int8)
        lut_usage = np.array([u for _, u, _ in info] + [False], bool)
        lut_label = np.array([lb for _, _, lb in info] + [False], bool)
        slot = lut_slot[key_idx]
        is_usage = lut_usage[key_idx] & has_key
        is_label = lut_label[key_idx] & has_key
        # arrays: an element that is itself a double, array or kvlist is not read here
        elems_list = av.flatten()[0]
        elems = elems_list.flatten()
        elem_attr = _np(pc.list_parent_indices(elems_list)).astype(np.int64)
        esv, eiv, edv, ebv, eav, ekv = elems.flatten()
        complex_el = _valid(edv) | _valid(eav) | _valid(ekv)
        complex_el &= ~(_valid(esv) | _valid(eiv))  # an earlier kind wins
        complex_el &= ~_valid(ebv) | _valid(edv)
        arr_complex = np.zeros(len(attrs), bool)
        arr_complex[elem_attr[complex_el]] = True
        partial_el = _np(pc.fill_null(pc.is_in(esv, value_set=_PARTIAL), False))
        if variant[0]:
            partial_el |= ~_valid(esv) & _np(pc.fill_null(pc.is_in(eiv, value_set=_PARTIAL), False))
        arr_partial = np.zeros(len(attrs), bool)
        arr_partial[elem_attr[partial_el]] = True
        arr_len = _np(pc.fill_null(pc.list_value_length(elems_list), 0)).astype(np.int64)
        # a value read here that the row path would see differently than this schema keeps it: the whole line
        nested = (kind == KVL) | ((kind == ARR) & arr_complex)
        read = slot > 0
        cost_slot = np.isin(slot, list(_COST_SLOTS))
        bad = (read & ~cost_slot & ((kind == DBL) | nested)) | (cost_slot & nested) | (is_label & (kind == DBL))
        # a cost that does not fit DECIMAL(38, 12): the row path quotes it as written
        cost_rows = np.flatnonzero(cost_slot & (kind == DBL))
        if len(cost_rows):
            c = dv.take(pa.array(cost_rows))
            fits = pc.equal(pc.cast(pc.cast(c, pa.decimal128(38, 12), safe=False), pa.decimal256(76, 30)), c)
            bad[cost_rows[~_np(pc.fill_null(fits, False))]] = True
        if bad.any():
            fallback[span_line[attr_span[bad]]] = True
        self.line_fallback = set(self.lines[fallback].tolist())
        self.fallback_lines = fallback
        # pivot: per span and slot, the row of that attribute (-1: absent)
        span_fb = np.zeros(ns, bool)  # spans for the row path
        span_fb |= ~_valid(spans)
        counts = np.bincount(slot, minlength=_NSLOTS)
        self.at: dict[int, np.ndarray] = {}
        for s in range(1, _NSLOTS):
            if not counts[s]:
                continue
            rows_s = np.flatnonzero(slot == s)
            owner = attr_span[rows_s]
            if len(owner) > 1:
                dup = owner[1:] == owner[:-1]
                if dup.any():
                    span_fb[owner[1:][dup]] = True
            idx = np.full(ns, -1, np.int64)
            idx[owner] = rows_s
            self.at[s] = idx
        self.kind = kind
        self.sv, self.iv, self.dv, self.bv = sv, iv, dv, bv
        self.arr_len, self.arr_partial = arr_len, arr_partial
        self.trace, self.span_id, self.start, self.end, self.code = trace, span_id, start, end, code
        self.span_res = span_res
        self.span_fb = span_fb
        has_usage = np.zeros(ns, bool)
        has_usage[attr_span[is_usage]] = True
        self.has_usage = has_usage
        self.label_sig = _label_signatures(keys, kind, sv, iv, bv, attr_span, is_label, ns, variant, span_fb)

    # -------------------------------------------------------------- per-span helpers
    def _kind(self, s: int) -> np.ndarray:
        idx = self.at.get(s)
        if idx is None:
            return np.zeros(len(self.spans), np.int8)
        return np.where(idx >= 0, self.kind[np.maximum(idx, 0)], NONE).astype(np.int8)

    def _text(self, s: int) -> pa.Array:
        """The slot's value as text where it is a string (or an int64 spelled as text), null elsewhere."""
        idx = self.at.get(s)
        if idx is None:
            return pa.nulls(len(self.spans), _S)
        kind = self._kind(s)
        has_int = self.variant[0] and bool((kind == INT).any())
        if not (kind == STR).any():
            return _take(self.iv, idx) if has_int else pa.nulls(len(self.spans), _S)
        out = _take(self.sv, idx)
        return pc.coalesce(out, _take(self.iv, idx)) if has_int else out

    def _int(self, group: str, fb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The row path's `_int` over aliases: (value, present); spans it cannot read are marked in `fb`."""
        ns = len(self.spans)
        value = np.zeros(ns, np.int64)
        present = np.zeros(ns, bool)
        decided = np.zeros(ns, bool)
        for s in _GROUPS[group]:
            if s not in self.at:
                continue
            k = self._kind(s)
            here = ~decided & (k != NONE)
            if not here.any():
                continue
            decided |= here
            text_kind = (k == STR) | ((k == INT) & self.variant[0])
            ok = np.zeros(ns, bool)
            if text_kind.any():
                text = self._text(s)
                nums, good = _digits(text)
                good &= text_kind
                value = np.where(here & good, nums, value)
                ok |= good
            if not self.variant[0] and (k == INT).any():
                ints = _np(_take(self.iv, self.at[s]).fill_null(-1))
                good = (k == INT) & (ints >= 0)
                value = np.where(here & good, ints, value)
                ok |= good
            fb |= here & ~ok
            present |= here & ok
        return value, present

    def _time(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(value, present, readable) of a time field typed by the variant."""
        present = _valid(arr)
        if self.variant[1]:
            nums, good = _digits(arr)
            return nums, present, good | ~present
        nums = _np(arr.fill_null(0))
        return nums, present, ~present | (nums >= 0)

    # -------------------------------------------------------------- rows
    def finish(self, base: np.ndarray, stop: int,
               slow: set[int]) -> tuple[pa.Table | None, list[RowError], list[dict[str, Any]]]:
        ctx = self.ctx
        ns = len(self.spans)
        span_block_line = self.lines[self.span_line]
        keep = ~np.isin(span_block_line, list(slow)) & (span_block_line < stop) if slow else span_block_line < stop
        # local span numbers: base of the line + index within the line
        first_of_line = np.concatenate([[0], np.cumsum(self.spans_per_line)])[:-1]
        local = np.arange(ns, dtype=np.int64) - first_of_line[self.span_line] + 1
        numbers = base[span_block_line] + local
        fb = self.span_fb.copy()
        kinds = {s: self._kind(s) for s in self.at}

        def k(s: int) -> np.ndarray:
            return kinds.get(s, np.zeros(ns, np.int8))

        def simple_text(group: str) -> None:
            for s in _GROUPS[group]:
                fb[(k(s) != NONE) & (k(s) != STR)] = True

        for group in ("op", "req_model", "resp_model", "error_type", "provider"):
            simple_text(group)
        op = pc.fill_null(self._text(_SLOTS["gen_ai.operation.name"]) if _SLOTS["gen_ai.operation.name"] in self.at
                          else pa.nulls(ns, _S), "")
        op_np_empty = _np(pc.equal(op, ""))
        has_req_key = self.at.get(_GROUPS["req_model"][0], np.full(ns, -1)) >= 0
        skip = _np(pc.is_in(op, value_set=pa.array(og.NON_INFERENCE_OPS))) | (
            op_np_empty & ~self.has_usage & ~has_req_key)
        skip &= ~fb  # a span the row path reads decides for itself
        # identity and times
        span_id = self.span_id
        fb |= ~_np(pc.fill_null(pc.and_(pc.not_equal(span_id, ""), pc.string_is_ascii(span_id)), False))
        fb |= ~_np(pc.fill_null(pc.string_is_ascii(self.trace), True))
        start, start_present, start_ok = self._time(self.start)
        end, end_present, end_ok = self._time(self.end)
        fb |= ~start_present | ~start_ok | ~end_ok | (end_present & (end < start))
        # model, failure
        error_type = pc.fill_null(self._text(_GROUPS["error_type"][0]), "")
        code = self.code
        if self.variant[2]:
            code_err = pc.fill_null(pc.is_in(code, value_set=pa.array(["2", "STATUS_CODE_ERROR"])), False)
        else:
            code_err = pc.fill_null(pc.equal(code, 2), False)
        failed = _np(pc.not_equal(error_type, "")) | _np(code_err)
        resp = self._text(_GROUPS["resp_model"][0])
        req = self._text(_GROUPS["req_model"][0])
        raw_model = pc.coalesce(pc.if_else(pc.fill_null(pc.not_equal(resp, ""), False), resp, req), "")
        model = _map_text(raw_model, str.strip)
        fb |= _np(pc.equal(model, "")) & ~failed
        # tokens
        vals: dict[str, np.ndarray] = {}
        pres: dict[str, np.ndarray] = {}
        for group in _TOKEN_GROUPS:
            vals[group], pres[group] = self._int(group, fb)
        reported = pres["input"] | pres["output"]
        for group in _TOKEN_GROUPS:  # int64 sums below cannot overflow under 2**62 (the row path's ints never do)
            fb |= vals[group] >= 2**62
        uncached = vals["input"] - vals["cache_read"] - vals["cache_write"] - vals["audio_in"]
        text_out = vals["output"] - vals["reasoning"] - vals["audio_out"]
        fb |= reported & ((uncached < 0) | (text_out < 0))
        # finish reasons: how many, and whether one says the answer was cut
        fs = _GROUPS["finish"][0]
        fk = k(fs)
        n_reasons = np.zeros(ns, np.int64)
        partial = np.zeros(ns, bool)
        if fs in self.at:
            idx = np.maximum(self.at[fs], 0)
            text = self._text(fs)
            text_kind = (fk == STR) | ((fk == INT) & self.variant[0])
            nonempty = _np(pc.fill_null(pc.not_equal(text, ""), False))
            n_reasons = np.where(text_kind, nonempty.astype(np.int64), n_reasons)
            partial |= text_kind & _np(pc.fill_null(pc.is_in(text, value_set=_PARTIAL), False))
            if not self.variant[0]:
                ints = _np(_take(self.iv, self.at[fs]).fill_null(0))
                n_reasons = np.where(fk == INT, (ints != 0).astype(np.int64), n_reasons)
            bools = _np(_take(self.bv, self.at[fs]).fill_null(False))
            n_reasons = np.where(fk == BOOL, bools.astype(np.int64), n_reasons)
            n_reasons = np.where(fk == ARR, self.arr_len[idx], n_reasons)
            partial |= (fk == ARR) & self.arr_partial[idx]
            fb |= (fk == DBL) | (fk == KVL)
        # stream flag: a boolean, or the row path
        is_stream = np.zeros(ns, bool)
        decided = np.zeros(ns, bool)
        for s in _GROUPS["stream"]:
            if s not in self.at:
                continue
            ks = k(s)
            here = ~decided & (ks != NONE)
            decided |= here
            fb |= here & (ks != BOOL)
            is_stream |= here & (ks == BOOL) & _np(_take(self.bv, self.at[s]).fill_null(False))
        # cost: a doubleValue that fits DECIMAL(38, 12), or the row path
        cost = pa.nulls(ns, pa.decimal256(76, 30))
        decided = np.zeros(ns, bool)
        for s in _GROUPS["cost"]:
            if s not in self.at:
                continue
            ks = k(s)
            here = ~decided & (ks != NONE)
            decided |= here
            fb |= here & (ks != DBL)
            take = here & (ks == DBL)
            if take.any():
                cost = pc.if_else(pa.array(take), _take(self.dv, self.at[s]), cost)
        cost128 = pc.cast(cost, pa.decimal128(38, 12), safe=False)
        # status code: the attribute, else a three-digit error.type
        status = np.full(ns, -1, np.int64)
        ss = _GROUPS["status"][0]
        if ss in self.at:
            sk = k(ss)
            text = self._text(ss)
            text_kind = (sk == STR) | ((sk == INT) & self.variant[0])
            nums, good = _digits(text)
            good &= text_kind
            status = np.where(good, nums, status)
            ok = good | (sk == NONE)
            if not self.variant[0]:
                ints = _np(_take(self.iv, self.at[ss]).fill_null(-1))
                status = np.where((sk == INT) & (ints >= 0), ints, status)
                ok |= (sk == INT) & (ints >= 0)
            fb |= ~ok
        from_error = _np(_map_text(error_type, _error_status, pa.int64()).fill_null(-1))
        status = np.where(status < 0, from_error, status)
        # provider: the first non-empty of three attributes
        provider = pa.nulls(ns, _S)
        for s in reversed(_GROUPS["provider"]):
            if s in self.at:
                t = self._text(s)
                provider = pc.if_else(pc.fill_null(pc.not_equal(t, ""), False), t, provider)
        # the row path decides for what is left unsure; skipped spans give nothing
        fb &= ~skip
        fb &= keep
        good = keep & ~skip & ~fb
        extra: list[dict[str, Any]] = []
        errors: list[RowError] = []
        for i in np.flatnonzero(fb).tolist():
            out = self._slow_row(i)
            number = int(numbers[i])
            if isinstance(out, BadValue):
                errors.append(_reject(number, out))
            elif out is not None:
                out["source_record"] = number
                extra.append(out)
        if not good.any():
            return None, errors, extra
        every = bool(good.all())
        mask = pa.array(good)

        def pick(arr: pa.Array) -> pa.Array:
            return arr if every else arr.filter(mask)

        m = int(good.sum())
        failed_g = failed[good]
        reported_g = reported[good]
        stream_g = is_stream[good]
        partial_g = partial[good] | (stream_g & ~failed_g & (~reported_g | (n_reasons[good] == 0)))
        # labels: per distinct (resource, span label attributes)
        labels = _label_columns(self.span_res[good], pick(self.label_sig), self.res_labels, ctx)

        def meter(values: np.ndarray) -> pa.Array:
            return pa.array(values[good], pa.int64(), mask=~reported_g)

        status_g = status[good]
        status_arr = pa.array(status_g, pa.int64(), mask=status_g < 0)
        cost_g = pick(cost128)
        ids = pick(self.ids)
        op_g = pick(op)
        model_g = pick(model)
        cols: dict[str, pa.Array] = {
            "record_id": ids,
            "import_id": pa.nulls(m, _S),
            "source_record": pa.array(numbers[good], pa.int64()),
            "record_kind": pc.if_else(pa.array(failed_g), "error", "consume"),
            "occurred_at": pa.array(start[good] // 1000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "original_offset": pa.repeat(pa.scalar("Z", _S), m),
            "provider": pick(provider),
            "model_reported": pc.if_else(pc.equal(model_g, ""), pa.scalar(None, _S), model_g),
            "route_family": pc.if_else(pc.equal(op_g, ""), pa.scalar(None, _S), op_g),
            "request_id": pa.nulls(m, _S),
            "status_code": status_arr,
            "status_class": pc.if_else(status_arr.is_null(), "", pc.binary_join_element_wise(
                pc.cast(pc.divide(status_arr, 100), _S), "xx", "")),
            "attempt": pa.repeat(pa.scalar(1, pa.int64()), m),
            "is_retry": pa.repeat(pa.scalar(False), m),
            "is_stream": pa.array(stream_g),
            "is_partial": pa.array(partial_g),
            **labels,
            "pricing_group": pa.nulls(m, _S),
            "input_tokens": meter(uncached),
            "cached_input_tokens": meter(vals["cache_read"]),
            "cache_write_tokens": meter(vals["cache_write"]),
            "output_tokens": meter(text_out),
            "reasoning_tokens": meter(vals["reasoning"]),
            "audio_input_tokens": meter(vals["audio_in"]),
            "audio_output_tokens": meter(vals["audio_out"]),
            "images": pa.nulls(m, pa.int64()),
            "requests": pa.array(np.where(failed_g, 0, 1).astype(np.int64)),
            "seconds": pa.nulls(m, pa.int64()),
            "provider_reported_cost": cost_g,
            "provider_reported_currency": pc.if_else(cost_g.is_null(), pa.scalar(None, _S), "USD"),
            "provider_ratios": pa.nulls(m, _S),
            "usage_origin": pc.if_else(pa.array(reported_g), "reported", "missing"),
        }
        table = pa.table({name: cols[name] for name in USAGE_SCHEMA.names}).cast(USAGE_SCHEMA)
        return sanitize_table(table, ctx.secret_pattern), errors, extra

    def _slow_row(self, i: int) -> dict[str, Any] | BadValue | None:
        """The row path on span i, rebuilt as the row path would read it."""
        span = self.spans[i].as_py()
        if span is not None:
            span["attributes"] = [
                {"key": a["key"], "value": _rebuild(a["value"])} if isinstance(a, dict) else a
                for a in span.get("attributes") or []
            ]
        res_labels = self.res_labels[int(self.span_res[i])]
        try:
            return og._row(span, {}, dict(res_labels), self.ctx)
        except BadValue as exc:
            return exc


_PARTIAL = pa.array(og._PARTIAL_REASONS)


def _rebuild(value: dict[str, Any] | None) -> Any:
    """An AnyValue as the row path would have read it, from its typed form (the first kind present)."""
    if value is None:
        return None
    for kind in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if value.get(kind) is not None:
            if kind == "doubleValue" and og.fits_money(value[kind]):  # read as a cost: the value, at 12 places
                return {kind: value[kind].quantize(og._MONEY, context=og._MONEY_CONTEXT)}
            return {kind: value[kind]}
    arr = value.get("arrayValue")
    if arr is not None:
        elems = arr.get("values") if isinstance(arr, dict) else None
        return {"arrayValue": {"values": [_rebuild(e) for e in elems or []]}}
    if value.get("kvlistValue") is not None:
        return {"kvlistValue": {"values": []}}
    return {}


def _resources(res_attrs: pa.Array, variant: tuple[bool, bool, bool]) -> tuple[np.ndarray, list[dict[str, str]],
                                                                                 list[int]]:
    """Per resourceSpans item: index of its labels (distinct), the labels, and items the row path must read.

    Only the attributes that can give a label, and service.name, decide; they are read in Python once per distinct
    (key, kind, value) list."""
    n = len(res_attrs)
    attrs = res_attrs.flatten()
    owner = _np(pc.list_parent_indices(res_attrs)).astype(np.int64)
    keys, values = attrs.flatten()
    sv, iv, dv, bv, av, kv = values.flatten()
    kind = np.select([_valid(sv), _valid(iv), _valid(dv), _valid(bv), _valid(av), _valid(kv)],
                     [STR, INT, DBL, BOOL, ARR, KVL], NONE).astype(np.int8)
    enc = pc.dictionary_encode(keys)
    names = enc.dictionary.to_pylist()
    key_idx = _np(enc.indices.fill_null(-1)).astype(np.int64)
    lut_svc = np.array([k == "service.name" for k in names] + [False], bool)
    lut_rel = np.array([k == "service.name" or _key_info(k)[2] for k in names] + [False], bool)
    rel = lut_rel[key_idx]
    svc = lut_svc[key_idx]
    bad = np.zeros(n, bool)
    # a double (the row path tells 5 from 5.0) or a service.name that is a list or map: the row path reads it
    unsure = rel & ((kind == DBL) | (svc & ((kind == ARR) | (kind == KVL))))
    bad[owner[unsure]] = True
    sig = _label_signatures(keys, kind, sv, iv, bv, owner, rel, n, variant, bad)
    by_sig = pc.dictionary_encode(sig)
    labels = [og.resource_context({"resource": {"attributes": _unsign(text)}})[1]
              for text in by_sig.dictionary.to_pylist()]
    return _np(by_sig.indices).astype(np.int64), labels or [{}], np.flatnonzero(bad).tolist()


def _label_signatures(keys: pa.Array, kind: np.ndarray, sv: pa.Array, iv: pa.Array, bv: pa.Array,
                      attr_span: np.ndarray, is_label: np.ndarray, ns: int, variant: tuple[bool, bool, bool],
                      span_fb: np.ndarray) -> pa.Array:
    """Per span, the attributes that can give a label as one text (key, kind, value), "" when none."""
    rows = np.flatnonzero(is_label)
    if not len(rows):
        return pa.repeat(pa.scalar("", _S), ns)
    sel = pa.array(rows)
    k = np.where((kind[rows] == INT) & (not variant[0]), _INT_NUMBER, kind[rows])
    text = pc.cast(iv.take(sel), _S) if not variant[0] else iv.take(sel)
    text = pc.coalesce(sv.take(sel), text, pc.if_else(bv.take(sel), "1", "0"), "")
    token = pc.binary_join_element_wise(keys.take(sel), pa.array(k.astype(np.int64)).cast(_S), text, "\x1e")
    bad = _np(pc.fill_null(pc.or_(pc.match_substring(token, "\x1d"), pc.not_equal(pc.count_substring(token, "\x1e"),
                                                                                   2)), True))
    if bad.any():
        span_fb[attr_span[rows[bad]]] = True
    counts = np.bincount(attr_span[rows], minlength=ns)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), token), "\x1d")


def _label_columns(span_res: np.ndarray, sig: pa.Array, res_labels: list[dict[str, str]],
                   ctx: ParseContext) -> dict[str, pa.Array]:
    """environment / api_key_name / cost_center / project / customer / workflow columns, per distinct pair."""
    enc = pc.dictionary_encode(sig)
    sigs = enc.dictionary.to_pylist()
    pair = span_res * len(sigs) + _np(enc.indices).astype(np.int64)
    uniq, inverse = np.unique(pair, return_inverse=True)
    names = ("environment", "api_key_name", "cost_center", "project", "customer", "workflow")
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    span_labels: dict[int, dict[str, str]] = {}
    for p in uniq.tolist():
        r, s = divmod(p, len(sigs))
        if s not in span_labels:
            span_labels[s] = og._labels(og._attrs(_unsign(sigs[s])))
        labels = {**res_labels[r], **span_labels[s]}
        key_name = safe_name(labels.pop("api_key_name", None), ctx.secret_pattern)
        cols["api_key_name"].append(key_name or None)
        for n in names:
            if n != "api_key_name":
                cols[n].append(labels.get(n))
    idx = pa.array(inverse.reshape(-1))
    m = len(idx)
    return {n: pa.array(v, _S).take(idx) if any(x is not None for x in v) else pa.nulls(m, _S)
            for n, v in cols.items()}


def _unsign(sig: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not sig:
        return out
    for token in sig.split("\x1d"):
        key, kind, text = token.split("\x1e")
        k = int(kind)
        if k == STR:
            value: Any = {"stringValue": text}
        elif k == INT:
            value = {"intValue": text}
        elif k == _INT_NUMBER:
            value = {"intValue": int(text)}
        elif k == BOOL:
            value = {"boolValue": text == "1"}
        elif k == ARR:
            value = {"arrayValue": {"values": []}}
        elif k == KVL:
            value = {"kvlistValue": {"values": []}}
        else:
            value = None
        out.append({"key": key, "value": value})
    return out


_INT_NUMBER = 7  # an intValue given as a JSON number (label signatures)


def _error_status(text: str) -> int | None:
    return int(text) if text.isdecimal() and len(text) == 3 else None


def _map_text(arr: pa.Array, fn: Any, out_type: pa.DataType = _S) -> pa.Array:
    """fn applied once per distinct value (null stays null)."""
    enc = pc.dictionary_encode(arr)
    mapped = pa.array([None if v is None else fn(v) for v in enc.dictionary.to_pylist()], out_type)
    return mapped.take(enc.indices)


def _ascii_lower(ids: pa.Array) -> pa.Array:
    """Python's str.lower() of ASCII ids; other ids (their spans go to the row path) as ""."""
    ids = pc.fill_null(ids, "")
    return pc.ascii_lower(pc.if_else(pc.string_is_ascii(ids), ids, ""))


def _record_ids(con: duckdb.DuckDBPyConnection, trace: pa.Array, span: pa.Array) -> pa.Array:
    text = pc.binary_join_element_wise(og.NAME, trace, span, "\x1f")
    con.register("otel_ids", vector.scan_batches(pa.table({"k": text})))
    try:  # a projection keeps the scan's order (preserve_insertion_order)
        return con.sql("SELECT left(sha256(k), 24) AS id FROM otel_ids").to_arrow_table().column(0).combine_chunks()
    finally:
        con.unregister("otel_ids")


__all__ = ["parse"]
