"""The newapi-log bulk path: DuckDB reads and types whole chunks; records it cannot vouch for go to the row path.

A record takes the bulk path only when every field has a shape whose row-path result is certain (integers that
are integers, strings that are strings, `other` a JSON object text with plain ratio values); anything else is
handed to `newapi_log._row` verbatim, so quarantine reasons and identities are the row path's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from costproof.model.sanitize import safe_name
from costproof.sources.usage import vector
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
_RATIOS = ("cache_ratio", "completion_ratio", "group_ratio", "model_price", "model_ratio")  # sorted, as json.dumps
_INT = r"^\s*-?[0-9]+(\.0+)?\s*$"
_PLAIN = r"^[\x20-\x21\x23-\x5b\x5d-\x7e]*$"  # printable ASCII without quote or backslash: json.dumps keeps it
# a float whose yyjson text is also Python's str(float): fixed notation, no trailing zeros, <= 15 digits
_FLOAT_OK = r"^-?(0|[1-9][0-9]*)\.([0-9]*[1-9]|0)$"
_EDGES = r"^(?s)([\x21-\x7e].*[\x21-\x7e]|[\x21-\x7e]?)$"


_O_KEYS = ("cache_tokens", "cache_creation_tokens", "request_path", *_RATIOS)
_O_PATHS = "[" + ", ".join(f"'$.\"{k}\"'" for k in _O_KEYS) + "]"


def _o(key: str) -> tuple[str, str]:
    """(JSON type, text) of one key of `other`, from the row's single extraction."""
    item = f"o_list[{_O_KEYS.index(key) + 1}]"
    return (f"json_type({item})",
            f"CASE WHEN json_type({item}) = 'VARCHAR' THEN json_extract_string({item}, '$') "
            f"WHEN json_type({item}) <> 'NULL' THEN CAST({item} AS VARCHAR) END")


def _typed(kind: str, value: str, json_type: str) -> tuple[str, str]:
    """(SQL for the int value or NULL, SQL that is true when the row path would read it the same way)."""
    as_int = (f"CASE WHEN regexp_matches({value}, '{_INT}') "
              f"THEN TRY_CAST(TRY_CAST(trim({value}) AS DECIMAL(38,6)) AS BIGINT) END")
    if kind == "json":
        ok = f"({json_type} IN ('BIGINT', 'UBIGINT') AND TRY_CAST({value} AS BIGINT) IS NOT NULL)"
        return (f"CASE WHEN {json_type} IN ('BIGINT', 'UBIGINT') THEN TRY_CAST({value} AS BIGINT) "
                f"WHEN {json_type} = 'VARCHAR' THEN {as_int} END",
                f"({json_type} IS NULL OR {json_type} = 'NULL' OR {ok} OR ({json_type} = 'VARCHAR' AND "
                f"({value} = '' OR {as_int} IS NOT NULL)))")
    return as_int, f"({value} IS NULL OR {value} = '' OR {as_int} IS NOT NULL)"


def record_sql(source: str, kind: str) -> str:
    """One typed row per record of `source` (columns f_<field> as text, t_<field> JSON types for JSON input)."""

    def v(name: str) -> str:
        return f"f_{name}"

    def t(name: str) -> str:
        return f"t_{name}" if kind == "json" else "'VARCHAR'"

    ints = {}
    oks = []
    for name in ("type", "quota", "prompt_tokens", "completion_tokens", "use_time"):
        ints[name], ok = _typed(kind, v(name), t(name))
        oks.append(ok)
    text_ok = [f"({t(n)} IS NULL OR {t(n)} IN ('VARCHAR', 'NULL'))" for n in ("token_name", "model_name", "group",
                                                                                "request_id", "other")]
    # Python's str.strip() knows every Unicode space; only plain ASCII edges are stripped alike here
    text_ok += [f"(f_{n} IS NULL OR regexp_matches(trim(f_{n}), '{_EDGES}'))" for n in ("token_name", "model_name",
                                                                                       "group", "request_id")]
    # Python reads `other` with json.loads; DuckDB's parser agrees on plain objects
    other = "f_other"
    o_val = f"CASE WHEN {other} <> '' AND json_valid({other}) THEN {other} END"
    o_ok = (f"({other} IS NULL OR {other} = '' OR (NOT regexp_matches({other}, '[\\x00-\\x1f]') "
            f"AND json_type({o_val}) = 'OBJECT'))")

    def o_int(key: str) -> tuple[str, str]:
        jt, raw = _o(key)
        val = (f"CASE WHEN {jt} IN ('BIGINT', 'UBIGINT') THEN TRY_CAST({raw} AS BIGINT) "
               f"WHEN {jt} = 'VARCHAR' AND regexp_matches({raw}, '{_INT}') THEN TRY_CAST(TRY_CAST(trim({raw}) "
               f"AS DECIMAL(38,6)) AS BIGINT) END")
        ok = (f"({jt} IS NULL OR {jt} = 'NULL' OR ({jt} = 'VARCHAR' AND {raw} = '') OR "
              f"({val} IS NOT NULL AND {val} >= 0))")
        return f"coalesce({val}, 0)", ok

    cached, cached_ok = o_int("cache_tokens")
    write, write_ok = o_int("cache_creation_tokens")
    path_t, path_raw = _o("request_path")
    path_ok = (f"({path_t} IS NULL OR {path_t} = 'NULL' OR ({path_t} = 'VARCHAR' AND "
               f"regexp_matches(trim({path_raw}), '{_EDGES}')))")
    ratio_parts, ratio_oks = [], []
    for key in _RATIOS:
        jt, raw = _o(key)
        text = f"CASE WHEN {jt} IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'VARCHAR') AND {raw} <> '' THEN {raw} END"
        ratio_oks.append(
            f"({jt} IS NULL OR {jt} = 'NULL' OR {jt} IN ('BIGINT', 'UBIGINT') OR "
            f"({jt} = 'VARCHAR' AND regexp_matches({raw}, '{_PLAIN}')) OR "
            f"({jt} = 'DOUBLE' AND regexp_matches({raw}, '{_FLOAT_OK}') AND length({raw}) <= 16 "
            f"AND NOT starts_with(ltrim({raw}, '-'), '0.0000')))")
        ratio_parts.append(f"CASE WHEN {text} IS NOT NULL THEN '\"{key}\": \"' || {text} || '\"' END")
    ratios = f"NULLIF('{{' || concat_ws(', ', {', '.join(ratio_parts)}) || '}}', '{{}}')"

    ts = "f_created_at"
    num_time = (f"({t('created_at')} IN ('BIGINT', 'UBIGINT') AND TRY_CAST({ts} AS BIGINT) BETWEEN 0 AND 99999999999)"
                if kind == "json" else "FALSE")
    str_time = (f"({t('created_at')} = 'VARCHAR' AND regexp_matches({ts}, '^\\s*[0-9]{{9,11}}\\s*$'))")
    bool_t = t("is_stream")
    low = "lower(trim(f_is_stream))"
    stream_ok = (f"(f_is_stream IS NULL OR f_is_stream = '' OR ({bool_t} = 'BOOLEAN') OR "
                 f"({bool_t} IN ('BIGINT', 'UBIGINT') AND f_is_stream IN ('0', '1')) OR "
                 f"({bool_t} = 'VARCHAR' AND {low} IN ('true', 'false', '1', '0', 'yes', 'no')))")
    stream = f"coalesce({low} IN ('true', '1', 'yes'), false)"
    kind_code = ints["type"]
    model = "coalesce(trim(f_model_name), '')"
    billable = "kind IN ('consume', 'error', 'refund')"
    return f"""
    WITH r AS (
      SELECT rn, {kind_code} AS code,
        CASE {kind_code} WHEN 1 THEN 'topup' WHEN 2 THEN 'consume' WHEN 3 THEN 'manage' WHEN 4 THEN 'system'
             WHEN 5 THEN 'error' WHEN 6 THEN 'refund' WHEN 7 THEN 'login' END AS kind,
        to_timestamp(TRY_CAST(trim({ts}) AS BIGINT)) AS occurred,
        {model} AS model,
        coalesce({ints['quota']}, 0) AS quota,
        coalesce({ints['prompt_tokens']}, 0) AS prompt,
        coalesce({ints['completion_tokens']}, 0) AS completion,
        {ints['use_time']} AS use_time,
        {cached} AS cached, {write} AS cache_write,
        trim(f_token_name) AS token, NULLIF(trim(f_group), '') AS grp, NULLIF(trim(f_request_id), '') AS request_id,
        NULLIF(trim({path_raw}), '') AS route,
        {stream} AS is_stream,
        {ratios} AS ratios,
        ({' AND '.join([*oks, *text_ok, o_ok, cached_ok, write_ok, path_ok, *ratio_oks, stream_ok])}
         AND ({num_time} OR {str_time})
         AND coalesce({ints['prompt_tokens']}, 0) >= 0 AND coalesce({ints['completion_tokens']}, 0) >= 0
         AND coalesce({ints['use_time']}, 0) >= 0) AS ok
      FROM (SELECT *, json_extract({o_val}, {_O_PATHS}) AS o_list FROM {source})
    )
    SELECT rn, code, kind, occurred, strftime(occurred, '%Y-%m-%dT%H:%M:%S') || '+00:00' AS at_text, model,
      quota, prompt,
      completion, use_time, cached, cache_write, token, grp,
      request_id, route, is_stream, ratios,
      ok AND kind IS NOT NULL AND occurred IS NOT NULL
         AND NOT (kind IN ('consume', 'error', 'refund') AND model = '')
         AND (starts_with(lower(model), 'claude') OR prompt - cached - cache_write >= 0) AS ok,
      CASE WHEN {billable} THEN CASE WHEN starts_with(lower(model), 'claude') THEN prompt
                                     ELSE prompt - cached - cache_write END ELSE 0 END AS input_tokens,
      CASE WHEN {billable} THEN cached ELSE 0 END AS cached_input_tokens,
      CASE WHEN {billable} THEN cache_write ELSE 0 END AS cache_write_tokens,
      CASE WHEN {billable} THEN completion ELSE 0 END AS output_tokens,
      CASE WHEN kind = 'consume' THEN 1 ELSE 0 END AS requests,
      CASE WHEN kind IN ('consume', 'error') THEN CAST(CAST(quota AS HUGEINT) * 2 AS DECIMAL(38, 0)) * 0.000001
           WHEN kind = 'refund' THEN CAST(-abs(CAST(quota AS HUGEINT)) * 2 AS DECIMAL(38, 0)) * 0.000001
      END AS cost
    FROM r
    """


def json_source() -> str:
    paths = "[" + ", ".join(f"'$.\"{f}\"'" for f in FIELDS) + "]"
    items = {f: f"l[{i + 1}]" for i, f in enumerate(FIELDS)}
    return f"""(SELECT rn, {', '.join(f'json_type({x}) AS t_{f}' for f, x in items.items())},
                 {', '.join(f"CASE WHEN json_type({x}) = 'VARCHAR' THEN json_extract_string({x}, '$') "
                            f"WHEN json_type({x}) <> 'NULL' THEN CAST({x} AS VARCHAR) END AS f_{f}"
                            for f, x in items.items())}
              FROM (SELECT rn, json_extract(json, {paths}) AS l FROM chunk))"""


def run_chunk(con: duckdb.DuckDBPyConnection, chunk: pa.Table, kind: str,
              row: Callable[[Any], dict[str, Any]], identity_key: Callable[[tuple[Any, ...]], str],
              seen: Occurrences, ctx: ParseContext, raw_item: Callable[[dict[str, Any]], Any]) -> UsageChunk:
    """Type one chunk in SQL; records outside the bulk shapes go through the row path, in record order."""
    con.register("chunk", vector.scan_batches(chunk))
    try:
        source = json_source() if kind == "json" else "chunk"
        result = con.sql(record_sql(source, kind) + " ORDER BY rn").to_arrow_table()
        raws = chunk.column("json") if kind == "json" else None
    finally:
        con.unregister("chunk")
    ok = result.column("ok").fill_null(False) if result.num_rows else pa.array([], pa.bool_())
    numbers = result.column("rn").to_pylist()
    bad_at = [i for i, flag in enumerate(ok.to_pylist()) if not flag]
    builder = RowBuilder(ctx)
    slow: dict[int, dict[str, Any]] = {}
    for i in bad_at:
        if raws is None:
            item = raw_item(chunk.slice(i, 1).to_pylist()[0])
        else:  # a JSON null item arrives as SQL NULL
            raw = raws[i].as_py()
            item = None if raw is None else json.loads(raw, parse_float=Decimal)
        try:
            slow[i] = row(item)
        except BadValue as exc:
            field, _, reason = str(exc).partition(": ")
            builder.error(numbers[i], field, reason or str(exc))
    good = result.filter(ok)
    # key names that look like keys are hashed before they enter the identity (once per distinct name)
    tokens = good.column("token")
    names = pc.unique(tokens).to_pylist()
    safe = pa.array([safe_name(n or "", ctx.secret_pattern) for n in names], pa.string())
    token_safe = pc.take(safe, pc.index_in(tokens, pa.array(names, pa.string())))
    parts = [good.column("request_id").fill_null(""), good.column("at_text"), token_safe, good.column("model"),
             *(pc.cast(good.column(c), pa.string()) for c in ("code", "quota", "prompt", "completion")),
             pc.cast(good.column("use_time"), pa.string()).fill_null("")]
    keys = pc.binary_join_element_wise("newapi-log", *parts, "\x1f").to_pylist()
    good_index = iter(range(good.num_rows))
    good_keys: list[str] = []
    good_occ: list[int] = []
    slow_rows: list[dict[str, Any]] = []
    is_bad = set(bad_at)
    for i in range(result.num_rows):
        if i not in is_bad:
            key = keys[next(good_index)]
            good_keys.append(key)
            good_occ.append(seen.next_key(key))
        elif i in slow:
            r = slow[i]
            key = identity_key(r.pop("_identity"))
            r["record_id"] = hashlib_id(key, seen.next_key(key))
            r["source_record"] = numbers[i]
            slow_rows.append(r)
    con.register("g", vector.scan_batches(pa.table({"i": pa.array(range(len(good_keys)), pa.int64()),
                                                    "k": good_keys, "o": pa.array(good_occ, pa.int64())})))
    try:
        record_ids = con.sql("SELECT left(sha256(k || chr(31) || CAST(o AS VARCHAR)), 24) FROM g ORDER BY i"
                             ).to_arrow_table().column(0)
    finally:
        con.unregister("g")
    n = good.num_rows
    kind_col = good.column("kind")
    is_consume = pc.equal(kind_col, "consume")
    cost = good.column("cost")
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
    import hashlib

    return hashlib.sha256(f"{key}\x1f{occurrence}".encode()).hexdigest()[:24]


def json_chunks(path: Path, size: int) -> Iterator[pa.Table]:
    """(rn, json) tables of a top-level JSON array of log rows, in file order (rn = 1-based item index)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    rel = con.sql(f"SELECT json FROM read_json('{_sql_path(path)}', format='array', records=false, "
                  "columns={'json': 'JSON'}, maximum_object_size=268435456)")
    first = 1
    for batch in rel.to_arrow_reader(size):
        n = batch.num_rows
        yield pa.table({"rn": pa.array(range(first, first + n), pa.int64()), "json": batch.column(0)})
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
            cols = {"rn": pa.array(range(first, first + piece.num_rows), pa.int64())}
            for f in FIELDS:
                idx = piece.schema.get_field_index(f)
                cols[f"f_{f}"] = piece.column(idx) if idx >= 0 else pa.nulls(piece.num_rows, pa.string())
            yield pa.table(cols)
            first += piece.num_rows


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
