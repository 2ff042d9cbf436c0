"""FinOps FOCUS 1.0–1.3 cost-and-usage rows (CSV or Parquet), one usage row per FOCUS row."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from costproof.model.errors import InputError
from costproof.model.meters import METERS
from costproof.model.sanitize import safe_name
from costproof.sources.usage.base import (
    LABEL_KEYS,
    ParseContext,
    UsageChunk,
    extract_labels,
    label_key,
)
from costproof.sources.usage.vector import (
    ERR_FIELD,
    ERR_REASON,
    ROW_NUMBER,
    TIME_SCHEMA,
    batches,
    connect,
    csv_header,
    distinct_map,
    finish,
    in_row_order,
    is_parquet,
    quote,
    scan_batches,
    time_map,
    with_row_numbers,
)

NAME = "focus"
_MARKERS = ("ChargePeriodStart", "BilledCost", "BillingCurrency")
# FOCUS ChargeCategory -> record_kind; only Usage rows carry meters
KINDS = {"usage": "consume", "credit": "refund", "purchase": "topup", "tax": "unknown", "adjustment": "unknown"}
_UNIT = re.compile(
    r"^\s*(?P<n>\d[\d,_]*(?:\.\d+)?)?\s*(?P<scale>k|m|thousand|million)?\s*"
    r"(?P<what>tokens?|requests?|calls?|api calls?|images?|seconds?|executions?)\s*$",
    re.IGNORECASE,
)
_SCALES = {"k": 1000, "thousand": 1000, "m": 1_000_000, "million": 1_000_000}
_WHAT = {
    "token": "tokens",
    "request": "requests",
    "call": "requests",
    "api call": "requests",
    "execution": "requests",
    "image": "images",
    "second": "seconds",
}
# first match wins: the specific kinds of input before plain input
_HINTS = (
    ("cache_write_tokens", re.compile(r"cache[\s_\-:]*(write|creation|create)")),
    ("cached_input_tokens", re.compile(r"cache[\s_\-:]*(read|hit)|cached")),
    ("reasoning_tokens", re.compile(r"reasoning|thinking")),
    ("audio_output_tokens", re.compile(r"audio.*(output|completion)|(output|completion).*audio")),
    ("audio_input_tokens", re.compile(r"audio.*(input|prompt)|(input|prompt).*audio")),
    ("output_tokens", re.compile(r"output|completion|generated|response")),
    ("input_tokens", re.compile(r"input|prompt")),
)
_DIRECTION_WORDS = re.compile(
    r"[\s_\-/:.]*(cached|cache[\s_\-]*(read|write|creation|hit)|audio|text|reasoning|input|output|"
    r"prompt|completion|tokens?)\b",
    re.IGNORECASE,
)
_TAG_MODEL_KEYS = ("model", "litellm:model", "ai:model", "model_name", "modelname", "Model")
_TAG_HINT_KEYS = ("token_type", "tokentype", "TokenType", "meter", "direction", "litellm:token_type")
_LABEL_SCHEMA = pa.schema([(k, pa.string()) for k in LABEL_KEYS])


def sniff(head: bytes, name: str) -> bool:
    if head[:4] == b"PAR1":
        return _parquet_is_focus(name)
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    return all(m in first for m in _MARKERS)


def _parquet_is_focus(name: str) -> bool:
    try:
        import pyarrow.parquet as pq

        names = set(pq.read_schema(name).names)
    except Exception:  # noqa: BLE001 - a sniffer answers no, never raises
        return False
    return all(m in names for m in _MARKERS)


def parse(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    path = Path(path)
    if is_parquet(path):
        import pyarrow.parquet as pq

        columns = list(pq.read_schema(path).names)
    else:
        columns = csv_header(path, ctx.file_label)
    missing = [m for m in _MARKERS if m not in columns]
    if missing:
        raise InputError(f"not a FOCUS file: no column(s) {', '.join(missing)}", file=ctx.file_label, record=1)
    con = connect()
    for first, table in batches(path, ctx):
        yield _chunk(con, with_row_numbers(table, first), ctx)


def _chunk(con: Any, table: pa.Table, ctx: ParseContext) -> UsageChunk:
    names = [n for n in table.schema.names if n != ROW_NUMBER]
    have = set(names)

    def col(*options: str) -> str:
        for option in options:
            if option in have:
                return f"b.{quote(option)}"
        return "NULL"

    # distinct values go through Python once; rows join to the results
    start = "ChargePeriodStart"
    time_tbl = distinct_map(con, table, start, time_map, TIME_SCHEMA)
    unit_name = "ConsumedUnit" if "ConsumedUnit" in have else ("UsageUnit" if "UsageUnit" in have else None)
    qty_name = (
        "ConsumedQuantity" if "ConsumedQuantity" in have else ("UsageQuantity" if "UsageQuantity" in have else None)
    )
    sku_parts = [
        n for n in ("SkuMeter", "SkuId", "ChargeDescription", "ResourceName", "x_Model", "x_ModelName") if n in have
    ]
    sku_key = (
        pc.binary_join_element_wise(
            *[pc.fill_null(pc.cast(table.column(n), pa.string()), "") for n in sku_parts], "\x1f"
        )
        if sku_parts
        else pa.nulls(table.num_rows, pa.string())
    )
    table = table.append_column("__sku", sku_key)
    sku_tbl = distinct_map(
        con, table, "__sku", lambda v: _sku(v, sku_parts), pa.schema([("hint", pa.string()), ("model", pa.string())])
    )
    if unit_name:
        unit_tbl = distinct_map(
            con,
            table,
            unit_name,
            _unit,
            pa.schema([("kind", pa.string()), ("mult", pa.int64()), ("u_err", pa.string())]),
        )
    else:
        unit_tbl = pa.table(
            {
                "key": pa.array([], pa.string()),
                "kind": pa.array([], pa.string()),
                "mult": pa.array([], pa.int64()),
                "u_err": pa.array([], pa.string()),
            }
        )
    tag_schema = pa.schema([*_LABEL_SCHEMA, ("hint", pa.string()), ("model", pa.string()), ("tag_err", pa.string())])
    if "Tags" in have:
        tag_tbl = distinct_map(con, table, "Tags", lambda v: _tags(v, ctx), tag_schema)
    else:
        tag_tbl = pa.table({"key": pa.array([], pa.string()), **{f.name: pa.array([], f.type) for f in tag_schema}})
    # each row's results picked by a vectorized lookup (no join, so DuckDB keeps the rows in record order)
    table = _lookup(table, start, time_tbl, "tm")
    table = _lookup(table, "__sku", sku_tbl, "sk")
    table = _lookup(table, unit_name, unit_tbl, "un")
    table = _lookup(table, "Tags" if "Tags" in have else None, tag_tbl, "tg")
    table, texts = _texts(con, table, names)
    con.register("b", scan_batches(table))

    x_labels: dict[str, str] = {}
    for name in names:
        if name.startswith("x_"):
            label = label_key(name[2:])
            if label and label not in x_labels:
                x_labels[label] = f"NULLIF(trim(CAST(b.{quote(name)} AS VARCHAR)), '')"
    fallback = {"project": 'b."SubAccountName"' if "SubAccountName" in have else "NULL"}
    label_sql = {}
    for label in LABEL_KEYS:
        parts = [_got("tg", label)]
        if label in x_labels:
            parts.append(x_labels[label])
        if label in fallback:
            parts.append(fallback[label])
        label_sql[label] = f"coalesce({', '.join(parts)})" if len(parts) > 1 else parts[0]

    qty = col(qty_name) if qty_name else "NULL"
    unit = col(unit_name) if unit_name else "NULL"
    kind_case = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in KINDS.items())
    content = ", ".join(f"coalesce({texts.get(n) or f'CAST(b.{quote(n)} AS VARCHAR)'}, '')" for n in names)
    meter_cols = ",\n".join(f"CASE WHEN __meter = '{m}' THEN CAST(__q AS BIGINT) ELSE 0 END AS {m}" for m in METERS)
    sql = f"""
    WITH base AS (
      SELECT b.{ROW_NUMBER} AS rn,
        b.{quote(start)} AS raw_start, {_got("tm", "t")} AS occurred_at, {_got("tm", "o")} AS original_offset,
        {_got("tm", "t_err")} AS t_err,
        {_decimal(table, "BilledCost", texts)} AS cost,
        {col("BilledCost")} AS raw_cost,
        upper(trim(CAST({col("BillingCurrency")} AS VARCHAR))) AS currency,
        lower(trim(CAST({col("ChargeCategory")} AS VARCHAR))) AS category,
        {qty} AS raw_qty,
        {_decimal(table, qty_name, texts) if qty_name else "NULL"} AS qty,
        {unit} AS raw_unit, {_got("un", "kind")} AS kind, {_got("un", "mult")} AS mult, {_got("un", "u_err")} AS u_err,
        coalesce({_got("tg", "hint")}, {_got("sk", "hint")}) AS hint,
        coalesce({_got("tg", "model")}, {_got("sk", "model")}) AS model,
        {_got("tg", "tag_err")} AS tag_err,
        {", ".join(f"{sql} AS {quote('l_' + k)}" for k, sql in label_sql.items())},
        coalesce({col("ServiceProviderName")}, {col("ProviderName")}, {col("PublisherName")}) AS provider,
        left(sha256(concat_ws(chr(31), '{NAME}', {content})), 24) AS record_id
      FROM b
    ), typed AS (
      SELECT *,
        CASE WHEN category = 'usage' AND qty IS NOT NULL AND qty < 1e15 THEN qty * mult END AS __q,
        CASE WHEN category = 'usage' AND kind = 'tokens' THEN hint
             WHEN category = 'usage' THEN kind END AS __meter
      FROM base
    ), checked AS (
      SELECT *,
        CASE
          WHEN raw_start IS NULL THEN 'ChargePeriodStart'
          WHEN occurred_at IS NULL THEN 'ChargePeriodStart'
          WHEN raw_cost IS NULL THEN 'BilledCost'
          WHEN cost IS NULL THEN 'BilledCost'
          WHEN currency IS NULL OR currency = '' THEN 'BillingCurrency'
          WHEN category IS NULL OR category = '' THEN 'ChargeCategory'
          WHEN tag_err IS NOT NULL THEN 'Tags'
          WHEN category = 'usage' AND raw_qty IS NOT NULL AND qty IS NULL THEN 'ConsumedQuantity'
          WHEN category = 'usage' AND qty < 0 THEN 'ConsumedQuantity'
          WHEN category = 'usage' AND qty >= 1e15 THEN 'ConsumedQuantity'
          WHEN category = 'usage' AND raw_qty IS NOT NULL AND raw_unit IS NULL THEN 'ConsumedUnit'
          WHEN category = 'usage' AND u_err IS NOT NULL THEN 'ConsumedUnit'
          WHEN category = 'usage' AND raw_qty IS NOT NULL AND kind = 'tokens' AND hint IS NULL THEN 'SkuId'
          WHEN __q IS NOT NULL AND __q <> floor(__q) THEN 'ConsumedQuantity'
        END AS {ERR_FIELD},
        CASE
          WHEN raw_start IS NULL THEN 'missing'
          WHEN occurred_at IS NULL THEN t_err
          WHEN raw_cost IS NULL THEN 'missing'
          WHEN cost IS NULL THEN 'not a number: ' || left(CAST(raw_cost AS VARCHAR), 30)
          WHEN currency IS NULL OR currency = '' THEN 'missing'
          WHEN category IS NULL OR category = '' THEN 'missing'
          WHEN tag_err IS NOT NULL THEN tag_err
          WHEN category = 'usage' AND raw_qty IS NOT NULL AND qty IS NULL
            THEN 'not a number: ' || left(CAST(raw_qty AS VARCHAR), 30)
          WHEN category = 'usage' AND qty < 0 THEN 'negative value ' || CAST(qty AS VARCHAR)
          WHEN category = 'usage' AND qty >= 1e15 THEN 'implausibly large quantity'
          WHEN category = 'usage' AND raw_qty IS NOT NULL AND raw_unit IS NULL
            THEN 'missing (ConsumedQuantity has no unit)'
          WHEN category = 'usage' AND u_err IS NOT NULL THEN u_err
          WHEN category = 'usage' AND raw_qty IS NOT NULL AND kind = 'tokens' AND hint IS NULL
            THEN 'cannot tell input from output tokens (SkuMeter, SkuId, ChargeDescription, Tags say neither)'
          WHEN __q IS NOT NULL AND __q <> floor(__q) THEN 'not a whole number of ' || kind || ' after the unit scale'
        END AS {ERR_REASON}
      FROM typed
    )
    SELECT rn AS {ROW_NUMBER}, {ERR_FIELD}, {ERR_REASON},
      record_id, CAST(NULL AS VARCHAR) AS import_id, rn AS source_record,
      coalesce(CASE category {kind_case} END, 'unknown') AS record_kind,
      occurred_at, original_offset, provider,
      model AS model_reported, CAST(NULL AS VARCHAR) AS route_family, CAST(NULL AS VARCHAR) AS request_id,
      CAST(NULL AS BIGINT) AS status_code, '' AS status_class,
      1 AS attempt, false AS is_retry, false AS is_stream, false AS is_partial,
      {quote("l_environment")} AS environment, {quote("l_api_key_name")} AS api_key_name,
      CAST(NULL AS VARCHAR) AS pricing_group,
      {quote("l_cost_center")} AS cost_center, {quote("l_project")} AS project,
      {quote("l_customer")} AS customer, {quote("l_workflow")} AS workflow,
      {meter_cols},
      cost AS provider_reported_cost, currency AS provider_reported_currency,
      CAST(NULL AS VARCHAR) AS provider_ratios, 'reported' AS usage_origin
    FROM checked
    """
    try:
        result = in_row_order(con.sql(sql).to_arrow_table())
    finally:
        con.unregister("b")
    return finish(result, ctx)


def _lookup(table: pa.Table, column: str | None, mapped: pa.Table, alias: str) -> pa.Table:
    """The table with `alias.<field>` columns: each row's results from `mapped` (key, fields...), null for no key."""
    if column is None or mapped.num_rows == 0:
        index = pa.nulls(table.num_rows, pa.int32())
    else:
        index = pc.index_in(table.column(column), value_set=mapped.column("key"))
    for name in mapped.schema.names[1:]:
        table = table.append_column(f"{alias}.{name}", pc.take(mapped.column(name), index))
    return table


def _texts(con: Any, table: pa.Table, names: list[str]) -> tuple[pa.Table, dict[str, str]]:
    """Typed (Parquet) columns with few distinct values get their text for the record id cast once per value.

    The record id hashes every column as DuckDB casts it to text; casting a timestamp with time zone, a decimal
    or a double row by row is most of the cost of a Parquet chunk, and FOCUS repeats these values (charge
    periods, unit prices). The text is DuckDB's own cast, on the same connection, so the id is unchanged.
    """
    texts: dict[str, str] = {}
    for name in names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or len(column) < 1000:
            continue
        values = pc.unique(column)
        if len(values) * 4 > len(column):
            continue
        con.register("v", pa.table({"v": values}))
        try:
            cast = con.sql("SELECT v, CAST(v AS VARCHAR) AS t FROM v").to_arrow_table()
        finally:
            con.unregister("v")
        index = pc.index_in(column, value_set=cast.column("v"))
        alias = "txt." + name
        table = table.append_column(alias, pc.take(cast.column("t"), index))
        texts[name] = f"b.{quote(alias)}"
    return table, texts


def _decimal(table: pa.Table, name: str, texts: dict[str, str]) -> str:
    """SQL for the column as DECIMAL(38,12), read from its text as a CSV cell would be.

    A Parquet decimal that fits DECIMAL(38,12) without rounding is cast directly (the same number, without
    writing and re-reading its text); other typed values are read from their text, cast once per distinct value
    where `_texts` did that already.
    """
    if name not in table.schema.names:
        return "NULL"
    kind = table.schema.field(name).type
    if pa.types.is_decimal(kind) and kind.scale <= 12 and kind.precision - kind.scale <= 26:
        return f"CAST(b.{quote(name)} AS DECIMAL(38,12))"
    text = texts.get(name) or f"CAST(b.{quote(name)} AS VARCHAR)"
    return f"TRY_CAST(trim({text}) AS DECIMAL(38,12))"


def _got(alias: str, name: str) -> str:
    return f"b.{quote(alias + '.' + name)}"


def _unit(value: Any) -> dict[str, Any]:
    text = str(value).strip()
    match = _UNIT.match(text)
    if not match:
        return {"kind": None, "mult": None, "u_err": f"unknown unit {text[:30]!r}"}
    number = int(match.group("n").replace(",", "").replace("_", "").split(".")[0]) if match.group("n") else 1
    scale = _SCALES.get((match.group("scale") or "").lower(), 1)
    what = match.group("what").lower().rstrip("s")
    return {"kind": _WHAT[what], "mult": max(number, 1) * scale, "u_err": None}


def _sku(value: Any, parts: list[str]) -> dict[str, Any]:
    fields = dict(zip(parts, str(value).split("\x1f"), strict=False))
    text = " ".join(fields.get(n, "") for n in ("SkuMeter", "SkuId", "ChargeDescription")).lower()
    hint = next((meter for meter, rx in _HINTS if rx.search(text)), None)
    model = fields.get("x_Model") or fields.get("x_ModelName") or fields.get("ResourceName") or ""
    if not model and fields.get("SkuId"):
        model = _DIRECTION_WORDS.sub("", fields["SkuId"]).strip(" -_/:.")
    return {"hint": hint, "model": model or None}


def _tags(value: Any, ctx: ParseContext) -> dict[str, Any]:
    empty = {k: None for k in LABEL_KEYS}
    try:
        tags = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return {**empty, "hint": None, "model": None, "tag_err": "not valid JSON"}
    if tags is None:
        tags = {}
    if not isinstance(tags, dict):
        return {**empty, "hint": None, "model": None, "tag_err": "not a JSON object"}
    labels = extract_labels(tags, {k[2:]: v for k, v in tags.items() if isinstance(k, str) and k.startswith("x_")})
    if "api_key_name" in labels:
        labels["api_key_name"] = safe_name(labels["api_key_name"], ctx.secret_pattern)
    plain = {(k[2:] if k.startswith("x_") else k): v for k, v in tags.items() if isinstance(k, str)}
    model = next((str(plain[k]) for k in _TAG_MODEL_KEYS if plain.get(k) not in (None, "")), None)
    hint_text = " ".join(str(plain[k]) for k in _TAG_HINT_KEYS if plain.get(k) not in (None, "")).lower()
    hint = next((meter for meter, rx in _HINTS if rx.search(hint_text)), None) if hint_text else None
    return {**empty, **labels, "hint": hint, "model": model, "tag_err": None}
