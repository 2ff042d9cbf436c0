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
        (5, "10000000000000", "ConsumedQuantity", "after the unit scale"),  # 1e13 x 1M tokens: past BIGINT
        (5, "1000000000", "ConsumedQuantity", "after the unit scale"),  # 1e15 tokens once scaled
        (6, "1000000000000 Tokens", "ConsumedUnit", "implausible unit scale"),
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


def test_each_row_is_named_by_its_first_failing_check_and_only_usage_rows_check_quantities(tmp_path: Path) -> None:
    """Row checks run on the rows some check flags: each still names its first failing check, as per row."""

    def row(**change: str) -> list[str]:
        values = dict(zip(HEADER, GOOD, strict=True))
        values.update(change)
        return [values[h] for h in HEADER]

    rows = [
        row(),
        row(BillingCurrency="", Tags="{bad"),
        row(ChargeCategory="Credit", ConsumedUnit="Gallons", ConsumedQuantity="abc"),
        row(ChargeCategory=" usage ", ConsumedQuantity="-2"),
        row(Tags="[1]"),
        row(ChargePeriodStart="soon", BilledCost="x"),
        row(ConsumedQuantity="1e15"),
        row(ConsumedQuantity="1.5", ConsumedUnit="Tokens"),
        row(),
        row(BillingCurrency=" "),
        row(ChargeCategory=" "),
        row(ChargeCategory=""),
    ]
    table, errors, records = _parse(_csv(tmp_path, rows))
    assert records == 12
    assert [(e.record, e.field, e.reason) for e in errors] == [
        (3, "BillingCurrency", "missing"),
        (5, "ConsumedQuantity", "negative value -2.000000000000"),
        (6, "Tags", "not a JSON object"),
        (7, "ChargePeriodStart", "unparseable time 'soon'"),
        (8, "ConsumedQuantity", "implausibly large quantity"),
        (9, "ConsumedQuantity", "not a whole number of tokens after the unit scale"),
        (11, "BillingCurrency", "missing"),
        (12, "ChargeCategory", "missing"),
        (13, "ChargeCategory", "missing"),
    ]
    assert table.column("source_record").to_pylist() == [2, 4, 10]
    assert table.column("record_kind").to_pylist() == ["consume", "refund", "consume"]


def _repeating_typed_table(n: int) -> pa.Table:
    """Hostile values of every kind, each repeated (periods of different lengths mix them)."""
    import datetime as dt

    def cycle(pool: list, kind: pa.DataType | None = None) -> pa.Array:
        return pa.array([pool[i % len(pool)] for i in range(n)], kind)

    start = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    return pa.table({
        "BilledCost": cycle([Decimal("1.25"), None, Decimal("-3"), Decimal("12345678901234567890.12345678901234")],
                            pa.decimal128(38, 14)),
        "BillingCurrency": cycle(["USD", " usd\u00a0", "\tUSD", "", None]),
        "ChargeCategory": cycle(["Usage", " usage ", "USAGE\t", "Credit", "", None, "Tax", "Usage"]),
        "ChargePeriodStart": cycle([start, None, start + dt.timedelta(hours=5, microseconds=7)],
                                   pa.timestamp("us", tz="UTC")),
        "ConsumedQuantity": cycle([2.0, 2.5, -0.0, float("nan"), 1e20, None, 3.0, 1e-7, 4.0], pa.float64()),
        "ConsumedUnit": cycle(["1K tokens", "requests", "Gallons", None, "1M Tokens", "Tokens"]),
        "SkuId": cycle(["gpt-4o-input", "gpt-4o", "o3 reasoning", "gpt-4o-output"]),
        "x_Project": cycle([1, 2, None], pa.int64()),
        "x_CostCenter": cycle([" cc ", "", None, "\u3000cc2"]),
        "ServiceProviderName": cycle(["CometAPI", None]),
        "PublisherName": cycle(["Pub", None, "sk-PLANTEDsecret1234567890"]),
        "SubAccountName": cycle(["acct", None, " "]),
        "Tags": cycle(['{"token_type": "output"}', None, "{bad", '{"customer": "acme", "environment": "prod"}',
                       '{"token_type": "input"}']),
    })  # fmt: skip


def test_values_computed_once_per_distinct_value_equal_the_row_by_row_ones(tmp_path: Path) -> None:
    """A chunk whose values repeat takes each column's SQL once per distinct value; one-row chunks take it row
    by row: rows, ids, meters and row errors are the same."""
    path = tmp_path / "repeating.parquet"
    pq.write_table(_repeating_typed_table(504), path)
    by_value = collect(focus.parse(path, ParseContext(path.name)))
    by_row = collect(focus.parse(path, ParseContext(path.name, chunk_rows=1)))
    assert by_value[0].equals(by_row[0]) and by_value[1:] == by_row[1:]
    assert by_value[0].num_rows > 20 and len(by_value[1]) > 200
    assert {e.field for e in by_value[1]} >= {"BilledCost", "BillingCurrency", "ChargeCategory", "ConsumedUnit",
                                              "ConsumedQuantity", "Tags", "ChargePeriodStart"}


def test_each_usage_row_gets_its_own_quantity_times_its_unit_scale(tmp_path: Path) -> None:
    """Meters are computed once per distinct (quantity, unit scale, metered) and picked back for every row."""
    units = [("1K tokens", 1000), ("requests", 1), ("1M Tokens", 1_000_000)]
    header = ["BilledCost", "BillingCurrency", "ChargeCategory", "ChargePeriodStart", "ConsumedQuantity",
              "ConsumedUnit", "SkuId"]  # fmt: skip
    rows = [["1", "USD", "Credit" if i % 7 == 0 else "Usage", "2026-06-01", str(i + 1), units[i % 3][0],
             ("gpt-4o-input", "gpt-4o-output")[i % 2]] for i in range(300)]  # fmt: skip
    table, errors, _ = _parse(_csv(tmp_path, rows, header))
    assert not errors and table.num_rows == 300
    for i, got in enumerate(table.to_pylist()):
        expect = {"input_tokens": 0, "output_tokens": 0, "requests": 0}
        if i % 7:
            unit, scale = units[i % 3]
            meter = "requests" if unit == "requests" else ("input_tokens", "output_tokens")[i % 2]
            expect[meter] = (i + 1) * scale
        assert {k: got[k] for k in expect} == expect, i


def test_a_huge_quantity_with_no_direction_is_quarantined(tmp_path: Path) -> None:
    """The integer cast of a meter quantity runs only where a meter takes it: a row that has none is named."""
    header = ["BilledCost", "BillingCurrency", "ChargeCategory", "ChargePeriodStart", "ConsumedQuantity",
              "ConsumedUnit", "SkuId"]  # fmt: skip
    row = ["1", "USD", "Usage", "2026-06-01", "100000000000000", "1M tokens", "gpt-4o"]
    table, errors, _ = _parse(_csv(tmp_path, [row], header))
    assert table.num_rows == 0 and [(e.record, e.field) for e in errors] == [(2, "SkuId")]


def test_column_names_alike_but_for_case_read_as_duckdb_binds_them(tmp_path: Path) -> None:
    """DuckDB binds names case-blind (a later `x_project` reads `x_Project`): the ids hash what it reads, and a
    column named like a working column changes nothing."""
    import duckdb

    from costproof.sources.usage import vector

    header = ["BilledCost", "BillingCurrency", "ChargeCategory", "ChargePeriodStart", "x_Project", "x_project",
              "txt:0", "v", "billedcost"]  # fmt: skip
    rows = [["1", "USD", "Credit", "2026-06-01", "xp", "other", "t", "w", ""],
            ["2", "EUR", "Tax", "2026-06-02", "", "lower", "", "", "9"]]  # fmt: skip
    path = _csv(tmp_path, rows, header)
    table, errors, _ = _parse(path)
    assert not errors
    raw = next(vector.batches(path, ParseContext(path.name)))[1]
    con = duckdb.connect()
    con.register("b", raw)
    content = ", ".join(f"coalesce(CAST({focus.quote(c)} AS VARCHAR), '')" for c in header)
    want = [r[0] for r in con.sql(f"SELECT left(sha256(concat_ws(chr(31), 'focus', {content})), 24) FROM b").fetchall()]
    assert table.column("record_id").to_pylist() == want
    assert table.column("project").to_pylist() == ["xp", None]


def test_categorical_parquet_columns_read_as_their_values(tmp_path: Path) -> None:
    """Dictionary-typed (categorical) columns give the rows their plain columns give."""
    plain = _repeating_typed_table(300).drop_columns(["x_Project"])
    categorical = pa.table({name: plain[name].dictionary_encode() if name != "BilledCost" else plain[name]
                            for name in plain.column_names})
    results = []
    for name, table in (("plain", plain), ("categorical", categorical)):
        path = tmp_path / f"{name}.parquet"
        pq.write_table(table, path)
        results.append(collect(focus.parse(path, ParseContext(path.name))))
    assert pa.types.is_dictionary(pq.read_schema(tmp_path / "categorical.parquet").field("Tags").type)
    assert results[0][0].equals(results[1][0]) and results[0][1:] == results[1][1:]
    assert results[0][0].num_rows > 10


def test_a_nested_column_is_cast_row_by_row_in_any_chunk(tmp_path: Path) -> None:
    """Arrow cannot hash a struct or list: such a column's text is DuckDB's cast per row, in chunks of any size."""
    table = _repeating_typed_table(120).append_column("x_Struct", pa.array([{"a": i % 3} for i in range(120)]))
    table = table.append_column("x_List", pa.array([[i % 2, 1] for i in range(120)]))
    path = tmp_path / "nested.parquet"
    pq.write_table(table, path)
    whole = collect(focus.parse(path, ParseContext(path.name)))
    by_row = collect(focus.parse(path, ParseContext(path.name, chunk_rows=1)))
    assert whole[0].equals(by_row[0]) and whole[1:] == by_row[1:] and whole[0].num_rows > 5


def test_a_marker_named_with_spaces_around_is_missing_on_every_row(tmp_path: Path) -> None:
    """The header check trims names, the reader does not: the cost column is then absent and every row says so."""
    path = tmp_path / "spaced.csv"
    path.write_text(" BilledCost,BillingCurrency,ChargeCategory,ChargePeriodStart\n1,USD,Credit,2026-06-01\n"
                    "2,USD,Credit,2026-06-02\n")
    table, errors, records = _parse(path)
    assert records == 2 and table.num_rows == 0
    assert [(e.record, e.field, e.reason) for e in errors] == [(2, "BilledCost", "missing"),
                                                               (3, "BilledCost", "missing")]
