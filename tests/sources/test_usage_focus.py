"""focus: FOCUS 1.0–1.3 CSV and Parquet, units, hints, NULL literals, lenient dates, secrets."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from costproof.model.errors import InputError
from costproof.sources.usage import focus
from costproof.sources.usage.base import ParseContext, collect

DATA = Path(__file__).resolve().parents[1] / "data" / "usage"
HEADER = [
    "BilledCost", "BillingCurrency", "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd",
    "ConsumedQuantity", "ConsumedUnit", "SkuId", "ChargeDescription", "ProviderName", "Tags",
]  # fmt: skip
GOOD = ["1.5", "USD", "Usage", "2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z", "3", "1M Tokens",
        "gpt-4o-output", "gpt-4o output", "CometAPI", '{"project": "atlas"}']  # fmt: skip


def _csv(tmp_path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    f = tmp_path / "f.csv"
    f.write_text(buf.getvalue())
    return f


def _parse(path: Path) -> tuple:
    return collect(focus.parse(path, ParseContext(path.name)))


def test_golden_csv_sample() -> None:
    table, errors, records = _parse(DATA / "focus-1.2.csv")
    assert records == 7 and errors == []
    rows = table.to_pylist()
    got = [
        (r["source_record"], r["record_kind"], r["model_reported"], r["input_tokens"], r["cached_input_tokens"],
         r["cache_write_tokens"], r["output_tokens"], r["images"], r["requests"], r["provider_reported_cost"],
         r["provider_reported_currency"], r["cost_center"], r["project"], r["environment"])
        for r in rows
    ]  # fmt: skip
    assert got == [
        (2, "consume", "gpt-4o", 1_000_000, 0, 0, 0, 0, 0, Decimal("2.5"), "USD", "cc-search", "atlas", "production"),
        (3, "consume", "gpt-4o", 0, 0, 0, 1_000_000, 0, 0, Decimal("10"), "USD", "cc-search", "atlas", "production"),
        (4, "consume", "gpt-4o", 0, 500_000, 0, 0, 0, 0, Decimal("0.625"), "USD", "cc-research", "orion", "staging"),
        (5, "consume", "dall-e-3", 0, 0, 0, 0, 10, 0, Decimal("0.4"), "USD", None, "studio", None),
        (6, "consume", "web-search", 0, 0, 0, 0, 0, 2, Decimal("0.02"), "USD", None, "atlas", None),
        (7, "refund", None, 0, 0, 0, 0, 0, 0, Decimal("-5"), "USD", None, "atlas", None),
        (8, "consume", "claude-sonnet-4", 0, 0, 3, 0, 0, 0, Decimal("0.0002"), "USD", None, "support", None),
    ]  # fmt: skip
    assert rows[3]["occurred_at"].isoformat() == "2026-06-01T00:00:00+00:00"  # written 6/1/26
    assert rows[6]["api_key_name"] == "support-bot"
    assert {r["provider"] for r in rows} == {"CometAPI"}


def test_parquet_sample_matches_csv_meters() -> None:
    csv_rows = _parse(DATA / "focus-1.2.csv")[0].to_pylist()
    pq_rows = _parse(DATA / "focus-1.0.parquet")[0].to_pylist()
    keep = ("input_tokens", "output_tokens", "cached_input_tokens", "requests", "provider_reported_cost", "project")
    assert [[r[k] for k in keep] for r in pq_rows] == [[r[k] for k in keep] for r in csv_rows if r["images"] == 0]


def test_typed_parquet_with_timestamps_and_decimals(tmp_path: Path) -> None:
    table = pa.table({
        "BilledCost": pa.array([Decimal("0.10")], pa.decimal128(20, 10)),
        "BillingCurrency": ["usd"], "ChargeCategory": ["Usage"],
        "ChargePeriodStart": pa.array([1780272000_000000], pa.timestamp("us", tz="UTC")),
        "ConsumedQuantity": [2.5], "ConsumedUnit": ["1000 Tokens"], "SkuId": ["gpt-4o-mini-input"],
    })  # fmt: skip
    f = tmp_path / "x.parquet"
    pq.write_table(table, f)
    rows = _parse(f)[0].to_pylist()
    assert rows[0]["input_tokens"] == 2500 and rows[0]["provider_reported_cost"] == Decimal("0.1")
    assert rows[0]["provider_reported_currency"] == "USD" and rows[0]["model_reported"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    "index, value, field, reason",
    [
        (0, "12,5x", "BilledCost", "not a number"),
        (0, "NULL", "BilledCost", "missing"),
        (1, "", "BillingCurrency", "missing"),
        (3, "soon", "ChargePeriodStart", "unparseable"),
        (5, "-1", "ConsumedQuantity", "negative"),
        (5, "abc", "ConsumedQuantity", "not a number"),
        (5, "0.0000005", "ConsumedQuantity", "whole number"),
        (6, "Gallons", "ConsumedUnit", "unknown unit"),
        (6, "NULL", "ConsumedUnit", "no unit"),
        (10, "{not json", "Tags", "JSON"),
    ],
)
def test_malformed_rows_are_quarantined(tmp_path: Path, index: int, value: str, field: str, reason: str) -> None:
    bad = list(GOOD)
    bad[index] = value
    table, errors, records = _parse(_csv(tmp_path, [GOOD, bad, GOOD]))
    assert records == 3 and table.num_rows == 2
    assert [(e.record, e.field) for e in errors] == [(3, field)]
    assert reason in errors[0].reason


def test_tokens_without_a_direction_are_quarantined_not_guessed(tmp_path: Path) -> None:
    row = list(GOOD)
    row[7], row[8] = "gpt-4o", "gpt-4o usage"
    _, errors, _ = _parse(_csv(tmp_path, [row]))
    assert [(e.record, e.field) for e in errors] == [(2, "SkuId")]


def test_missing_focus_columns_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="BilledCost"):
        _parse(_csv(tmp_path, [["x"]], header=["ChargePeriodStart", "BillingCurrency", "Cost"]))


def test_planted_secrets_never_reach_any_column(tmp_path: Path) -> None:
    key, bearer = "sk-PLANTEDsecret1234567890", "Bearer PLANTEDtoken0987654321"
    header = [*HEADER, "SubAccountName", "ResourceName", "x_CostCenter"]
    tags = json.dumps({"api_key_name": key, "cost_center": bearer, "model": key, "customer": key, "workflow": bearer})
    row = ["1", "USD", "Usage", "2026-06-01", "2026-06-02", "1", "Tokens", key + "-input", bearer, key, tags, key, key,
           key]  # fmt: skip
    table, errors, _ = _parse(_csv(tmp_path, [row], header))
    assert table.num_rows == 1 and not errors
    assert "PLANTED" not in json.dumps(table.to_pylist(), default=str)


def test_record_ids_of_typed_parquet_are_duckdbs_own_text_of_every_column(tmp_path: Path) -> None:
    """Repeated typed values take their text once per distinct value; the ids stay sha256 of DuckDB's casts."""
    import datetime as dt

    import duckdb

    n = 3000
    start = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    table = pa.table({
        "BilledCost": pa.array([None if i % 97 == 0 else Decimal(f"{i % 13}.{i % 7:06d}") for i in range(n)],
                               pa.decimal128(25, 6)),
        "BillingCurrency": ["USD"] * n,
        "ChargeCategory": ["Usage"] * n,
        "ChargePeriodStart": pa.array([start + dt.timedelta(hours=i % 40, microseconds=(i % 3) * 1500)
                                       for i in range(n)], pa.timestamp("us", tz="UTC")),
        "ConsumedQuantity": pa.array([float(1 + i % 9) if i % 11 else 2.5e3 for i in range(n)], pa.float64()),
        "ConsumedUnit": ["1000 Tokens"] * n,
        "SkuId": [("gpt-4o-input", "gpt-4o-output")[i % 2] for i in range(n)],
        "x_Seq": pa.array(range(n), pa.int64()),  # all distinct: cast row by row
    })
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    got, errors, records = collect(focus.parse(path, ParseContext(path.name)))
    assert records == n and len(errors) == n // 97 + 1  # the null costs are quarantined
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    names = table.schema.names
    content = ", ".join(f"coalesce(CAST({focus.quote(c)} AS VARCHAR), '')" for c in names)
    expected = [r[0] for r in con.sql(
        f"SELECT left(sha256(concat_ws(chr(31), 'focus', {content})), 24) FROM read_parquet('{path}') "
        f"WHERE BilledCost IS NOT NULL").fetchall()]
    assert got.column("record_id").to_pylist() == expected


@pytest.mark.parametrize("precision, scale", [(25, 6), (38, 12), (20, 0), (38, 14), (38, 9)])
def test_typed_parquet_costs_are_the_text_of_the_cell_read_as_a_decimal(tmp_path: Path, precision: int,
                                                                       scale: int) -> None:
    """A Parquet decimal cast directly (when it fits) or read from its text gives the cost a CSV cell would."""
    import duckdb

    n = 1500
    unit = Decimal(1).scaleb(-scale)
    big = Decimal(10) ** (precision - scale - 1)  # (38, 9): 28 digits, more than DECIMAL(38,12) holds
    table = pa.table({
        "BilledCost": pa.array([None if i % 101 == 0 else (big - i * unit if i % 3 else i * unit * 7919) * (-1) ** i
                                for i in range(n)], pa.decimal128(precision, scale)),
        "BillingCurrency": ["USD"] * n,
        "ChargeCategory": ["Usage"] * n,
        "ChargePeriodStart": ["2026-06-01T00:00:00Z"] * n,
        "ConsumedQuantity": pa.array([float(i % 5) * 1000.0 for i in range(n)], pa.float64()),
        "ConsumedUnit": ["Tokens"] * n,
        "SkuId": ["gpt-4o-input"] * n,
    })
    path = tmp_path / "costs.parquet"
    pq.write_table(table, path)
    got, errors, _ = collect(focus.parse(path, ParseContext(path.name)))
    con = duckdb.connect()
    want = con.sql(f"SELECT * FROM (SELECT TRY_CAST(trim(CAST(BilledCost AS VARCHAR)) AS DECIMAL(38,12)) AS c, "
                   f"CAST(TRY_CAST(trim(CAST(ConsumedQuantity AS VARCHAR)) AS DECIMAL(38,12)) AS BIGINT) AS q "
                   f"FROM read_parquet('{path}')) WHERE c IS NOT NULL").fetchall()
    assert len(errors) == n - len(want) >= n // 101 + 1  # missing costs, and costs too large, are quarantined
    assert {e.field for e in errors} == {"BilledCost"}
    assert list(zip(got.column("provider_reported_cost").to_pylist(), got.column("input_tokens").to_pylist(),
                    strict=True)) == want
