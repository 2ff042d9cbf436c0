"""The documented plain usage CSV: a header of normalized column names (docs/usage-formats.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from costproof.model.errors import InputError
from costproof.model.meters import METERS
from costproof.model.usage import ENVIRONMENTS, RECORD_KINDS, USAGE_COLUMNS, USAGE_ORIGINS
from costproof.sources.usage.base import ParseContext, UsageChunk
from costproof.sources.usage.vector import (
    ERR_FIELD,
    ERR_REASON,
    ROW_NUMBER,
    batches,
    connect,
    csv_header,
    finish,
    is_parquet,
    quote,
    with_row_numbers,
)

NAME = "usage-csv"
REQUIRED = ("occurred_at", "model_reported")
# computed here, never read: the import assigns import_id; source_record is the file line
NOT_READ = ("import_id", "source_record")
ACCEPTED = tuple(n for n, _ in USAGE_COLUMNS if n not in NOT_READ)
_TYPES = dict(USAGE_COLUMNS)


def sniff(head: bytes, name: str) -> bool:
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    cols = {c.strip().strip('"') for c in first.strip().split(",")}
    return all(r in cols for r in REQUIRED) and bool(cols & set(METERS))


def parse(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    header = csv_header(Path(path), ctx.file_label)
    unknown = [h for h in header if h not in ACCEPTED and h not in NOT_READ and not h.startswith("x_")]
    if unknown:
        raise InputError(
            f"unknown column(s) {', '.join(unknown)}; usage-csv takes the normalized column names",
            file=ctx.file_label,
            record=1,
        )
    missing = [r for r in REQUIRED if r not in header]
    if missing:
        raise InputError(f"CSV header lacks column(s) {', '.join(missing)}", file=ctx.file_label, record=1)
    if is_parquet(Path(path)):
        raise InputError("usage-csv is a CSV file, not Parquet", file=ctx.file_label)
    sql = _sql([h for h in header if h in ACCEPTED])
    con = connect()
    for first, table in batches(Path(path), ctx):
        con.register("b", with_row_numbers(table, first))
        try:
            result = con.sql(sql).to_arrow_table()
        finally:
            con.unregister("b")
        yield finish(result, ctx)


def _sql(present: list[str]) -> str:
    """Three layers: `r` trims each text field once, `v` types each value once, the outer select checks and maps.

    Each expression is evaluated once per row and referenced by name after that.
    """
    have = set(present)

    def raw(name: str, layer: str = "v") -> str:
        return f"{layer}.{quote(name)}" if name in have else "CAST(NULL AS VARCHAR)"

    checks: list[tuple[str, str, str]] = []  # (field, condition, reason SQL)
    typed: dict[str, str] = {}  # name -> expression over r, computed in layer v
    for name, kind in USAGE_COLUMNS:
        if name in NOT_READ or name == "record_id":
            continue
        r = raw(name, "r")
        if kind == "int":
            typed[name] = f"CASE WHEN regexp_full_match({r}, '[+-]?[0-9]+') THEN TRY_CAST({r} AS BIGINT) END"
        elif kind == "bool":
            low = f"lower({r})"
            typed[name] = (
                f"CASE WHEN {low} IN ('true','1','yes') THEN true WHEN {low} IN ('false','0','no') THEN false END"
            )
        elif kind == "dec":
            typed[name] = f"TRY_CAST({r} AS DECIMAL(38,12))"
        elif kind == "ts":
            typed[name] = f"TRY_CAST({r} AS TIMESTAMPTZ)"
        else:
            typed[name] = r
    typed["provider_reported_currency"] = f"upper({raw('provider_reported_currency', 'r')})"
    typed["environment"] = f"lower({raw('environment', 'r')})"
    typed["record_kind"] = f"coalesce(lower({raw('record_kind', 'r')}), 'consume')"
    typed["usage_origin"] = f"coalesce(lower({raw('usage_origin', 'r')}), 'reported')"
    typed["offset"] = f"regexp_extract({raw('occurred_at', 'r')}, '([+-]\\d\\d):?(\\d\\d)$', ['h', 'm'])"
    values = {name: f"v.{quote('v:' + name)}" for name in typed if name != "offset"}
    for name, kind in USAGE_COLUMNS:
        if name in NOT_READ or name == "record_id":
            continue
        r = raw(name)
        if kind == "int":
            checks.append((name, f"{r} IS NOT NULL AND {values[name]} IS NULL", f"'not an integer: ' || left({r}, 30)"))
            if name in METERS or name == "attempt":
                checks.append((name, f"{values[name]} < 0", f"'negative value ' || {r}"))
        elif kind == "bool":
            checks.append((name, f"{r} IS NOT NULL AND {values[name]} IS NULL", f"'not a boolean: ' || left({r}, 30)"))
        elif kind == "dec":
            checks.append((name, f"{r} IS NOT NULL AND {values[name]} IS NULL", f"'not a number: ' || left({r}, 30)"))
        elif kind == "ts":
            checks.append((name, f"{r} IS NULL", "'missing'"))
            checks.append((name, f"{values[name]} IS NULL", f"'unparseable time ' || left({r}, 40)"))

    checks.append(("model_reported", f"{raw('model_reported')} IS NULL", "'missing'"))
    for name, allowed in (
        ("record_kind", RECORD_KINDS),
        ("usage_origin", USAGE_ORIGINS),
        ("environment", ENVIRONMENTS),
    ):
        listed = ", ".join(f"'{a}'" for a in allowed)
        checks.append(
            (
                name,
                f"{values[name]} IS NOT NULL AND {values[name]} NOT IN ({listed})",
                f"'not one of {'/'.join(allowed)}'",
            )
        )
    checks.append(
        (
            "provider_reported_currency",
            f"{raw('provider_reported_cost')} IS NOT NULL AND {raw('provider_reported_currency')} IS NULL",
            "'missing (a cost needs its currency)'",
        )
    )
    field_case = " ".join(f"WHEN {cond} THEN '{field}'" for field, cond, _ in checks)
    reason_case = " ".join(f"WHEN {cond} THEN {reason}" for _, cond, reason in checks)
    offset = f"v.{quote('v:offset')}"
    # a meter left empty is zero, unless the row says its usage is missing
    meters = {
        m: f"CASE WHEN {values[m]} IS NOT NULL THEN {values[m]} "
        f"WHEN {values['usage_origin']} = 'missing' THEN NULL "
        + (f"WHEN {values['record_kind']} = 'consume' THEN 1 " if m == "requests" else "")
        + "ELSE 0 END"
        for m in METERS
    }
    status = values["status_code"]
    select: dict[str, str] = {
        **values,
        **meters,
        "record_id": "left(sha256(concat_ws(chr(31), 'usage-csv', "
        + (
            f"'id', {raw('record_id')}"
            if "record_id" in have
            else ", ".join(f"coalesce({raw(n)}, '')" for n in present)
        )
        + ")), 24)",
        "import_id": "CAST(NULL AS VARCHAR)",
        "source_record": f"v.{ROW_NUMBER}",
        # a trailing ±hh[:]mm other than ±00:00, as ±hh:mm; else Z (one regular expression pass, in layer v)
        "original_offset": f"CASE WHEN {offset}.h <> '' AND NOT ({offset}.h IN ('+00', '-00') AND {offset}.m = '00') "
        f"THEN {offset}.h || ':' || {offset}.m ELSE 'Z' END",
        "status_class": f"coalesce({raw('status_class')}, CASE WHEN {status} IS NOT NULL "
        f"THEN CAST({status} // 100 AS VARCHAR) || 'xx' ELSE '' END)",
        "attempt": f"coalesce({values['attempt']}, 1)",
        "is_retry": f"coalesce({values['is_retry']}, false)",
        "is_stream": f"coalesce({values['is_stream']}, false)",
        "is_partial": f"coalesce({values['is_partial']}, false)",
    }
    columns = ",\n      ".join(f"{expr} AS {quote(name)}" for name, expr in select.items())
    trimmed = ", ".join(f"NULLIF(trim(b.{quote(n)}), '') AS {quote(n)}" for n in present)
    layer_v = ", ".join(f"{expr} AS {quote('v:' + name)}" for name, expr in typed.items())
    return f"""
    WITH r AS (SELECT b.{ROW_NUMBER}, {trimmed} FROM b),
    v AS (SELECT r.*, {layer_v} FROM r)
    SELECT v.{ROW_NUMBER} AS {ROW_NUMBER},
      CASE {field_case} END AS {ERR_FIELD},
      CASE {reason_case} END AS {ERR_REASON},
      {columns}
    FROM v
    """


def columns_doc() -> list[tuple[str, str]]:
    """(column, logical type) rows for the documentation table."""
    return [(n, t) for n, t in USAGE_COLUMNS if n not in NOT_READ]
