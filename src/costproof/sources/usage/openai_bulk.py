"""The openai-jsonl bulk path: pyarrow's JSON reader types each block of lines against an explicit schema of the
fields the row path reads; DuckDB turns them into usage rows. Records it cannot vouch for go to the row path.

Only the listed fields are read: prompt and response text (`messages`, `choices[].message`, `output`, ...) is
skipped by the parser and never lands in any column. pyarrow is strict: a field of another JSON type, a number
outside int64, an invalid line, a repeated key, all make the block fail; the block is then split until the lines
it cannot read are isolated, and those go through `openai_jsonl._row` verbatim. So do lines the schema cannot
describe exactly: a token key present with `null` (the row path tells present from absent), label keys the schema
does not spell, `error` objects, embeddings lists, values with whitespace at the edges.

The pipeline: `line_blocks` cuts the file into blocks of whole lines in reused buffers (numpy finds the newlines);
`Prepared` checks a block's UTF-8 (Arrow), keys and NaN/Infinity spellings (one RE2 scan: label-like keys are
counted only on the lines with a key label_key() could read otherwise than spelled) and parses the block's bytes
as they are, on a worker thread one block ahead (first with the schema cut to the paths its sampled lines use, see
openai_paths); `run_block` runs the block's SQL (generated for the columns the block has, constants folded in
Python), the row path for the rest (put in place by slices, openai_merge), and `Numbering` gives occurrence numbers
as base.Occurrences does, a block at a time."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from costproof.model.errors import RowError
from costproof.model.sanitize import safe_name
from costproof.sources.usage import openai_merge, openai_paths, vector
from costproof.sources.usage.base import (
    _LABEL_ALIASES,
    USAGE_SCHEMA,
    Occurrences,
    ParseContext,
    UsageChunk,
    normalize_environment,
    sanitize_table,
    to_table,
)
from costproof.sources.usage.newapi_bulk import Numbers
from costproof.sources.usage.openai_jsonl import _PARTIAL_REASONS

_I = pa.int64()
_S = pa.string()
_DETAILS_IN = pa.struct([("cached_tokens", _I), ("audio_tokens", _I), ("cache_creation_tokens", _I)])
_DETAILS_OUT = pa.struct([("reasoning_tokens", _I), ("audio_tokens", _I)])
_TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens",
               "cache_read_input_tokens", "cache_creation_input_tokens", "prompt_cache_hit_tokens")
USAGE = pa.struct([
    *((k, _I) for k in _TOKEN_KEYS),
    ("cost", pa.decimal128(38, 12)),
    ("prompt_tokens_details", _DETAILS_IN),
    ("completion_tokens_details", _DETAILS_OUT),
    ("input_tokens_details", _DETAILS_IN),
    ("output_tokens_details", _DETAILS_OUT),
])
ALIASES: tuple[tuple[str, str], ...] = tuple((a, label) for label, names in _LABEL_ALIASES.items() for a in names)
LABELS = pa.struct([(a, _S) for a, _ in ALIASES])
_BODY = [
    ("id", _S), ("object", _S), ("type", _S), ("model", _S), ("status", _S), ("stop_reason", _S),
    ("created", _I), ("created_at", _I), ("usage", USAGE),
    ("choices", pa.list_(pa.struct([("finish_reason", _S)]))),
    ("incomplete_details", pa.struct([("reason", _S)])),
    ("error", pa.struct([])), ("metadata", LABELS),
]
BODY = pa.struct(_BODY)
_TIME_TEXT = ("timestamp", "time", "request_time", "start_time", "logged_at")
SCHEMA = pa.schema([
    *_BODY,
    *((k, _S) for k in ("request_id", "x_request_id", "x-request-id", "client_request_id", "custom_id",
                        *_TIME_TEXT, "provider", "group")),
    ("status_code", _I), ("http_status", _I), ("stream", pa.bool_()), ("is_stream", pa.bool_()),
    ("request", pa.struct([("model", _S), ("stream", pa.bool_()), ("metadata", LABELS)])),
    ("response", pa.struct([*_BODY, ("body", BODY), ("status_code", _I), ("request_id", _S)])),
    ("body", BODY),
    *((a, _S) for a, _ in ALIASES),
])
_READ = pajson.ReadOptions(use_threads=True, block_size=1 << 22)

# A line the schema cannot describe exactly goes to the row path: escaped printable ASCII or KELVIN SIGN (the one
# non-ASCII character whose lower() is ASCII: a key could hide behind either), a token key present with null (the
# row path tells present from absent). pyarrow, like Python's json, refuses control characters in strings, so they
# need no check here.
_SUSPECT = (r"\\u00[2-7][0-9a-fA-F]|\\u212[aA]|"
            r'"(?:' + "|".join((*_TOKEN_KEYS, "cache_creation_tokens")) + r')"\s*:\s*null')
# Every key that could name a label, at any depth, however spelled (over-matching only costs speed).
_LABEL_KEY = (r'(?i)"[-_. ]*(?:' + "|".join(sorted({"[-_. ]*".join(a.split("_")) for a, _ in ALIASES}, key=len,
                                                    reverse=True)) + r')[-_. ]*"\s*:')
# A key holding a capital, a space, `-`, `.` or KELVIN SIGN: the only keys label_key() reads as other than they are
# spelled. A line without one (nor a suspect shape, nor a name the cut schema leaves out, nor a `labels`/`tags`
# holder) names each label only by an exact alias, which the schema parses wherever the row path reads it; only
# lines with one need their label-like keys counted (see _text_checks).
_MARKED_KEY = r'"[^"\\]*[A-Z .\-\x{212A}][^"\\]*"\s*:'
# Python's str.isspace() characters: a value must not start or end with one (the row path strips them); RE2's \s
# is [\t\n\f\r ] only, so \x0b is listed
_SPACE = r"[\s\x0b\x1c-\x1f\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
_SPLIT_MIN = 4  # a failing piece this small goes to the row path whole
_SAMPLE = 256


def _names(t: pa.DataType | pa.Schema) -> set[str]:
    out: set[str] = set()
    fields = list(t) if isinstance(t, pa.Schema) or pa.types.is_struct(t) else []
    if pa.types.is_list(t) if not isinstance(t, pa.Schema) else False:
        fields = list(t.value_type)
    for f in fields:
        out.add(f.name)
        out |= _names(f.type)
    return out


_ALL_NAMES = frozenset(_names(SCHEMA))


def _prune(t: Any, keep: frozenset[str]) -> Any:
    if isinstance(t, pa.Schema):
        return pa.schema([pa.field(f.name, _prune(f.type, keep)) for f in t if f.name in keep])
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _prune(f.type, keep)) for f in t if f.name in keep])
    if pa.types.is_list(t):
        return pa.list_(_prune(t.value_type, keep))
    return t


@functools.lru_cache(maxsize=64)
def _plan(keep: frozenset[str]) -> tuple[pajson.ParseOptions, str | None]:
    """Parse options for a schema cut to the key names in use, and a pattern for lines using any other name."""
    schema = _prune(SCHEMA, keep)
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore",
                                  newlines_in_values=False)
    pruned = sorted(_ALL_NAMES - keep)
    guard = ('"(?:' + "|".join(re.escape(n) for n in pruned) + r')"\s*:') if pruned else None
    return options, guard


def _keys(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(k)
            _keys(v, out)
    elif isinstance(value, list):
        for v in value:
            _keys(v, out)


def _sample(block: Block) -> tuple[set[str], frozenset[tuple[str, ...]]]:
    """Key names and schema paths used by a spread of the block's lines (only decide which fields are parsed and
    how, not correctness)."""
    import json

    found: set[str] = set()
    paths: set[tuple[str, ...]] = set()
    step = max(1, len(block) // _SAMPLE)
    for i in range(0, len(block), step):
        try:
            doc = json.loads(block.line(i))
        except (ValueError, UnicodeDecodeError, RecursionError):
            continue
        _keys(doc, found)
        openai_paths.add_paths(doc, SCHEMA, paths)
    return found, frozenset(paths)


@functools.lru_cache(maxsize=64)
def _path_plan(keep: frozenset[str], paths: frozenset[tuple[str, ...]]) -> pajson.ParseOptions:
    return openai_paths.path_options(_plan(keep)[0].explicit_schema, paths)


class Block:
    """Up to `size` lines of the file as one buffer: the non-blank lines' numbers, bounds and Arrow view."""

    __slots__ = ("view", "starts", "ends", "numbers", "binary", "raw")

    def __init__(self, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray, contiguous: bool
                 ) -> None:
        self.view = memoryview(buf)
        self.starts = starts
        self.ends = ends
        self.numbers = numbers
        n = len(starts)
        self.raw: pa.Buffer | None = None
        if contiguous and n:
            # each value is its line and the newline after it (which no check below looks at)
            offsets = pa.py_buffer(np.append(starts, ends[-1]).astype(np.int64))
            self.binary = pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, offsets, pa.py_buffer(buf)])
            self.raw = pa.py_buffer(buf).slice(int(starts[0]), int(ends[-1] - starts[0]))
        else:
            self.binary = pa.array(self.lines(), pa.large_binary())

    def __len__(self) -> int:
        return len(self.starts)

    def line(self, i: int) -> bytes:
        return bytes(self.view[self.starts[i]:self.ends[i]])

    def lines(self) -> list[bytes]:
        view = self.view
        return [bytes(view[a:b]) for a, b in zip(self.starts.tolist(), self.ends.tolist(), strict=True)]


_BLANK = frozenset(b" \t\n\r\x0b\x0c")


_WINDOW = 1 << 26  # bytes read per block (a block ends at its last whole line, or at `size` lines)
_POOL = 4  # block buffers kept for reuse (blocks in flight: one turned into rows, one prepared, one read)


def _buffer(pool: list[np.ndarray], n: int, window: int) -> np.ndarray:
    """n bytes of a window-sized buffer no block uses any more (fresh pages cost a fault each), or of a new one."""
    for held in pool:
        # referenced only by the pool, this loop and getrefcount: no block, view or Arrow buffer holds it
        if len(held) >= n and sys.getrefcount(held) <= 3:
            return held[:n]
    fresh = np.empty(max(n, window), np.uint8)  # not zeroed: the read fills it
    if len(pool) < _POOL:
        pool.append(fresh)
    return fresh[:n]


def _newlines(buf: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the first `limit` (or more) newlines, found 1 MB at a time (small scratch arrays stay cached)."""
    found = []
    count = 0
    for start in range(0, len(buf), 1 << 20):
        at = np.flatnonzero(buf[start:start + (1 << 20)] == 10)
        if len(at):
            found.append(at + start)
            count += len(at)
            if count >= limit:
                break
    return np.concatenate(found) if found else np.empty(0, np.int64)


def line_blocks(path: Path, size: int) -> Iterator[Block]:
    """Blocks of at most `size` lines (blank lines skipped but counted), streamed: each block reads a window of the
    file into a buffer of its own (the lines cut short at its end start the next one); a BOM on line 1 is dropped."""
    number = 0  # lines before the block
    rest = b""
    window = _WINDOW
    pool: list[np.ndarray] = []
    eof = False
    with open(path, "rb") as handle:
        while True:
            want = 0
            if not eof:  # fill the window up (the lines left over from the last block come first)
                remaining = os.fstat(handle.fileno()).st_size - handle.tell()
                want = min(max(window - len(rest), 0), remaining) if remaining > 0 else 1  # 1: see the end
            buf = _buffer(pool, len(rest) + want, window)
            buf[:len(rest)] = np.frombuffer(rest, np.uint8)
            got = handle.readinto(memoryview(buf)[len(rest):]) if want else 0
            if got < want:
                buf = buf[:len(rest) + got]
                eof = True
            if not len(buf):
                return
            nl = _newlines(buf, size)
            if len(nl) >= size:
                ends = nl[:size]
            elif eof:
                ends = nl if len(nl) and nl[-1] == len(buf) - 1 else np.append(nl, len(buf))
            elif len(nl):
                ends = nl
            else:  # not one whole line in the window: read a longer one
                rest = buf.tobytes()
                window *= 2
                continue
            rest = bytes(memoryview(buf)[int(ends[-1]) + 1:])
            starts = np.empty(len(ends), np.int64)
            starts[0] = 0
            starts[1:] = ends[:-1] + 1
            if number == 0 and bytes(buf[:3]) == b"\xef\xbb\xbf":
                starts[0] = 3
            numbers = np.arange(number + 1, number + 1 + len(ends), dtype=np.int64)
            number += len(ends)
            # a line starting with `{` is not blank; the others are looked at one by one
            first = np.where(ends > starts, buf[np.minimum(starts, len(buf) - 1)], 0)
            odd = np.flatnonzero(first != 123)
            keep = None
            if len(odd):
                blank = [int(i) for i in odd.tolist() if not bytes(buf[starts[i]:ends[i]]).strip()]
                if blank:
                    keep = np.ones(len(ends), bool)
                    keep[blank] = False
            if keep is not None:
                block = Block(buf, starts[keep], ends[keep], numbers[keep], False)
            else:
                block = Block(buf, starts, ends, numbers, True)
            if len(block):
                yield block
            if eof and not rest:
                return


def _parse(lines: list[bytes], at: list[int], options: pajson.ParseOptions) -> tuple[list[pa.Table], list[int],
                                                                                  list[int]]:
    """Parse the lines at indices `at`: (tables, indices parsed in table order, indices that failed)."""

    def read(part: list[int]) -> pa.Table | None:
        try:
            return pajson.read_json(io.BytesIO(b"\n".join(lines[i] for i in part)), read_options=_READ,
                                    parse_options=options)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
            return None

    return vector.narrowed(at, read, _SPLIT_MIN)


def _choices(key: str, array: pa.ChunkedArray) -> dict[str, pa.Array]:
    """A choices list as what the SQL reads of it (no list and lambdas there): its length (`__n`, null for no
    list), its non-empty finish reasons (`__r`) and whether one of them marks a cut-short answer (`__p`)."""
    lists = array.combine_chunks()
    items = pc.list_flatten(lists)
    count = np.zeros(len(lists), np.int64)
    partial = np.zeros(len(lists), bool)
    if items.type.get_field_index("finish_reason") >= 0 and len(items):
        reasons = pc.struct_field(items, "finish_reason")
        if reasons.null_count < len(reasons):
            parents = pc.list_parent_indices(lists).to_numpy()
            given = pc.fill_null(pc.not_equal(reasons, ""), False).to_numpy(zero_copy_only=False)
            count = np.bincount(parents, weights=given, minlength=len(lists)).astype(np.int64)
            cut = pc.fill_null(pc.is_in(reasons, pa.array(_PARTIAL_REASONS, pa.string())), False)
            partial = np.bincount(parents, weights=cut.to_numpy(zero_copy_only=False), minlength=len(lists)) > 0
    return {key + "__n": pc.list_value_length(lists), key + "__r": pa.array(count), key + "__p": pa.array(partial)}


def _flat(table: pa.Table) -> tuple[pa.Table, frozenset[str], frozenset[str]]:
    """Nested columns as flat `a__b__c` columns, with `__v` validity flags for the structs whose presence counts.

    Columns that are null (or false) on every row are left out and validity flags true on every row are named
    apart, so that the SQL for the block reads them as constants and DuckDB folds them away."""
    cols: dict[str, Any] = {}
    trues: set[str] = set()
    valid = {"response", "response.body", "body", "usage", "response.usage", "response.body.usage", "body.usage",
             "error", "response.error", "response.body.error", "body.error"}

    def walk(name: str, array: pa.ChunkedArray) -> None:
        key = name.replace(".", "__")
        if array.null_count == len(array):
            return
        if name in valid:
            flag = pc.is_valid(array)
            if array.null_count == 0:
                trues.add(key + "__v")
            else:
                cols[key + "__v"] = flag
        if pa.types.is_struct(array.type):
            for i in range(array.type.num_fields):
                child = array.type.field(i)
                walk(f"{name}.{child.name}", pc.struct_field(array, [i]))
            return
        if pa.types.is_list(array.type):
            cols.update(_choices(key, array))
            return
        cols[key] = array

    for field in table.schema:
        walk(field.name, table.column(field.name))
    if not cols:
        cols["__none"] = pa.nulls(table.num_rows, pa.bool_())
    return pa.table(cols), frozenset(cols), frozenset(trues)


_AVAIL: set[str] = set()  # flat columns of the block's schema while its SQL is generated
_TRUE: set[str] = set()  # validity flags true on every row of the block


def _duck(t: pa.DataType) -> str:
    return {pa.int64(): "BIGINT", pa.string(): "VARCHAR", pa.bool_(): "BOOLEAN"}.get(t, "DECIMAL(38,12)")


def _flat_types(schema: pa.Schema) -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(name: str, t: pa.DataType) -> None:
        out[name + "__v"] = "BOOLEAN"
        if pa.types.is_struct(t):
            for f in t:
                walk(f"{name}__{f.name}", f.type)
        elif pa.types.is_list(t):  # see _choices
            out.update({name + "__n": "BIGINT", name + "__r": "BIGINT", name + "__p": "BOOLEAN"})
        else:
            out[name] = _duck(t)

    for f in schema:
        walk(f.name, f.type)
    return out


_TYPES = _flat_types(SCHEMA)


def _c(name: str) -> str:
    flat = name.replace(".", "__")
    if flat in _TRUE:
        return "true"
    if flat in _AVAIL:
        return '"' + flat + '"'
    return f"CAST(NULL AS {_TYPES[flat]})"


_NULLS = frozenset(f"CAST(NULL AS {t})" for t in _TYPES.values())


def _case(branches: list[tuple[list[str], str]], default: str) -> str:
    """CASE WHEN a AND b THEN v ... ELSE default END, folded where the block's constant columns decide it."""
    kept: list[tuple[list[str], str]] = []
    for atoms, value in branches:
        atoms = [a for a in atoms if a != "true"]
        if any(a in _NULLS for a in atoms):  # a null condition never holds
            continue
        if not atoms:
            default = value
            break
        kept.append((atoms, value))
    if all(v == default for _, v in kept):
        return default
    return "CASE " + " ".join(f"WHEN {' AND '.join(a)} THEN {v}" for a, v in kept) + f" ELSE {default} END"


def _nonnull(exprs: list[str]) -> list[str]:
    return [e for e in exprs if e not in _NULLS]


def _edges(exprs: list[str]) -> str:
    """True when no text value has whitespace at either end (str.strip() keeps it as it is); nulls pass."""
    exprs = _nonnull(exprs)
    if not exprs:
        return "true"
    joined = "concat_ws(chr(1), " + ", ".join(exprs) + ")"
    return f"NOT regexp_matches({joined}, '(^|\\x01){_SPACE}|{_SPACE}(\\x01|$)')"


def _body(field: str) -> str:
    """The value of a body field wherever the body is: Batch response.body, response, body, or the record itself."""
    return _case([([_c("response__v"), _c("response.body__v")], _c("response.body." + field)),
                  ([_c("response__v")], _c("response." + field)), ([_c("body__v")], _c("body." + field))], _c(field))


@functools.lru_cache(maxsize=64)
def record_sql(label_counts: str, avail: frozenset[str], trues: frozenset[str] = frozenset()) -> str:
    _AVAIL.clear()
    _AVAIL.update(avail)
    _TRUE.clear()
    _TRUE.update(trues)
    u = {k: _body(f"usage.{k}") for k in (*_TOKEN_KEYS, "cost")}
    d = {f"{p}.{k}": _body(f"usage.{p}.{k}") for p, ks in (("prompt_tokens_details", ("cached_tokens",
         "audio_tokens", "cache_creation_tokens")), ("completion_tokens_details", ("reasoning_tokens",
         "audio_tokens")), ("input_tokens_details", ("cached_tokens", "audio_tokens")),
         ("output_tokens_details", ("reasoning_tokens", "audio_tokens"))) for k in ks}
    usage_v = _body("usage__v")
    ints = [*u.values(), *d.values()]
    ints.remove(u["cost"])
    neg_ok = " AND ".join(f"coalesce({x}, 0) >= 0" for x in ints)
    branch = (f"CASE WHEN NOT coalesce({usage_v}, false) THEN 'none' "
              f"WHEN {u['prompt_tokens']} IS NOT NULL OR {u['completion_tokens']} IS NOT NULL THEN 'chat' "
              f"WHEN {u['cache_read_input_tokens']} IS NOT NULL OR {u['cache_creation_input_tokens']} IS NOT NULL "
              f"THEN 'messages' "
              f"WHEN {u['input_tokens']} IS NOT NULL OR {u['output_tokens']} IS NOT NULL THEN 'responses' "
              f"WHEN {u['total_tokens']} IS NOT NULL THEN 'total' END")
    h = "CAST({} AS HUGEINT)"
    z = "coalesce(" + h + ", 0)"
    cached_chat = f"coalesce({d['prompt_tokens_details.cached_tokens']}, {u['prompt_cache_hit_tokens']})"
    write_chat = f"coalesce({d['prompt_tokens_details.cache_creation_tokens']}, {u['cache_creation_input_tokens']})"
    chat_in = (f"{z.format(u['prompt_tokens'])} - {z.format(cached_chat)} - {z.format(write_chat)} - "
               f"{z.format(d['prompt_tokens_details.audio_tokens'])}")
    chat_out = (f"{z.format(u['completion_tokens'])} - {z.format(d['completion_tokens_details.reasoning_tokens'])}"
                f" - {z.format(d['completion_tokens_details.audio_tokens'])}")
    resp_in = (f"{z.format(u['input_tokens'])} - {z.format(d['input_tokens_details.cached_tokens'])} - "
               f"{z.format(d['input_tokens_details.audio_tokens'])}")
    resp_out = (f"{z.format(u['output_tokens'])} - {z.format(d['output_tokens_details.reasoning_tokens'])} - "
                f"{z.format(d['output_tokens_details.audio_tokens'])}")

    def meter(chat: str, messages: str, responses: str, total: str) -> str:
        return (f"CAST(CASE branch WHEN 'chat' THEN {chat} WHEN 'messages' THEN {messages} "
                f"WHEN 'responses' THEN {responses} WHEN 'total' THEN {total} END AS BIGINT)")

    zero = "0"
    meters = {
        "input_tokens": meter("chat_in", z.format(u["input_tokens"]), "resp_in", z.format(u["total_tokens"])),
        "cached_input_tokens": meter(z.format(f"coalesce({d['prompt_tokens_details.cached_tokens']}, "
                                              f"{u['prompt_cache_hit_tokens']})"),
                                     z.format(u["cache_read_input_tokens"]),
                                     z.format(d["input_tokens_details.cached_tokens"]), zero),
        "cache_write_tokens": meter(z.format(f"coalesce({d['prompt_tokens_details.cache_creation_tokens']}, "
                                             f"{u['cache_creation_input_tokens']})"),
                                    z.format(u["cache_creation_input_tokens"]), zero, zero),
        "output_tokens": meter("chat_out", z.format(u["output_tokens"]), "resp_out", zero),
        "reasoning_tokens": meter(z.format(d["completion_tokens_details.reasoning_tokens"]), zero,
                                  z.format(d["output_tokens_details.reasoning_tokens"]), zero),
        "audio_input_tokens": meter(z.format(d["prompt_tokens_details.audio_tokens"]), zero,
                                    z.format(d["input_tokens_details.audio_tokens"]), zero),
        "audio_output_tokens": meter(z.format(d["completion_tokens_details.audio_tokens"]), zero,
                                     z.format(d["output_tokens_details.audio_tokens"]), zero),
    }
    route_usage = (f"CASE WHEN NOT coalesce({usage_v}, false) THEN NULL "
                   f"WHEN {u['prompt_tokens']} IS NOT NULL THEN CASE WHEN {u['completion_tokens']} IS NOT NULL "
                   f"THEN 'chat.completions' ELSE 'embeddings' END "
                   f"WHEN {u['cache_read_input_tokens']} IS NOT NULL OR {u['cache_creation_input_tokens']} IS NOT NULL "
                   f"THEN 'messages' WHEN {u['input_tokens']} IS NOT NULL THEN 'responses' END")
    obj = f"coalesce(NULLIF({_body('object')}, ''), NULLIF({_body('type')}, ''), '')"
    rstatus = _c("status")
    batch = f"({_c('response__v')} AND {_c('response.body__v')})"
    status_raw = (f"CASE WHEN {batch} AND {_c('response.status_code')} IS NOT NULL THEN {_c('response.status_code')} "
                  f"WHEN {_c('status_code')} >= 0 THEN {_c('status_code')} "
                  f"WHEN {_c('http_status')} >= 0 THEN {_c('http_status')} "
                  f"WHEN regexp_matches({rstatus}, '^[0-9]{{1,18}}$') THEN CAST({rstatus} AS BIGINT) END")
    status_ok = (f"({rstatus} IS NULL OR {rstatus} = '' OR regexp_matches({rstatus}, '^[0-9]{{1,18}}$') "
                 f"OR regexp_matches({rstatus}, '[A-Za-z]'))")
    req_id = (f"CASE WHEN {batch} AND coalesce({_c('custom_id')}, '') <> '' THEN {_c('custom_id')} "
              f"WHEN {batch} AND coalesce({_c('response.request_id')}, '') <> '' THEN {_c('response.request_id')} "
              + " ".join(f"WHEN coalesce({_c(k)}, '') <> '' THEN {_c(k)}"
                         for k in ("request_id", "x_request_id", "x-request-id", "client_request_id")) + " END")
    iso = (r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
           r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$")
    time_parts = []
    for k in ("timestamp", "time", "created_at", "request_time", "start_time", "logged_at"):
        if k == "created_at":
            time_parts.append((f"{_c(k)} IS NOT NULL", "'i'", _c(k)))
        else:
            time_parts.append((f"coalesce({_c(k)}, '') <> ''", "'s'", _c(k)))
    time_parts += [(f"{_body('created')} IS NOT NULL", "'i'", _body("created")),
                   (f"{_body('created_at')} IS NOT NULL", "'i'", _body("created_at"))]
    t_kind = "CASE " + " ".join(f"WHEN {w} THEN {k}" for w, k, _ in time_parts) + " END"
    t_text = "CASE " + " ".join(f"WHEN {w} THEN CAST({v} AS VARCHAR)" for w, _, v in time_parts) + " END"
    models = [_body("model"), _c("model"), _c("request.model")]
    model = "coalesce(" + ", ".join(f"NULLIF({m}, '')" for m in models) + ", '')"
    stream = (f"(coalesce({_c('stream')}, {_c('is_stream')}, false) OR coalesce({_c('request.stream')}, false) "
              f"OR {obj} = 'chat.completion.chunk')")
    # the finish reasons (_finish_reasons): how many, and whether one marks a cut-short answer
    stop, cut = _body("stop_reason"), _body("incomplete_details.reason")
    partial_set = "(" + ", ".join(f"'{r}'" for r in _PARTIAL_REASONS) + ")"
    n_reasons = (f"coalesce({_body('choices__r')}, 0) + CASE WHEN coalesce({stop}, '') <> '' THEN 1 ELSE 0 END "
                 f"+ CASE WHEN coalesce({cut}, '') <> '' THEN 1 ELSE 0 END "
                 f"+ CASE WHEN obj = 'response' AND b_status = 'completed' THEN 1 ELSE 0 END")
    partial_reason = (f"(coalesce({_body('choices__p')}, false) OR coalesce({stop}, '') IN {partial_set} "
                      f"OR coalesce({cut}, '') IN {partial_set})")
    body_meta = ["response.body.metadata", "response.metadata", "body.metadata"]

    def label(lab: str) -> str:
        """First holder naming the label: metadata, request.metadata, the body's metadata, the record itself."""
        names = [a for a, lb in ALIASES if lb == lab]
        holders = [("metadata", None), ("request.metadata", None), ("__body__", None), ("", None)]
        parts = []
        for holder, _ in holders:
            if holder == "__body__":
                exprs = [_case([([_c("response__v"), _c("response.body__v")], _c("response.body.metadata." + a)),
                                ([_c("response__v")], _c("response.metadata." + a)),
                                ([_c("body__v")], _c("body.metadata." + a))], "CAST(NULL AS VARCHAR)")
                         for a in names]
            else:
                exprs = [_c(f"{holder}.{a}" if holder else a) for a in names]
            exprs = _nonnull(exprs)
            if exprs:
                parts.append("coalesce(" + ", ".join(f"NULLIF({e}, '')" for e in exprs) + ")")
        return "coalesce(" + ", ".join(parts) + ")" if parts else "CAST(NULL AS VARCHAR)"

    label_fields = [f"{h}.{a}" if h else a for h in ("metadata", "request.metadata", *body_meta, "")
                    for a, _ in ALIASES]
    # each holder names each label at most once (key order would decide otherwise); every label key was read
    per_holder = []
    for h in ("metadata", "request.metadata", *body_meta, ""):
        for lab in _LABEL_ALIASES:
            names = _nonnull([_c(f"{h}.{a}" if h else a) for a, lb in ALIASES if lb == lab])
            if len(names) > 1:
                per_holder.append("(" + " + ".join(f"CAST({n} IS NOT NULL AS INTEGER)" for n in names) + ") <= 1")
    present = " + ".join(f"CAST({e} IS NOT NULL AS INTEGER)" for e in _nonnull([_c(f) for f in label_fields])) or "0"
    label_edges = _edges([_c(f) for f in label_fields])
    text_edges = _edges([x for x in (*models, _c("provider"), _c("group"), _body("id"),
                                                  *(_c(k) for k in ("request_id", "x_request_id", "x-request-id",
                                                                    "client_request_id", "custom_id")),
                                                  _c("response.request_id"))])
    errors = " AND ".join(f"NOT coalesce({_c(e)}, false)" for e in ("error__v", "response.error__v",
                                                                     "response.body.error__v", "body.error__v"))
    return f"""
    WITH a AS (
      SELECT *, {branch} AS branch, {obj} AS obj, {_body('status')} AS b_status, {status_raw} AS st,
        {req_id} AS req, {t_kind} AS t_kind, {t_text} AS t_text, {model} AS mdl, {stream} AS strm,
        {u['cost']} AS cost_v, {route_usage} AS route_usage, {_body('id')} AS resp_id,
        NULLIF({_c('provider')}, '') AS prov, NULLIF({_c('group')}, '') AS grp,
        {chat_in} AS chat_in, {chat_out} AS chat_out, {resp_in} AS resp_in, {resp_out} AS resp_out,
        {', '.join(f'{label(lab)} AS l_{lab}' for lab in _LABEL_ALIASES)},
        ({errors} AND {status_ok} AND {neg_ok} AND {text_edges} AND {label_edges}
         AND {' AND '.join(per_holder) or 'true'} AND (lc IS NULL OR ({present}) = lc)) AS ok0
      FROM {label_counts}
    ), b AS (
      SELECT *, {n_reasons} AS n_reasons, {partial_reason} AS partial_reason,
        coalesce(st >= 400, false) OR (obj = 'response' AND b_status = 'failed') AS failed,
        CASE WHEN t_kind = 's' AND regexp_matches(t_text, '{iso}') THEN TRY_CAST(upper(t_text) AS TIMESTAMPTZ)
             WHEN t_kind = 'i' AND TRY_CAST(t_text AS BIGINT) BETWEEN 0 AND 99999999999
             THEN to_timestamp(CAST(t_text AS BIGINT)) END AS occurred,
        CASE WHEN t_kind = 's' THEN regexp_extract(t_text, '([Zz]|[+-][0-9]{{2}}:[0-9]{{2}})$') END AS offs
      FROM a
    ), m AS (
      SELECT *, {', '.join(f'{expr} AS {name}' for name, expr in meters.items())},
        CASE WHEN st IS NULL AND NOT failed AND (branch <> 'none' OR coalesce({_body('choices__n')}, 0) > 0
                                                          OR obj <> '') THEN 200 ELSE st END AS status_n,
        CASE WHEN t_kind = 's' AND length(t_text) = 20 AND t_text[11] = 'T' AND t_text[20] IN ('Z', 'z')
             THEN left(t_text, 19) || '+00:00'  -- a whole-second UTC time is its own text (no strftime)
             ELSE replace(strftime(occurred, '%Y-%m-%dT%H:%M:%S.%f+00:00'), '.000000+', '+') END AS at_text
      FROM b
    )
    SELECT rn, ok0 AND branch IS NOT NULL AND occurred IS NOT NULL AND (mdl <> '' OR failed)
              AND obj <> 'list' AND coalesce(st, 0) >= 0
              AND (branch = 'none' OR (input_tokens >= 0 AND output_tokens >= 0)) AS ok,
      CASE WHEN failed THEN 'error' ELSE 'consume' END AS record_kind, occurred AS occurred_at,
      CASE WHEN offs IS NULL OR offs IN ('', 'Z', 'z', '+00:00', '-00:00') THEN 'Z' ELSE offs END AS original_offset,
      prov AS provider, NULLIF(mdl, '') AS model_reported,
      coalesce(CASE obj WHEN 'chat.completion' THEN 'chat.completions' WHEN 'chat.completion.chunk'
                        THEN 'chat.completions' WHEN 'text_completion' THEN 'completions' WHEN 'response'
                        THEN 'responses' WHEN 'message' THEN 'messages' WHEN 'embedding' THEN 'embeddings' END,
               route_usage) AS route_family,
      NULLIF(req, '') AS request_id, status_n AS status_code,
      CASE WHEN status_n IS NULL THEN '' ELSE CAST(status_n // 100 AS VARCHAR) || 'xx' END AS status_class,
      strm AS is_stream,
      (partial_reason OR (obj = 'response' AND b_status = 'incomplete')
       OR (strm AND NOT failed AND (branch = 'none' OR (n_reasons = 0 AND obj <> 'response'))))
        AS is_partial,
      l_environment AS environment, l_api_key_name AS api_key_name, grp AS pricing_group,
      l_cost_center AS cost_center, l_project AS project, l_customer AS customer, l_workflow AS workflow,
      {', '.join(f'CASE WHEN branch = {chr(39)}none{chr(39)} THEN NULL ELSE {n} END AS {n}' for n in meters)},
      CASE WHEN failed THEN 0 ELSE 1 END AS requests, cost_v AS provider_reported_cost,
      CASE WHEN cost_v IS NOT NULL THEN 'USD' END AS provider_reported_currency,
      CASE WHEN branch = 'none' THEN 'missing' ELSE 'reported' END AS usage_origin,
      coalesce(resp_id, '') AS response_id, branch, at_text,
      concat_ws(chr(31), 'openai-jsonl', coalesce(req, ''), coalesce(resp_id, ''), at_text,
                coalesce(CAST(status_n AS VARCHAR), ''), CASE WHEN failed THEN 'error' ELSE 'consume' END, mdl, '')
        AS key_head,
      CASE WHEN branch = 'none' THEN '' ELSE chr(31) || concat_ws(chr(31), {', '.join(meters)}) END AS key_tail
    FROM m
    """


class Numbering:
    """Occurrence numbers and record ids, in record order, exactly as base.Occurrences numbers identity keys (at
    most `limit` identities held, forgotten all at once when a new one arrives at the limit), a block at a time:
    DuckDB hashes every key as a first occurrence, newapi_bulk.Numbers groups and finds keys again by 64 bits of
    that id (no Python string per key), and only the later occurrences are hashed again in Python."""

    def __init__(self, con: duckdb.DuckDBPyConnection, limit: int) -> None:
        self.con = con
        self.numbers = Numbers(Occurrences(limit))

    def record_ids(self, keys: pa.Array) -> pa.Array:
        """The record ids (sha256 of key, unit separator, occurrence; 24 hex digits) of keys in record order."""
        keys = keys.cast(pa.string())
        self.con.register("occ_ids", vector.scan_batches(pa.table({
            "p": pa.array(np.arange(len(keys), dtype=np.int64)), "k": keys})))
        try:
            # in row order: the connection keeps insertion order (checked, sorted only if it did not)
            got = self.con.sql("SELECT p, left(sha256(k || chr(31) || '1'), 24) AS id FROM occ_ids").to_arrow_table()
        finally:
            self.con.unregister("occ_ids")
        p = got.column("p").to_numpy()
        if len(p) > 1 and not (p[1:] > p[:-1]).all():
            got = got.take(pc.sort_indices(got.column("p")))
        ids = got.column("id").combine_chunks().cast(pa.string())
        occ = self.numbers.number(keys, ids)
        later = np.flatnonzero(occ != 1)
        if not len(later):
            return ids
        fixed = ids.to_pylist()
        for i, key in zip(later.tolist(), keys.take(pa.array(later)).to_pylist(), strict=True):
            fixed[i] = hashlib.sha256(f"{key}\x1f{occ[i]}".encode()).hexdigest()[:24]
        return pa.array(fixed, pa.string())


def _utf8(block: Block) -> tuple[pa.Array, set[int]]:
    """The lines as text, and the lines that are not UTF-8 (their text is empty)."""
    try:
        return block.binary.cast(pa.large_string()), set()
    except pa.ArrowInvalid:
        pass
    lines = block.lines()
    slow: set[int] = set()
    for i, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            slow.add(i)
    texts = pa.array([b"" if i in slow else line for i, line in enumerate(lines)], pa.large_binary())
    return texts.cast(pa.large_string()), slow


def _text_checks(texts: pa.Array, guard: str | None) -> tuple[list[int], pa.Array]:
    """The lines holding a NaN/Infinity spelling pyarrow reads and json.loads refuses (vector.NAN_INF: the row
    path's to judge), and per line the label count: null where no key could be read as a label but by its exact
    alias (see _MARKED_KEY), else the count of label keys (any spelling, any depth) + suspect shapes + names the cut
    schema does not parse; a line with a count is vouched for only when it equals the label fields it parsed (see
    record_sql). One regex scan of every line serves both (RE2 costs about the same per byte whatever the pattern):
    the exact checks run only on the lines their union matched, the marker only on those with a spelling."""
    rest = f"|{guard}" if guard else ""
    marker = f'{_MARKED_KEY}|{_SUSPECT}|"(?:labels|tags)"\\s*:{rest}'
    at = pc.indices_nonzero(pc.match_substring_regex(texts, f"{marker}|{vector.NAN_INF}")).to_numpy()
    few = texts.take(at)
    spelled = vector.nan_inf(few)
    hit = np.empty(0, np.int64) if spelled is None else np.flatnonzero(spelled.to_numpy(zero_copy_only=False))
    marked = np.ones(len(few), bool)  # the union matched the others: the marker did
    marked[hit] = pc.match_substring_regex(few.take(hit), marker).to_numpy(zero_copy_only=False)
    counted = few if marked.all() else few.filter(marked)  # no second copy where every line has a marker
    counts = np.zeros(len(texts), np.int64)
    counts[at[marked]] = pc.count_substring_regex(counted, f"{_LABEL_KEY}|{_SUSPECT}{rest}").to_numpy()
    unmarked = np.ones(len(texts), bool)
    unmarked[at[marked]] = False
    return at[hit].tolist(), pa.array(counts, mask=unmarked)


class Prepared:
    """A block with what needs no state from earlier blocks: its text checks, and its lines parsed and flattened."""

    __slots__ = ("block", "slow", "flat", "avail", "trues")

    def __init__(self, block: Block, by_path: list[bool] | None = None) -> None:
        """`by_path[0]`: read the block with the sampled paths' schema first (cleared, for the blocks after it,
        when that fails where the names' schema does not)."""
        self.block = block
        n = len(block)
        texts, slow = _utf8(block)
        names, paths = _sample(block)
        names &= _ALL_NAMES
        if "choices" in names:
            names.add("finish_reason")
        keep = frozenset(names)
        options, guard = _plan(keep)
        spelled, counts = _text_checks(texts, guard)
        slow.update(spelled)
        tables: list[pa.Table] = []
        done: list[int] | None = None
        if not slow and block.raw is not None:  # the block's bytes as they are: one parse, no copy
            tries = [options] if not by_path or not by_path[0] else [_path_plan(keep, paths), options]
            for i, opts in enumerate(tries):
                try:
                    table = pajson.read_json(pa.BufferReader(block.raw), read_options=_READ, parse_options=opts)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    continue
                if table.num_rows == n:
                    tables = [table]
                    if i and by_path:  # the file has shapes the samples miss: the names' schema from here on
                        by_path[0] = False
                    break
        if not tables:
            at = [i for i in range(n) if i not in slow] if slow else list(range(n))
            tables, done, failed = _parse(block.lines(), at, options)
            slow.update(failed)
        self.slow = slow
        self.flat: pa.Table | None = None
        self.avail: frozenset[str] = frozenset()
        self.trues: frozenset[str] = frozenset()
        if tables:
            flat, self.avail, self.trues = _flat(pa.concat_tables(tables))
            lc = counts if done is None else counts.take(pa.array(done, pa.int64()))
            rn = pa.array(np.arange(n, dtype=np.int64)) if done is None else pa.array(done, pa.int64())
            self.flat = vector.scan_batches(flat.append_column("rn", rn).append_column("lc", lc))


def prepared_blocks(path: Path, size: int) -> Iterator[Prepared]:
    """The file's blocks, each prepared on a worker thread while the one before it is turned into rows."""
    blocks = line_blocks(path, size)
    by_path = [True]

    def following() -> Prepared | None:
        block = next(blocks, None)
        return None if block is None else Prepared(block, by_path)

    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(following)
        while True:
            prepared = ahead.result()
            if prepared is None:
                return
            ahead = pool.submit(following)
            yield prepared


def run_block(con: duckdb.DuckDBPyConnection, prepared: Prepared, ctx: ParseContext, numbering: Numbering,
              slow_row: Callable[[int, bytes, bool], dict[str, Any] | RowError | None],
              identity_key: Callable[[tuple[Any, ...]], str], provider: str) -> UsageChunk:
    """One block of lines: bulk rows where certain, the row path (in record order) for the rest."""
    block = prepared.block
    n = len(block)
    numbers = block.numbers
    slow = prepared.slow
    result = None
    if prepared.flat is not None:
        con.register("blk", prepared.flat)
        try:
            # in row order: the connection keeps insertion order (checked, sorted only if it did not)
            result = con.sql(record_sql("blk", prepared.avail, prepared.trues)).to_arrow_table()
        finally:
            con.unregister("blk")
        rn = result.column("rn").to_numpy()
        if len(rn) > 1 and not (rn[1:] > rn[:-1]).all():
            result = result.take(pc.sort_indices(result.column("rn")))
        ok = result.column("ok").fill_null(False)
        if not pc.all(ok).as_py():
            bad = pc.filter(result.column("rn"), pc.invert(ok))
            slow.update(bad.to_pylist())
            result = openai_merge.drop_rows(result, ok)
    # the row path, in record order
    errors: list[RowError] = []
    slow_rows: dict[int, dict[str, Any]] = {}
    first_good = 0
    while first_good < n and first_good in slow:
        first_good += 1
    for i in sorted(slow):
        out = slow_row(int(numbers[i]), block.line(i), i > first_good)
        if isinstance(out, RowError):
            errors.append(out)
        elif out is not None:
            slow_rows[i] = out
    good = result if result is not None and result.num_rows else None
    slow_order = sorted(slow_rows)
    slow_keys = [identity_key(slow_rows[i].pop("_identity")) for i in slow_order]
    parts = []
    if good is not None:
        keys, good = _good_keys(good, ctx)
        good_rn = good.column("rn").combine_chunks()
        if slow_keys:  # occurrences run in record order across bulk and row-path records
            all_rn = pa.concat_arrays([good_rn, pa.array(slow_order, pa.int64())])
            order = pc.sort_indices(all_rn)
            ids = numbering.record_ids(pc.take(pa.concat_arrays([keys, pa.array(slow_keys, pa.string())]), order))
            back = pc.sort_indices(order)  # position in record order of each input
            good_ids = pc.take(ids, back.slice(0, len(good_rn)))
            slow_ids = pc.take(ids, back.slice(len(good_rn))).to_pylist()
        else:
            good_ids = numbering.record_ids(keys)
            slow_ids = []
        m = good.num_rows
        source = pa.array(numbers[good_rn.to_numpy()])
        cols = {
            "record_id": good_ids, "import_id": pa.nulls(m, pa.string()), "source_record": source,
            "provider": pc.fill_null(good.column("provider"), provider),
            "attempt": pa.repeat(pa.scalar(1), m), "is_retry": pa.repeat(pa.scalar(False), m),
            "images": pa.nulls(m, pa.int64()), "seconds": pa.nulls(m, pa.int64()),
            "provider_ratios": pa.nulls(m, pa.string()),
        }
        parts.append(pa.table({name: cols[name] if name in cols else good.column(name)
                               for name in USAGE_SCHEMA.names}).cast(USAGE_SCHEMA))
    else:
        slow_ids = numbering.record_ids(pa.array(slow_keys, pa.string())).to_pylist() if slow_keys else []
    rows_out: list[dict[str, Any]] = []
    for i, rid in zip(slow_order, slow_ids, strict=True):
        r = slow_rows[i]
        r["record_id"] = rid
        r["source_record"] = int(numbers[i])
        rows_out.append(r)
    if rows_out:
        parts.append(to_table(rows_out))
    if len(parts) > 1:  # the row path's records between the bulk rows, in record order
        table = openai_merge.merge_sorted(parts[0], parts[1], "source_record")
    else:
        table = parts[0] if parts else USAGE_SCHEMA.empty_table()
    table = sanitize_table(table, ctx.secret_pattern)
    errors.sort(key=lambda e: e.record)
    return UsageChunk(table, errors, table.num_rows + len(errors))


def _good_keys(good: pa.Table, ctx: ParseContext) -> tuple[pa.Array, pa.Table]:
    """Identity keys (as the row path's identity_key) after hashing key-like names and normalizing environments."""
    names = good.column("api_key_name")
    distinct = pc.unique(names).to_pylist()
    safe = pa.array([safe_name(v, ctx.secret_pattern) for v in distinct], pa.string())
    names = pc.take(safe, pc.index_in(names, pa.array(distinct, pa.string())))
    envs = good.column("environment")
    distinct = pc.unique(envs).to_pylist()
    norm = pa.array([normalize_environment(v) for v in distinct], pa.string())
    envs = pc.take(norm, pc.index_in(envs, pa.array(distinct, pa.string())))
    good = good.set_column(good.schema.get_field_index("api_key_name"), "api_key_name", names)
    good = good.set_column(good.schema.get_field_index("environment"), "environment", envs)
    # the key: the SQL's text up to the key name, the (hashed) key name, the SQL's token counts
    keys = pc.binary_join_element_wise(good.column("key_head"), names.fill_null(""), good.column("key_tail"), "")
    return keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys, good


__all__ = ["Numbering", "line_blocks", "prepared_blocks", "run_block"]
