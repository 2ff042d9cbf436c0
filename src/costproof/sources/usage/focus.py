"""FinOps FOCUS 1.0–1.3 cost-and-usage rows (CSV or Parquet), one usage row per FOCUS row."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
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
from costproof.sources.usage.focus_values import (
    bound_names,
    coalesced,
    distinct_rows,
    encode,
    one_array,
    picked,
    query,
    sql_per_value,
)
from costproof.sources.usage.vector import (
    ERR_FIELD,
    ERR_REASON,
    ROW_NUMBER,
    TIME_SCHEMA,
    batches,
    connect,
    csv_header,
    finish,
    is_parquet,
    quote,
    read_ahead,
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
# a unit of more than a billion (quantity x scale must fit the 38-digit decimal it is computed in)
_MAX_SCALE = 1_000_000_000
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
_START = "ChargePeriodStart"
_DECIMAL = pa.decimal128(38, 12)
_SKU_SCHEMA = pa.schema([("hint", pa.string()), ("model", pa.string())])
_UNIT_SCHEMA = pa.schema([("kind", pa.string()), ("mult", pa.int64()), ("u_err", pa.string())])
_TAG_SCHEMA = pa.schema([*((k, pa.string()) for k in LABEL_KEYS), *_SKU_SCHEMA, ("tag_err", pa.string())])
_CATEGORY = "lower(trim(CAST({v} AS VARCHAR)))"
_KIND_CASE = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in KINDS.items())
_QUANTITY_SQL = f"""
WITH x AS (SELECT {ROW_NUMBER}, q, metered, CASE WHEN q IS NOT NULL AND q < 1e15 THEN q * m END AS __q FROM v)
SELECT {ROW_NUMBER}, CASE WHEN metered AND __q < 1e15 THEN CAST(__q AS BIGINT) END AS whole,
  __q IS NOT NULL AND __q <> floor(__q) AS frac, coalesce(__q >= 1e15, false) AS big,
  q IS NULL OR q < 0 OR q >= 1e15 AS q_bad
FROM x
"""
# the row checks, first failing one named; `_flagged` finds the rows to run them on
_CHECKS = f"""
SELECT {ROW_NUMBER},
  CASE
    WHEN raw_start IS NULL THEN 'ChargePeriodStart'
    WHEN t IS NULL THEN 'ChargePeriodStart'
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
    WHEN big THEN 'ConsumedQuantity'
    WHEN frac THEN 'ConsumedQuantity'
  END AS {ERR_FIELD},
  CASE
    WHEN raw_start IS NULL THEN 'missing'
    WHEN t IS NULL THEN t_err
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
    WHEN big THEN 'implausibly large quantity after the unit scale'
    WHEN frac THEN 'not a whole number of ' || kind || ' after the unit scale'
  END AS {ERR_REASON}
FROM v
"""


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
    bound: dict[str, str] = {}
    # the next chunk is read and put through the Python maps on a worker thread while DuckDB hashes this one
    for table, got in read_ahead(_read(path, ctx)):
        bound = bound or bound_names(con, table.schema.names)
        yield _chunk(con, table, got, bound, ctx)


def _read(path: Path, ctx: ParseContext) -> Iterator[tuple[pa.Table, dict]]:
    """The file's chunks, numbered, with the per-row results of the Python maps (which need no connection)."""
    for first, table in batches(path, ctx):
        have = set(table.schema.names)
        yield with_row_numbers(table, first), _looked_up(table, have, _first(have, "ConsumedUnit", "UsageUnit"), ctx)


def _chunk(con: Any, table: pa.Table, got: dict, bound: dict[str, str], ctx: ParseContext) -> UsageChunk:
    """One chunk of usage rows; per row, DuckDB computes only the record id.

    The other values repeat: each is a function of one column (currency, category, cost, quantity, x_ labels),
    of the Python maps (times, units, SKUs, tags) or of a usage row's (quantity, unit scale, metered). Each goes
    through the SQL the per-row query applied, once per distinct value where values repeat, and is picked back
    for every row; row errors take the same checks, run on the rows that fail one.
    """
    names = [n for n in table.schema.names if n != ROW_NUMBER]
    have = set(names)
    unit_name = _first(have, "ConsumedUnit", "UsageUnit")
    qty_name = _first(have, "ConsumedQuantity", "UsageQuantity")
    if any(bound[n] != n for n in names):  # the Python maps read each column, SQL read the bound one
        table = pa.table({**{n: table.column(bound[n]) for n in names}, ROW_NUMBER: table.column(ROW_NUMBER)})
    got.update(_column_values(con, table, names, qty_name))
    got.update(_providers_and_labels(con, table, have, got))
    usage = one_array(pc.fill_null(pc.equal(got["category"], "usage"), False))
    tokens = pc.fill_null(pc.equal(got["kind"], "tokens"), False)
    meter = pc.if_else(usage, pc.if_else(tokens, got["hint"], got["kind"]), pa.scalar(None, pa.string()))
    whole, got["frac"], got["big"], q_bad = _quantities(con, usage, pc.is_valid(meter), got["qty"], got["mult"])
    raw = {
        key: table.column(name) if name in have else pa.nulls(table.num_rows, pa.string())
        for key, name in (
            ("raw_start", _START),
            ("raw_cost", "BilledCost"),
            ("raw_qty", qty_name),
            ("raw_unit", unit_name),
        )
    }
    flagged = one_array(_flagged(got, raw, usage, tokens, q_bad))
    field, reason = _row_errors(con, flagged, {ROW_NUMBER: table.column(ROW_NUMBER), **raw, **got})
    return finish(_usage_table(table, got, _meters(meter, whole), field, reason), ctx)


def _first(have: set[str], *options: str) -> str | None:
    return next((o for o in options if o in have), None)


def _looked_up(table: pa.Table, have: set[str], unit_name: str | None, ctx: ParseContext) -> dict:
    """Per row, the results of the Python maps, each run once per distinct value: times, SKUs, units, tags."""
    got = _mapped(table, _START, time_map, TIME_SCHEMA)
    sku_parts = [
        n for n in ("SkuMeter", "SkuId", "ChargeDescription", "ResourceName", "x_Model", "x_ModelName") if n in have
    ]
    sku = _sku_hints(table, sku_parts)
    got.update(_mapped(table, unit_name, _unit, _UNIT_SCHEMA))
    tags = _mapped(table, "Tags" if "Tags" in have else None, lambda v: _tags(v, ctx), _TAG_SCHEMA)
    got["tag_err"] = tags["tag_err"]
    got["hint"] = pc.coalesce(tags["hint"], sku["hint"])
    got["model"] = pc.coalesce(tags["model"], sku["model"])
    got.update({"tag." + k: tags[k] for k in LABEL_KEYS})
    return got


def _mapped(table: pa.Table, column: str | None, fn: Any, schema: pa.Schema) -> dict[str, Any]:
    """Per row, fn's results for the column's value, fn run once per distinct value; nulls without the column."""
    if column is None:
        return {f.name: pa.nulls(table.num_rows, f.type) for f in schema}
    encoded = encode(table.column(column))
    return picked(pa.Table.from_pylist([fn(v) for v in encoded.dictionary.to_pylist()], schema=schema), encoded.indices)


def _sku_hints(table: pa.Table, parts: list[str]) -> dict[str, Any]:
    """Per row, `_sku` of the SKU columns' texts joined by \x1f, run once per distinct combination."""
    if not parts:
        return {f.name: pa.nulls(table.num_rows, f.type) for f in _SKU_SCHEMA}
    distinct, index = distinct_rows({name: table.column(name) for name in parts})
    keys = pc.binary_join_element_wise(
        *[pc.fill_null(pc.cast(distinct[name], pa.string()), "") for name in parts], "\x1f"
    )
    return picked(pa.Table.from_pylist([_sku(v, parts) for v in keys.to_pylist()], schema=_SKU_SCHEMA), index)


def _column_values(con: Any, table: pa.Table, names: list[str], qty_name: str | None) -> dict[str, Any]:
    """The record id and every value that is a function of one column.

    A column's SQL runs once per distinct value where the column repeats its values (one query for all such
    columns), in the per-row query otherwise. A typed column's text for the record id is DuckDB's own cast
    either way, so the id is the same; casting timestamps, decimals and doubles row by row is what this saves.
    """
    n = table.num_rows
    per_value: dict[str, tuple[pa.DictionaryArray, dict[str, str]]] = {}
    per_row: dict[str, dict[str, str]] = {}
    for name, exprs in _column_sql(table, names, qty_name).items():
        column = table.column(name)
        encoded = None if pa.types.is_nested(column.type) else encode(column, "encode")  # nested: no hashing
        if encoded is not None and len(encoded.dictionary) * 4 <= n:
            per_value[name] = (encoded, exprs)
        else:
            per_row[name] = exprs
    got: dict[str, Any] = {}
    texts: dict[str, Any] = {}
    for name, results in sql_per_value(con, per_value).items():
        index = per_value[name][0].indices
        for field in results.column_names:
            if field == "text":
                texts[name] = pc.take(results[field], index)
            else:
                got[field] = pc.take(results[field], index)
    got.update(_per_row(con, table, names, texts, per_row))
    for name, field in (("BilledCost", "cost"), (qty_name, "qty")):
        if name in table.schema.names and _fits(table.schema.field(name).type):
            got[field] = pc.cast(table.column(name), _DECIMAL)  # the same number: no rounding, no overflow
    # without the column (a CSV header may name it with spaces around) SQL read NULL
    for field, kind in (("cost", _DECIMAL), ("qty", _DECIMAL), ("currency", pa.string()), ("category", pa.string())):
        got.setdefault(field, pa.nulls(n, kind))
    got.setdefault("record_kind", pa.repeat("unknown", n))
    return got


def _column_sql(table: pa.Table, names: list[str], qty_name: str | None) -> dict[str, dict[str, str]]:
    """By column, the SQL the per-row query applies to its value `{v}`, by result name."""
    jobs: dict[str, dict[str, str]] = {name: {} for name in names}
    for name in names:
        kind = table.schema.field(name).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            jobs[name]["text"] = "CAST({v} AS VARCHAR)"
    if "BillingCurrency" in jobs:
        jobs["BillingCurrency"]["currency"] = "upper(trim(CAST({v} AS VARCHAR)))"
    if "ChargeCategory" in jobs:
        jobs["ChargeCategory"]["category"] = _CATEGORY
        jobs["ChargeCategory"]["record_kind"] = f"coalesce(CASE {_CATEGORY} {_KIND_CASE} END, 'unknown')"
    for name, field in (("BilledCost", "cost"), (qty_name, "qty")):
        if name in jobs and not _fits(table.schema.field(name).type):
            jobs[name][field] = "TRY_CAST(trim(CAST({v} AS VARCHAR)) AS DECIMAL(38,12))"
    for label, name in _x_columns(names).items():
        jobs[name]["x." + label] = "NULLIF(trim(CAST({v} AS VARCHAR)), '')"
    return {name: exprs for name, exprs in jobs.items() if exprs}


def _x_columns(names: list[str]) -> dict[str, str]:
    """Label -> the first x_ column naming it."""
    found: dict[str, str] = {}
    for name in names:
        label = label_key(name[2:]) if name.startswith("x_") else None
        if label and label not in found:
            found[label] = name
    return found


def _fits(kind: pa.DataType) -> bool:
    """A decimal DECIMAL(38,12) holds without rounding: cast directly, not read from its text."""
    return pa.types.is_decimal(kind) and kind.scale <= 12 and kind.precision - kind.scale <= 26


def _per_row(
    con: Any, table: pa.Table, names: list[str], texts: dict[str, Any], jobs: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """The record id (sha256 of DuckDB's text of every column) and the other columns' SQL, row by row."""
    parts, joined = _id_parts(table, names, texts)
    select = [f"left(sha256(concat_ws(chr(31), {', '.join(parts)})), 24) AS record_id"]
    for name, exprs in jobs.items():
        select += [f"{sql.replace('{v}', quote(name))} AS {quote(f)}" for f, sql in exprs.items() if f != "text"]
    for name, text in joined.items():
        table = table.append_column(name, text)
    result = query(con, table, f"SELECT {ROW_NUMBER}, {', '.join(select)} FROM v")
    return {name: result[name] for name in result.column_names[1:]}


def _id_parts(table: pa.Table, names: list[str], texts: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The record id's text as concat_ws arguments: each run of columns whose text Arrow holds (text columns,
    typed ones cast per distinct value) joined by Arrow into one column, as the same bytes concat_ws would
    join (a null as ''); DuckDB's cast for each other column."""
    parts: list[Any] = [pa.scalar(NAME)]
    for name in names:
        text = texts.get(name, table.column(name) if table.schema.field(name).type == pa.string() else None)
        parts.append(f"coalesce(CAST({quote(name)} AS VARCHAR), '')" if text is None else text)
    sql: list[str] = []
    joined: dict[str, Any] = {}
    run: list[Any] = []
    taken = {name.lower() for name in table.schema.names}  # DuckDB would bind a name like a column's to it
    for part in [*parts, ""]:
        if not isinstance(part, str):
            run.append(part)
            continue
        if len(run) == 1 and isinstance(run[0], pa.Scalar):
            sql.append(f"'{NAME}'")
        elif run:
            name = f"txt:{len(joined)}"
            while name.lower() in taken:
                name += "_"
            joined[name] = pc.binary_join_element_wise(*run, "\x1f", null_handling="replace", null_replacement="")
            sql.append(quote(name))
        run = []
        if part:
            sql.append(part)
    return sql, joined


def _providers_and_labels(con: Any, table: pa.Table, have: set[str], got: dict[str, Any]) -> dict[str, Any]:
    """The provider and the label columns: the first non-null of their sources, as SQL coalesce took it."""
    column = {
        name: table.column(name)
        for name in ("ServiceProviderName", "ProviderName", "PublisherName", "SubAccountName")
        if name in have
    }
    n = table.num_rows
    out = {
        "provider": coalesced(con, n, [column.get(p) for p in ("ServiceProviderName", "ProviderName", "PublisherName")])
    }
    for label in LABEL_KEYS:
        parts = [got["tag." + label]]
        if "x." + label in got:
            parts.append(got["x." + label])
        if label == "project":
            parts.append(column.get("SubAccountName"))
        out[label] = coalesced(con, n, parts)
    return out


def _quantities(con: Any, usage: Any, metered: Any, qty: Any, mult: Any) -> tuple[Any, Any, Any, Any]:
    """Per row: the meter quantity (quantity x unit scale) as an integer, whether it is fractional, whether it is
    too large (a quarantined row, not an integer cast that fails the import), whether the quantity is missing,
    negative or too large; for usage rows (the checks and meters look at no other).

    The SQL of the per-row query before, once per distinct (quantity, scale, metered) of the usage rows; the
    integer cast, which fails past BIGINT, runs where a meter takes it, as it did.
    """
    n = len(usage)
    none, no = pa.nulls(n, pa.int64()), pa.array(np.zeros(n, dtype=bool))
    every = pc.all(usage).as_py()
    if not every and not pc.any(usage).as_py():
        return none, no, no, no
    inputs = {"q": qty, "m": mult, "metered": metered}
    distinct, index = distinct_rows({k: v if every else v.filter(usage) for k, v in inputs.items()})
    result = query(con, distinct, _QUANTITY_SQL)

    def back(name: str, base: pa.Array) -> Any:
        values = pc.take(result[name], index)
        return values if every else pc.replace_with_mask(base, usage, values.combine_chunks())

    return back("whole", none), back("frac", no), back("big", no), back("q_bad", no)


def _meters(meter: Any, whole: Any) -> dict[str, pa.Array]:
    """Each meter column: the row's quantity where the row's meter is that one (null if it has none), else 0."""
    code = pc.fill_null(pc.index_in(meter, value_set=pa.array(METERS)), -1).to_numpy()
    quantity = pc.fill_null(whole, 0).to_numpy()
    missing = pc.is_null(whole).to_numpy(zero_copy_only=False)
    zeros = pa.array(np.zeros(len(code), dtype=np.int64))  # one array for every meter no row has
    out = {}
    for i, name in enumerate(METERS):
        hit = code == i
        out[name] = pa.array(np.where(hit, quantity, 0), mask=hit & missing) if hit.any() else zeros
    return out


def _flagged(got: dict[str, Any], raw: dict[str, Any], usage: Any, tokens: Any, q_bad: Any) -> Any:
    """The rows some check of `_CHECKS` fails (exactly those: the checks then name the first)."""
    blank = [pc.fill_null(pc.equal(got[name], ""), False) for name in ("currency", "category")]
    qty_checks = pc.or_(q_bad, pc.or_(pc.is_null(raw["raw_unit"]), pc.and_(tokens, pc.is_null(got["hint"]))))
    checks = [
        pc.is_null(raw["raw_start"]), pc.is_null(got["t"]), pc.is_null(raw["raw_cost"]), pc.is_null(got["cost"]),
        pc.is_null(got["currency"]), pc.is_null(got["category"]), *blank, pc.is_valid(got["tag_err"]),
        pc.and_(usage, pc.is_valid(got["u_err"])),
        pc.and_(usage, pc.and_(pc.is_valid(raw["raw_qty"]), qty_checks)),
        got["big"],
        got["frac"],
    ]  # fmt: skip
    flagged = checks[0]
    for check in checks[1:]:
        flagged = pc.or_(flagged, check)
    return flagged


def _row_errors(con: Any, flagged: Any, columns: dict[str, Any]) -> tuple[Any, Any]:
    """(field, reason) per row, null for a good row: `_CHECKS` over the flagged rows only."""
    n = len(flagged)
    field, reason = pa.nulls(n, pa.string()), pa.nulls(n, pa.string())
    if not pc.any(flagged).as_py():
        return field, reason
    names = (ROW_NUMBER, "raw_start", "t", "t_err", "raw_cost", "cost", "currency", "category", "tag_err", "raw_qty",
             "qty", "raw_unit", "kind", "u_err", "hint", "big", "frac")  # fmt: skip
    result = query(con, pa.table({name: columns[name].filter(flagged) for name in names}), _CHECKS)
    return (
        pc.replace_with_mask(field, flagged, result[ERR_FIELD].combine_chunks()),
        pc.replace_with_mask(reason, flagged, result[ERR_REASON].combine_chunks()),
    )


def _usage_table(
    table: pa.Table, got: dict[str, Any], meters: dict[str, pa.Array], field: Any, reason: Any
) -> pa.Table:
    """The chunk's columns for `finish`: the usage schema's, the record numbers and the row errors."""
    n = table.num_rows
    rn = table.column(ROW_NUMBER)
    text = pa.nulls(n, pa.string())
    return pa.table({
        ROW_NUMBER: rn, ERR_FIELD: field, ERR_REASON: reason,
        "record_id": got["record_id"], "import_id": text, "source_record": rn, "record_kind": got["record_kind"],
        "occurred_at": got["t"], "original_offset": got["o"], "provider": got["provider"],
        "model_reported": got["model"], "route_family": text, "request_id": text,
        "status_code": pa.nulls(n, pa.int64()), "status_class": pa.repeat("", n), "attempt": pa.repeat(1, n),
        "is_retry": pa.repeat(False, n), "is_stream": pa.repeat(False, n), "is_partial": pa.repeat(False, n),
        **{label: got[label] for label in LABEL_KEYS}, "pricing_group": text,
        **meters,
        "provider_reported_cost": got["cost"], "provider_reported_currency": got["currency"],
        "provider_ratios": text, "usage_origin": pa.repeat("reported", n),
    })  # fmt: skip


def _unit(value: Any) -> dict[str, Any]:
    text = str(value).strip()
    match = _UNIT.match(text)
    if not match:
        return {"kind": None, "mult": None, "u_err": f"unknown unit {text[:30]!r}"}
    number = int(match.group("n").replace(",", "").replace("_", "").split(".")[0]) if match.group("n") else 1
    scale = _SCALES.get((match.group("scale") or "").lower(), 1)
    what = match.group("what").lower().rstrip("s")
    mult = max(number, 1) * scale
    if mult > _MAX_SCALE:
        return {"kind": None, "mult": None, "u_err": f"implausible unit scale {text[:30]!r}"}
    return {"kind": _WHAT[what], "mult": mult, "u_err": None}


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
