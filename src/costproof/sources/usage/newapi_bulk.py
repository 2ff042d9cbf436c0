"""The newapi-log bulk path: DuckDB reads and types whole chunks; records it cannot vouch for go to the row path.

A record takes the bulk path only when every field has a shape whose row-path result is certain (integers that
are integers, strings that are strings, `other` a JSON object text with plain ratio values, no repeated key);
anything else is handed to `newapi_log._row` verbatim, so quarantine reasons and identities are the row path's own.

Each SQL stage is materialized (Arrow) before the next reads it: DuckDB inlines subqueries and would re-evaluate
every JSON extraction and regular expression at each reference. Validity tests are CASE conditions, which DuckDB
evaluates with short-circuit selection (AND/OR in a projection evaluate every operand on every row).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from costproof.model.sanitize import safe_name
from costproof.sources.usage import newapi_csv, newapi_keys, newapi_memo, vector
from costproof.sources.usage.base import (
    USAGE_SCHEMA,
    BadValue,
    Occurrences,
    ParseContext,
    RowBuilder,
    UsageChunk,
    sanitize_table,
    to_table,
)

FIELDS = ("created_at", "type", "token_name", "model_name", "quota", "prompt_tokens", "completion_tokens",
          "use_time", "is_stream", "group", "other", "request_id")
_INTS = ("type", "quota", "prompt_tokens", "completion_tokens", "use_time")
_TEXTS = ("token_name", "model_name", "group", "request_id")
_RATIOS = ("cache_ratio", "completion_ratio", "group_ratio", "model_price", "model_ratio")  # sorted, as json.dumps
_INT = r"^\s*-?[0-9]+(\.0+)?\s*$"
_PLAIN = r"^[\x20-\x21\x23-\x5b\x5d-\x7e]*$"  # printable ASCII without quote or backslash: json.dumps keeps it
# a float whose yyjson text is also Python's str(float): fixed notation, no trailing zeros, <= 15 digits
_FLOAT_OK = r"^-?(0|[1-9][0-9]*)\.([0-9]*[1-9]|0)$"
_O_KEYS = ("cache_tokens", "cache_creation_tokens", "request_path", *_RATIOS)
# `data` marks a saved page among the items (the row path expands it)
_J_KEYS = (*FIELDS, "data")
_MAX_OBJECT = 268435456


class Unvouched(Exception):
    """A page the bulk reader cannot vouch for: the row path takes over from the record after the last one read."""


def _paths(keys: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'$.\"{k}\"'" for k in keys) + "]"


def _names(keys: tuple[str, ...]) -> str:
    return ", ".join(f"'{k}'" for k in keys)


def _unpack(lists: pa.Table, keys: tuple[str, ...], t_prefix: str, s_prefix: str) -> dict[str, Any]:
    """List columns `t` (JSON types) and `s` (texts) of one extraction spread into one column per key."""
    out: dict[str, Any] = {}
    for i, key in enumerate(keys):
        out[f"{t_prefix}{key}"] = pc.list_element(lists.column("t"), i)
    for i, key in enumerate(keys):
        out[f"{s_prefix}{key}"] = pc.list_element(lists.column("s"), i)
    return out


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, **tables: pa.Table) -> pa.Table:
    for name, table in tables.items():
        con.register(name, vector.scan_batches(table))
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        for name in tables:
            con.unregister(name)


def _same_rows(a: pa.Table, b: pa.Table) -> None:
    if not a.column("rn").equals(b.column("rn")):  # DuckDB keeps insertion order; a safeguard, never expected
        raise duckdb.InvalidInputException("row order changed between stages")


def json_fields(con: duckdb.DuckDBPyConnection, chunk: pa.Table) -> pa.Table:
    """(rn, t_<field>, f_<field>, n_keys, has_data) per (rn, json) item: each function parses an item once.

    f_ is the text (a JSON string's value, else the JSON text), t_ the JSON type; n_keys counts the item's keys
    that are log fields (a repeated key makes it larger than the fields found: json.loads keeps the last, DuckDB
    the first); has_data marks a saved page among the items.
    """
    lists = _arrow(con, f"SELECT rn, json_type(json, {_paths(_J_KEYS)}) AS t, "
                        f"json_extract_string(json, {_paths(_J_KEYS)}) AS s, "
                        f"len(list_filter(json_keys(json), lambda x: x IN ({_names(_J_KEYS)}))) AS n_keys "
                        "FROM chunk", chunk=chunk)
    _same_rows(chunk, lists)
    cols = _unpack(lists, _J_KEYS, "t_", "f_")
    has_data = pc.is_valid(cols.pop("t_data"))
    cols.pop("f_data")
    return pa.table({"rn": lists.column("rn"), **cols, "n_keys": lists.column("n_keys"), "has_data": has_data})


def _other_fields(con: duckdb.DuckDBPyConnection, src: pa.Table) -> pa.Table:
    """src with `other` read: o_type (JSON type of the whole), ot_<key>/os_<key>, o_keys (as n_keys)."""
    o_val = "CASE WHEN f_other <> '' AND json_valid(f_other) THEN f_other END"
    lists = _arrow(con, f"SELECT rn, json_type(o_val) AS o_type, json_type(o_val, {_paths(_O_KEYS)}) AS t, "
                        f"json_extract_string(o_val, {_paths(_O_KEYS)}) AS s, "
                        f"len(list_filter(json_keys(o_val), lambda x: x IN ({_names(_O_KEYS)}))) AS o_keys "
                        f"FROM (SELECT rn, {o_val} AS o_val FROM src)", src=src.select(["rn", "f_other"]))
    _same_rows(src, lists)
    for name, col in {"o_type": lists.column("o_type"), **_unpack(lists, _O_KEYS, "ot_", "os_"),
                      "o_keys": lists.column("o_keys")}.items():
        src = src.append_column(name, col)
    return src


def _int_value(kind: str, value: str, json_type: str) -> str:
    """SQL for the row path's integer reading of a text (NULL when it is not certainly an integer)."""
    as_int = (f"CASE WHEN {_digits(value, 1, 18)} THEN CAST({value} AS BIGINT) "  # the usual case, no regex
              f"WHEN regexp_matches({value}, '{_INT}') "
              f"THEN TRY_CAST(TRY_CAST(trim({value}) AS DECIMAL(38,6)) AS BIGINT) END")
    if kind == "json":
        return (f"CASE WHEN {json_type} IN ('BIGINT', 'UBIGINT') THEN TRY_CAST({value} AS BIGINT) "
                f"WHEN {json_type} = 'VARCHAR' THEN {as_int} END")
    return as_int


def _digits(value: str, low: int, high: int) -> str:
    """SQL: the text is low..high ASCII digits and nothing else."""
    return f"(length({value}) BETWEEN {low} AND {high} AND ltrim({value}, '0123456789') = '')"


def _edges(value: str) -> str:
    """SQL: trim(value) starts and ends with printable ASCII other than space (so str.strip() strips alike)."""
    text = f"trim({value})"
    return (f"({text} = '' OR (ascii({text}) BETWEEN 33 AND 126 "
            f"AND ascii(right({text}, 1)) BETWEEN 33 AND 126))")


def _all(conditions: list[str]) -> str:
    """A conjunction evaluated with short-circuit (as a CASE condition); NULL counts as false."""
    return "CASE WHEN " + "\n AND ".join(conditions) + " THEN true ELSE false END"


def other_sql() -> str:
    """SQL over the distinct `other` texts (with _other_fields read): what the records take from `other`."""
    cols = []
    for key, name in (("cache_tokens", "cached"), ("cache_creation_tokens", "write")):
        cols.append(f"{_int_value('json', f'os_{key}', f'ot_{key}')} AS {name}_v, "
                    f"(os_{key} IS NULL OR os_{key} = '') AS {name}_b")
    # Python reads `other` with json.loads; DuckDB's parser agrees on plain objects without repeated keys
    o_count = " + ".join(f"CAST(ot_{k} IS NOT NULL AS INTEGER)" for k in _O_KEYS)
    checks = [f"(f_other IS NULL OR f_other = '' OR (o_type = 'OBJECT' AND o_keys = {o_count} "
              "AND NOT regexp_matches(f_other, '[\\x00-\\x1f]')))",
              "(ot_request_path IS NULL OR ot_request_path = 'NULL' OR (ot_request_path = 'VARCHAR' AND "
              f"{_edges('os_request_path')}))"]
    ratio_parts = []
    for key in _RATIOS:
        jt, raw = f"ot_{key}", f"os_{key}"
        checks.append(
            f"({jt} IS NULL OR {jt} = 'NULL' OR {jt} IN ('BIGINT', 'UBIGINT') OR "
            f"({jt} = 'VARCHAR' AND regexp_matches({raw}, '{_PLAIN}')) OR "
            f"({jt} = 'DOUBLE' AND length({raw}) <= 16 AND regexp_matches({raw}, '{_FLOAT_OK}') "
            f"AND NOT starts_with(ltrim({raw}, '-'), '0.0000')))")
        text = f"CASE WHEN {jt} IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'VARCHAR') AND {raw} <> '' THEN {raw} END"
        ratio_parts.append(f"CASE WHEN {text} IS NOT NULL THEN '\"{key}\": \"' || {text} || '\"' END")
    ratios = f"NULLIF('{{' || concat_ws(', ', {', '.join(ratio_parts)}) || '}}', '{{}}')"
    return f"""
    SELECT {', '.join(cols)}, NULLIF(trim(os_request_path), '') AS route, {ratios} AS ratios,
      {_all(checks)} AS other_ok
    FROM src
    """


def text_sql() -> str:
    """SQL over the distinct values `v` of one text field: the trimmed text and whether str.strip() agrees."""
    return f"SELECT trim(v) AS tr, (v IS NULL OR {_edges('v')}) AS edge_ok FROM d"


def value_sql(kind: str) -> str:
    """Stage 1 over `src` (with per_value's columns): every field read once into a column, plus shape_ok."""

    def t(name: str) -> str:
        return f"t_{name}" if kind == "json" else "'VARCHAR'"

    def blank(text: str) -> str:
        return f"({text} IS NULL OR {text} = '')"

    if kind == "typed":  # newapi_lines: integers are BIGINT, is_stream BOOLEAN, created_at BIGINT already
        cols = [f"f_{n} AS {n}_v, f_{n} IS NULL AS {n}_b" for n in _INTS]
    else:
        cols = [f"{_int_value(kind, f'f_{n}', t(n))} AS {n}_v, {blank(f'f_{n}')} AS {n}_b" for n in _INTS]
    cols += ["cached_v", "cached_b", "write_v", "write_b"]
    checks: list[str] = []
    if kind == "json":
        present = " + ".join(f"CAST(t_{n} IS NOT NULL AS INTEGER)" for n in FIELDS)
        checks.append(f"n_keys = {present}")
        checks += [f"(t_{n} IS NULL OR t_{n} IN ('VARCHAR', 'NULL'))" for n in (*_TEXTS, "other")]
    # Python's str.strip() knows every Unicode space; only plain ASCII edges are stripped alike here
    checks += [f"edge_{n}" for n in _TEXTS]
    checks.append("other_ok")
    ts = "f_created_at"
    texts = """
      coalesce(tr_model_name, '') AS model,
      coalesce(tr_token_name, '') AS token, NULLIF(tr_group, '') AS grp,
      NULLIF(tr_request_id, '') AS request_id, route,"""
    if kind == "typed":  # read_time reads 0..99999999999 as seconds
        checks.append(f"{ts} BETWEEN 0 AND 99999999999")
        return f"""
    SELECT rn, {', '.join(cols)},
      to_timestamp({ts}) AS occurred,{texts}
      coalesce(f_is_stream, false) AS is_stream,
      ratios,
      {_all(checks)} AS shape_ok
    FROM src
    """
    num_time = (f"({t('created_at')} IN ('BIGINT', 'UBIGINT') AND TRY_CAST({ts} AS BIGINT) BETWEEN 0 AND 99999999999)"
                if kind == "json" else "FALSE")
    str_time = (f"({t('created_at')} = 'VARCHAR' AND ({_digits(ts, 9, 11)} "
                f"OR regexp_matches({ts}, '^\\s*[0-9]{{9,11}}\\s*$')))")
    checks.append(f"({num_time} OR {str_time})")
    bool_t = t("is_stream")
    low = "lower(trim(f_is_stream))"
    checks.append(f"(f_is_stream IS NULL OR f_is_stream = '' OR ({bool_t} = 'BOOLEAN') OR "
                  f"({bool_t} IN ('BIGINT', 'UBIGINT') AND f_is_stream IN ('0', '1')) OR "
                  f"({bool_t} = 'VARCHAR' AND {low} IN ('true', 'false', '1', '0', 'yes', 'no')))")
    return f"""
    SELECT rn, {', '.join(cols)},
      to_timestamp(TRY_CAST(trim({ts}) AS BIGINT)) AS occurred,{texts}
      coalesce({low} IN ('true', '1', 'yes'), false) AS is_stream,
      ratios,
      {_all(checks)} AS shape_ok
    FROM src
    """


def _distinct(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array]:
    """(distinct values, null included when present; each row's position among them)."""
    values = pc.unique(column)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values, pc.index_in(column, value_set=values)


def per_value(con: duckdb.DuckDBPyConnection, src: pa.Table) -> pa.Table:
    """src with what each row takes from `other` and its text fields, worked out once per distinct value
    (log rows repeat the same few `other` texts, token, model and group names; answers for values met in earlier
    chunks come from a memo): other_sql's columns, tr_<text> (trimmed) and edge_<text>."""
    values, index = _distinct(src.column("f_other"))
    mapped = _OTHER_MEMO.get(values, lambda v: _checked(v, _arrow(con, other_sql(), src=_other_fields(
        con, pa.table({"rn": pa.array(np.arange(len(v), dtype=np.int64)), "f_other": v})))))
    for name in mapped.column_names:
        src = src.append_column(name, pc.take(mapped.column(name), index))
    for name in _TEXTS:
        values, index = _distinct(src.column(f"f_{name}"))
        mapped = _TEXT_MEMO.get(values, lambda v: _checked(v, _arrow(con, text_sql(), d=pa.table({"v": v}))))
        src = src.append_column(f"tr_{name}", pc.take(mapped.column("tr"), index))
        src = src.append_column(f"edge_{name}", pc.take(mapped.column("edge_ok"), index))
    return src


def _checked(values: pa.Array, mapped: pa.Table) -> pa.Table:
    if len(mapped) != len(values):
        raise duckdb.InvalidInputException("row count changed between stages")  # never expected
    return mapped


# other_sql and text_sql are functions of the value alone: their answers hold for every later chunk and file
_OTHER_MEMO = newapi_memo.Memo()
_TEXT_MEMO = newapi_memo.Memo()


FINAL_SQL = r"""
WITH r AS (
  SELECT *, CASE type_v WHEN 1 THEN 'topup' WHEN 2 THEN 'consume' WHEN 3 THEN 'manage' WHEN 4 THEN 'system'
                 WHEN 5 THEN 'error' WHEN 6 THEN 'refund' WHEN 7 THEN 'login' END AS kind,
    coalesce(quota_v, 0) AS quota, coalesce(prompt_tokens_v, 0) AS prompt,
    coalesce(completion_tokens_v, 0) AS completion, coalesce(cached_v, 0) AS cached,
    coalesce(write_v, 0) AS cache_write
  FROM v
), k AS (
  SELECT *, kind IN ('consume', 'error', 'refund') AS billable
  FROM r
)
SELECT rn, kind, occurred, model, token_safe, grp, request_id, route, is_stream, ratios, use_time_v AS use_time,
  CASE WHEN shape_ok AND kind IS NOT NULL AND occurred IS NOT NULL AND key IS NOT NULL
       AND (quota_b OR quota_v IS NOT NULL) AND (prompt_tokens_b OR prompt_tokens_v >= 0)
       AND (completion_tokens_b OR completion_tokens_v >= 0) AND (use_time_b OR use_time_v >= 0)
       AND (cached_b OR cached_v >= 0) AND (write_b OR write_v >= 0)
       AND NOT (billable AND model = '')
       AND (starts_with(lower(model), 'claude') OR prompt - cached - cache_write >= 0)
  THEN true ELSE false END AS ok,
  CASE WHEN billable THEN CASE WHEN starts_with(lower(model), 'claude') THEN prompt
                               ELSE prompt - cached - cache_write END ELSE 0 END AS input_tokens,
  CASE WHEN billable THEN cached ELSE 0 END AS cached_input_tokens,
  CASE WHEN billable THEN cache_write ELSE 0 END AS cache_write_tokens,
  CASE WHEN billable THEN completion ELSE 0 END AS output_tokens,
  CASE WHEN kind = 'consume' THEN 1 ELSE 0 END AS requests,
  CASE WHEN kind IN ('consume', 'error') THEN CAST(CAST(quota AS HUGEINT) * 2 AS DECIMAL(38, 0)) * 0.000001
       WHEN kind = 'refund' THEN CAST(-abs(CAST(quota AS HUGEINT)) * 2 AS DECIMAL(38, 0)) * 0.000001
  END AS cost,
  left(sha256(key || chr(31) || '1'), 24) AS rid1
FROM k
"""


def _pack(words: np.ndarray) -> np.ndarray:
    """Eight lower-case hex digits per uint64 word (bytes) packed into their 32 bits (in some fixed order)."""
    letters = (words >> np.uint64(6)) & np.uint64(0x0101010101010101)  # 1 in each byte holding a-f
    x = (words & np.uint64(0x0F0F0F0F0F0F0F0F)) + np.uint64(9) * letters
    x = (x | (x >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
    x = (x | (x >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
    return (x | (x >> np.uint64(16))) & np.uint64(0x00000000FFFFFFFF)


def _hashes(ids: pa.Array) -> np.ndarray:
    """64 bits of each first-occurrence record id (24 hex digits, a function of the identity key) as uint64."""
    if ids.null_count:
        raise duckdb.InvalidInputException("an identity without its id")  # never expected
    offsets = np.frombuffer(ids.buffers()[1], np.int32)[ids.offset:ids.offset + len(ids) + 1]
    if not len(ids):
        return np.empty(0, np.uint64)
    if not (np.diff(offsets) == 24).all():
        raise duckdb.InvalidInputException("a record id of another length")  # never expected
    data = np.frombuffer(ids.buffers()[2], np.uint8)[offsets[0]:offsets[-1]].reshape(len(ids), 24)
    words = np.ascontiguousarray(data[:, :16]).view(np.uint64)
    return (_pack(words[:, 0]) << np.uint64(32)) | _pack(words[:, 1])


class Numbers:
    """Occurrence numbers of identity keys in record order, exactly as `seen.next_key` one by one would give them
    (at most `limit` identities held, forgotten all at once when a new one arrives at the limit), a chunk at a
    time without a Python string per key. Keys are grouped and found again by 64 bits of their first-occurrence
    id (a function of the key); every key sharing those bits with another is compared as text, and a shared hash
    falls back to exact string lookups. The identities held are Arrow arrays (one per chunk, with their hashes
    sorted); `sync()` hands them to `seen` before the row path takes over."""

    def __init__(self, seen: Occurrences) -> None:
        self.seen = seen
        self.limit = seen.limit
        self._reset()
        if seen.seen:
            keys = pa.array([str(k) for k in seen.seen], pa.string())
            self._add(keys, _hashes(pa.array([hashlib_id(k, 1) for k in keys.to_pylist()], pa.string())),
                      np.fromiter(seen.seen.values(), np.int64, len(seen.seen)))

    def _reset(self) -> None:
        self.pieces: list[tuple[np.ndarray, np.ndarray]] = []  # sorted hashes, their positions
        self.held: list[pa.Array] = []  # the keys in the order they were added (positions count along them)
        self.counts = np.empty(0, np.int64)

    def _add(self, keys: pa.Array, hashes: np.ndarray, counts: np.ndarray, order: np.ndarray | None = None) -> None:
        """Hold new keys with their hashes and counts (`order`, when known, sorts the hashes)."""
        if not len(keys):
            return
        if order is None:
            order = np.argsort(hashes, kind="stable")
        self.held.append(keys.cast(pa.string()))
        self.pieces.append((hashes[order], order + len(self.counts)))
        self.counts = np.concatenate([self.counts, counts])
        # neighbours of like size merge (a binary counter): few pieces to search; the key texts stay where they are
        pieces = self.pieces
        while len(pieces) > 1 and 2 * len(pieces[-1][0]) >= len(pieces[-2][0]):
            (h1, a1), (h2, a2) = pieces[-2], pieces.pop()
            merged = np.concatenate([h1, h2])
            order = np.argsort(merged, kind="stable")  # two sorted runs: a merge
            pieces[-1] = (merged[order], np.concatenate([a1, a2])[order])

    def _keys(self) -> pa.ChunkedArray:
        return pa.chunked_array(self.held, pa.string())

    def sync(self) -> None:
        """Write the identities held into `seen` (its dict then holds what next_key calls would have left)."""
        self.seen.seen.clear()
        self.seen.seen.update(zip(self._keys().to_pylist(), self.counts.tolist(), strict=True))

    def number(self, keys: pa.Array, ids: pa.Array) -> np.ndarray:
        """Occurrence numbers of keys (record order); ids[i] = hashlib_id(keys[i], 1)."""
        keys = keys.cast(pa.string())
        hashes = _hashes(ids.cast(pa.string()))
        occ = np.empty(len(keys), np.int64)
        start = 0
        while start < len(keys):
            start = self._segment(keys, hashes, start, len(keys), occ)
        return occ

    def _held(self, distinct: pa.Array, hashes: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
        """Where each distinct key is held (-1: not held); `order`, if given, sorts the hashes (searchsorted runs
        several times faster on sorted needles)."""
        pos = np.full(len(distinct), -1, np.int64)
        probe = hashes if order is None else hashes[order]
        for sorted_hashes, at in self.pieces:
            p = np.minimum(np.searchsorted(sorted_hashes, probe), len(sorted_hashes) - 1)
            hit = sorted_hashes[p] == probe
            pos[hit if order is None else order[hit]] = at[p[hit]]
        w = np.flatnonzero(pos >= 0)
        if len(w) and not pc.all(pc.equal(distinct.take(pa.array(w)), self._keys().take(pa.array(pos[w])))).as_py():
            held = self._keys().combine_chunks()  # a hash shared by two keys: exact lookups
            return pc.index_in(distinct, value_set=held).fill_null(-1).to_numpy()
        return pos

    @staticmethod
    def _groups(part: pa.Array, h: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                        np.ndarray]:
        """(order, heads, sizes, group of each row): rows grouped by key, groups numbered as they stand in
        `order` (stable: a group's rows in record order, its head the first); `order` sorts h (stable)."""
        ordered = h[order]
        heads = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        sizes = np.diff(np.r_[heads, len(h)])
        group = np.empty(len(h), np.int64)
        group[order] = np.repeat(np.arange(len(heads)), sizes)
        shared = np.flatnonzero(np.repeat(sizes > 1, sizes))  # places in `order` of rows sharing their hash
        if len(shared):  # the same key, or group by the text itself
            rows = order[shared]
            first = order[heads][group[rows]]
            if not pc.all(pc.equal(part.take(pa.array(rows)), part.take(pa.array(first)))).as_py():
                idx = pc.dictionary_encode(part).indices.to_numpy()
                order = np.argsort(idx, kind="stable")
                ordered = idx[order]
                heads = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
                sizes = np.diff(np.r_[heads, len(idx)])
                group[order] = np.repeat(np.arange(len(heads)), sizes)
        return order, heads, sizes, group

    def _segment(self, keys: pa.Array, hashes: np.ndarray, start: int, end: int, occ: np.ndarray) -> int:
        """Number keys[start:end] up to the first new identity that finds the table full; where to go on from."""
        part = keys.slice(start, end - start)
        h = hashes[start:end]
        by_hash = np.argsort(h, kind="stable")
        ordered = h[by_hash]
        if not (ordered[1:] == ordered[:-1]).any():  # every key once (the usual chunk): no copy of the keys
            order = heads = group = np.arange(len(h))
            sizes = np.ones(len(h), np.int64)
            distinct = part
        else:
            order, heads, sizes, group = self._groups(part, h, by_hash)
            by_hash = None
        first = order[heads]  # each group's first row
        if by_hash is None:
            distinct = part.take(pa.array(first))
        pos = self._held(distinct, h, by_hash) if by_hash is not None else self._held(distinct, h[first])
        held = pos >= 0
        prev = np.zeros(len(heads), np.int64)
        prev[held] = self.counts[pos[held]]
        rank = np.empty(len(h), np.int64)
        rank[order] = np.arange(len(h)) - np.repeat(heads, sizes) + 1
        new = np.flatnonzero(~held)
        room = self.limit - len(self.counts)
        if len(new) > room:  # the (room+1)-th new key empties the table first: number up to it, then afresh
            cut = int(np.sort(first[new])[room])
            if cut:
                self._segment(keys, hashes, start, start + cut, occ)
            self._reset()
            return start + cut
        occ[start:end] = prev[group] + rank
        totals = prev + sizes
        self.counts[pos[held]] = totals[held]
        if by_hash is not None and len(new) == len(h):  # all rows new, their hashes' order known
            self._add(distinct, h, totals, by_hash)
        else:
            self._add(distinct.take(pa.array(new, pa.int64())), h[first[new]], totals[new])
        return end


def run_chunk(con: duckdb.DuckDBPyConnection, chunk: pa.Table, fields: pa.Table, kind: str,
              row: Callable[[Any], dict[str, Any]], identity_key: Callable[[tuple[Any, ...]], str],
              seen: Numbers, ctx: ParseContext, raw_item: Callable[[dict[str, Any]], Any],
              item_at: Callable[[int], Any] | None = None) -> UsageChunk:
    """Type one chunk in SQL; records outside the bulk shapes go through the row path, in record order.

    `fields` is json_fields(chunk) for JSON items, the chunk itself for the console CSV and for items read by
    newapi_lines (whose `item_at(i)` gives record i as the row path reads it).
    """
    src = per_value(con, fields)
    if kind == "csv":  # cells of plain digits and booleans typed in Arrow: only the others take the text SQL
        values = newapi_csv.values(src, lambda k, t: _arrow(con, value_sql(k), src=t))
    else:
        values = _arrow(con, value_sql(kind), src=src)
    _same_rows(src, values)
    # key names that look like keys are hashed before they enter the identity (once per distinct name)
    tokens = values.column("token")
    names = pc.unique(tokens).to_pylist()
    safe = pa.array([safe_name(n, ctx.secret_pattern) for n in names], pa.string())
    values = values.append_column("token_safe", pc.take(safe, pc.index_in(tokens, pa.array(names, pa.string()))))
    # the identity key in Arrow (the time's text from per-day and per-second tables): no strftime or concat in SQL
    values = values.append_column("key", newapi_keys.keys(values, newapi_keys.at_texts(values.column("occurred"))))
    result = _arrow(con, FINAL_SQL, v=values)
    _same_rows(values, result)
    result = result.append_column("key", values.column("key"))
    ok = result.column("ok")
    bad_at = pc.indices_nonzero(pc.invert(ok)).to_pylist() if result.num_rows else []
    numbers = result.column("rn")
    raws = chunk.column("json") if kind == "json" else None
    builder = RowBuilder(ctx)
    slow: dict[int, dict[str, Any]] = {}
    for i in bad_at:
        if item_at is not None:
            item = item_at(i)
        elif raws is None:
            item = raw_item(chunk.slice(i, 1).to_pylist()[0])
        else:  # a JSON null item arrives as SQL NULL
            raw = raws[i].as_py()
            item = None if raw is None else json.loads(raw, parse_float=Decimal)
        try:
            r = row(item)
        except BadValue as exc:
            field, _, reason = str(exc).partition(": ")
            builder.error(numbers[i].as_py(), field, reason or str(exc))
        else:
            r["_key"] = identity_key(r.pop("_identity"))
            r["source_record"] = numbers[i].as_py()
            slow[i] = r
    good = result.filter(ok) if bad_at else result
    record_ids = good.column("rid1")
    slow_rows = []
    if slow:  # all keys in record order: the row-path records take their turn among the others
        keep = ok.to_numpy(zero_copy_only=False).copy()
        at = np.fromiter(slow, np.int64, len(slow))
        keep[at] = True
        kept = np.flatnonzero(keep)
        keys = result.column("key").combine_chunks().take(pa.array(kept))
        is_slow = np.zeros(len(keep), bool)
        is_slow[at] = True
        mask = is_slow[kept]
        slow_keys = pa.array([slow[int(i)]["_key"] for i in kept[mask]], pa.string())
        keys = pc.replace_with_mask(keys, pa.array(mask), slow_keys)
        slow_ids = pa.array([hashlib_id(slow[int(i)]["_key"], 1) for i in kept[mask]], pa.string())
        ids1 = pc.replace_with_mask(result.column("rid1").combine_chunks().take(pa.array(kept)), pa.array(mask),
                                    slow_ids)
        occ_all = seen.number(keys, ids1)
        occ = occ_all[~mask]
        for i, o in zip(kept[mask].tolist(), occ_all[mask].tolist(), strict=True):
            r = slow[i]
            r["record_id"] = hashlib_id(r.pop("_key"), o)
            slow_rows.append(r)
        good_keys = keys.filter(pa.array(~mask))
    else:
        good_keys = good.column("key").combine_chunks()
        occ = seen.number(good_keys, record_ids.combine_chunks())
    again = np.flatnonzero(occ != 1)
    if len(again):  # a repeated identity: its id hashes its occurrence number (only those ids replaced)
        texts = good_keys.take(pa.array(again)).to_pylist()
        fixed = pa.array([hashlib_id(k, o) for k, o in zip(texts, occ[again].tolist(), strict=True)], pa.string())
        mask = np.zeros(len(occ), bool)
        mask[again] = True
        record_ids = pc.replace_with_mask(record_ids.combine_chunks(), pa.array(mask), fixed)
    n = good.num_rows
    kind_col = good.column("kind")
    is_consume = pc.equal(kind_col, "consume")
    cost = good.column("cost")
    token_safe = good.column("token_safe")
    table = pa.table({
        "record_id": record_ids,
        "import_id": pa.nulls(n, pa.string()),
        "source_record": good.column("rn"),
        "record_kind": kind_col,
        "occurred_at": good.column("occurred"),
        "original_offset": pa.repeat(pa.scalar("Z"), n),
        "provider": pa.repeat(pa.scalar("newapi"), n),
        "model_reported": pc.if_else(pc.equal(good.column("model"), ""), pa.scalar(None, pa.string()),
                                     good.column("model")),
        "route_family": good.column("route"),
        "request_id": good.column("request_id"),
        "status_code": pc.if_else(is_consume, pa.scalar(200), pa.scalar(None, pa.int64())),
        "status_class": pc.if_else(is_consume, "2xx", pc.if_else(pc.equal(kind_col, "error"), "5xx", "")),
        "attempt": pa.repeat(pa.scalar(1), n),
        "is_retry": pa.repeat(pa.scalar(False), n),
        "is_stream": good.column("is_stream"),
        "is_partial": pa.repeat(pa.scalar(False), n),
        "environment": pa.nulls(n, pa.string()),
        "api_key_name": pc.if_else(pc.equal(token_safe, ""), pa.scalar(None, pa.string()), token_safe),
        "pricing_group": good.column("grp"),
        **{c: pa.nulls(n, pa.string()) for c in ("cost_center", "project", "customer", "workflow")},
        "input_tokens": good.column("input_tokens"),
        "cached_input_tokens": good.column("cached_input_tokens"),
        "cache_write_tokens": good.column("cache_write_tokens"),
        "output_tokens": good.column("output_tokens"),
        **{c: pa.nulls(n, pa.int64()) for c in ("reasoning_tokens", "audio_input_tokens", "audio_output_tokens",
                                                 "images")},
        "requests": good.column("requests"),
        "seconds": good.column("use_time"),
        "provider_reported_cost": cost,
        "provider_reported_currency": pc.if_else(pc.is_null(cost), pa.scalar(None, pa.string()), "USD"),
        "provider_ratios": good.column("ratios"),
        "usage_origin": pa.repeat(pa.scalar("reported"), n),
    })
    table = table.cast(USAGE_SCHEMA)
    if slow_rows:
        table = pa.concat_tables([table, to_table(slow_rows)])
        table = table.take(pc.sort_indices(table.column("source_record")))
    table = sanitize_table(table, ctx.secret_pattern)
    errors = sorted(builder.errors, key=lambda e: e.record)
    return UsageChunk(table, errors, table.num_rows + len(errors))


def hashlib_id(key: str, occurrence: int) -> str:
    return hashlib.sha256(f"{key}\x1f{occurrence}".encode()).hexdigest()[:24]


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def json_chunks(path: Path, size: int) -> Iterator[pa.Table]:
    """(rn, json) tables of a top-level JSON array of log rows, in file order (rn = 1-based item index)."""
    con = _connect()
    rel = con.sql(f"SELECT json FROM read_json('{_sql_path(path)}', format='array', records=false, "
                  f"columns={{'json': 'JSON'}}, maximum_object_size={_MAX_OBJECT})")
    first = 1
    for batch in rel.to_arrow_reader(size):
        n = batch.num_rows
        yield pa.table({"rn": pa.array(np.arange(first, first + n, dtype=np.int64)), "json": batch.column(0)})
        first += n


def csv_chunks(path: Path, size: int, names: list[str]) -> Iterator[pa.Table]:
    """(rn, f_<field>...) tables of a console CSV; rn = the file line (header = 1)."""
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, null_values=[],
                                   strings_can_be_null=False, quoted_strings_can_be_null=False,
                                   include_columns=[n for n in names if n in FIELDS])
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=16 << 20),
                            parse_options=pacsv.ParseOptions(newlines_in_values=False), convert_options=convert)
    first = 2
    for batch in reader:
        for start in range(0, batch.num_rows, size):
            piece = batch.slice(start, size)
            cols = {"rn": pa.array(np.arange(first, first + piece.num_rows, dtype=np.int64))}
            for f in FIELDS:
                idx = piece.schema.get_field_index(f)
                cols[f"f_{f}"] = piece.column(idx) if idx >= 0 else pa.nulls(piece.num_rows, pa.string())
            yield pa.table(cols)
            first += piece.num_rows


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
