"""usage-csv: the documented CSV of normalized columns; types, defaults, quarantine, secrets."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from costproof.model.errors import InputError
from costproof.sources.usage import usage_csv
from costproof.sources.usage.base import ParseContext, collect

DATA = Path(__file__).resolve().parents[1] / "data" / "usage"


def _parse(path: Path) -> tuple:
    return collect(usage_csv.parse(path, ParseContext(path.name)))


def test_golden_sample() -> None:
    table, errors, records = _parse(DATA / "usage.csv")
    assert records == 5 and errors == []
    rows = table.to_pylist()
    got = [
        (r["source_record"], r["record_kind"], r["status_class"], r["attempt"], r["is_stream"], r["is_partial"],
         r["input_tokens"], r["cached_input_tokens"], r["output_tokens"], r["reasoning_tokens"], r["requests"],
         r["provider_reported_cost"], r["provider_reported_currency"], r["usage_origin"], r["original_offset"])
        for r in rows
    ]  # fmt: skip
    assert got == [
        (2, "consume", "2xx", 1, False, False, 176, 1024, 300, 0, 1, Decimal("0.00231"), "USD", "reported", "+08:00"),
        (3, "error", "4xx", 1, False, False, 0, 0, 0, 0, 0, None, None, "reported", "Z"),
        (4, "consume", "2xx", 2, True, False, 100, 0, 20, 0, 1, None, None, "reported", "Z"),
        (5, "consume", "2xx", 1, False, False, 1500, 500, 260, 640, 1, None, None, "reported", "Z"),
        (6, "consume", "2xx", 1, True, True, None, None, None, None, 1, None, None, "missing", "-05:00"),
    ]  # fmt: skip
    assert rows[0]["occurred_at"].isoformat() == "2026-06-01T00:00:00+00:00"
    assert rows[4]["occurred_at"].isoformat() == "2026-06-01T05:03:00+00:00"
    assert rows[3]["environment"] == "test"


def test_only_required_columns(tmp_path: Path) -> None:
    f = tmp_path / "u.csv"
    f.write_text("occurred_at,model_reported,input_tokens\n2026-06-01T00:00:00Z,gpt-4o,5\n")
    rows = _parse(f)[0].to_pylist()
    assert rows[0]["input_tokens"] == 5 and rows[0]["output_tokens"] == 0 and rows[0]["requests"] == 1


@pytest.mark.parametrize(
    "column, value, reason",
    [
        ("input_tokens", "-1", "negative"),
        ("input_tokens", "1.5", "not an integer"),
        ("occurred_at", "", "missing"),
        ("occurred_at", "June 1st", "unparseable"),
        ("model_reported", "", "missing"),
        ("is_stream", "maybe", "not a boolean"),
        ("provider_reported_cost", "1,2,3", "not a number"),
        ("environment", "prod-ish", "not one of"),
        ("record_kind", "purchase", "not one of"),
    ],
)
def test_malformed_rows_are_quarantined(tmp_path: Path, column: str, value: str, reason: str) -> None:
    header = ["occurred_at", "model_reported", "input_tokens", "is_stream", "provider_reported_cost",
              "provider_reported_currency", "environment", "record_kind"]  # fmt: skip
    good = ["2026-06-01T00:00:00Z", "gpt-4o", "5", "false", "0.1", "USD", "production", "consume"]
    bad = list(good)
    bad[header.index(column)] = f'"{value}"'
    f = tmp_path / "u.csv"
    f.write_text("\n".join(",".join(r) for r in (header, good, bad, good)) + "\n")
    table, errors, records = _parse(f)
    assert records == 3 and table.num_rows == 2
    assert [(e.record, e.field) for e in errors] == [(3, column)]
    assert reason in errors[0].reason


def test_unknown_columns_are_an_input_error(tmp_path: Path) -> None:
    f = tmp_path / "u.csv"
    f.write_text("occurred_at,model_reported,input_token\n2026-06-01,gpt,1\n")
    with pytest.raises(InputError, match="input_token"):
        _parse(f)


def test_planted_secrets_never_reach_any_column(tmp_path: Path) -> None:
    key, bearer = "sk-PLANTEDsecret1234567890", "Bearer PLANTEDtoken0987654321"
    text = ("provider", "model_reported", "route_family", "request_id", "api_key_name", "pricing_group",
            "cost_center", "project", "customer", "workflow")  # fmt: skip
    f = tmp_path / "u.csv"
    values = [key if i % 2 else bearer for i in range(len(text))]
    f.write_text("occurred_at," + ",".join(text) + "\n2026-06-01T00:00:00Z," + ",".join(values) + "\n")
    table, errors, _ = _parse(f)
    assert table.num_rows == 1 and not errors
    assert "PLANTED" not in json.dumps(table.to_pylist(), default=str)
