"""litellm-spend: SpendLogs CSV and JSON pages, 'None'/'False' strings, cache hits, secrets."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from costproof.model.errors import InputError
from costproof.sources.usage import litellm_spend
from costproof.sources.usage.base import ParseContext, collect

DATA = Path(__file__).resolve().parents[1] / "data" / "usage"
COLS = (
    "record_kind", "provider", "model_reported", "status_code", "environment", "api_key_name",
    "cost_center", "project", "customer", "workflow", "input_tokens", "cached_input_tokens",
    "cache_write_tokens", "output_tokens", "requests", "provider_reported_cost", "usage_origin",
)  # fmt: skip
GOLDEN = [
    ("consume", "openai", "gpt-4o-2024-08-06", 200, "production", "search-backend", "cc-search", "atlas",
     "acme", "summarize", 176, 1024, 0, 300, 1, Decimal("0.00231"), "computed-by-litellm"),
    ("consume", "openai", "gpt-4o-mini", 200, None,
     "c2f7bd5a550ee87d125b9020981619b6df5d49bb6b217958a6d377f23a873e3a", None, None, None, None,
     0, 0, 0, 0, 0, Decimal("0"), "computed-by-litellm"),
    ("consume", "anthropic", "claude-sonnet-4-20250514", 200, "staging", "support-bot", "cc-support", None,
     "customer-9", None, 50, 8000, 2000, 120, 1, Decimal("0.0089625"), "computed-by-litellm"),
    ("error", "openai", "gpt-4o", 429, None, "search-backend", "team-a", None, None, None,
     0, 0, 0, 0, 0, Decimal("0"), "computed-by-litellm"),
]  # fmt: skip


@pytest.mark.parametrize("name, first", [("litellm-spendlogs.csv", 2), ("litellm-spendlogs.json", 1)])
def test_golden_sample(name: str, first: int) -> None:
    table, errors, records = collect(litellm_spend.parse(DATA / name, ParseContext(name)))
    assert errors == [] and records == 4
    rows = table.to_pylist()
    assert [tuple(r[c] for c in COLS) for r in rows] == GOLDEN
    assert [r["source_record"] for r in rows] == list(range(first, first + 4))
    assert rows[2]["original_offset"] == "+02:00"
    assert rows[2]["occurred_at"].isoformat() == "2026-05-31T22:02:00+00:00"


def test_csv_and_json_give_the_same_record_ids() -> None:
    a = collect(litellm_spend.parse(DATA / "litellm-spendlogs.csv", ParseContext("a")))[0]
    b = collect(litellm_spend.parse(DATA / "litellm-spendlogs.json", ParseContext("b")))[0]
    assert a.column("record_id").to_pylist() == b.column("record_id").to_pylist()


def _rows() -> list[dict[str, str]]:
    with open(DATA / "litellm-spendlogs.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(
    "change, field, reason",
    [
        ({"spend": "abc"}, "spend", "not a number"),
        ({"spend": "-1"}, "spend", "negative"),
        ({"prompt_tokens": "1.5"}, "prompt_tokens", "integer"),
        ({"startTime": "None"}, "startTime", "missing"),
        ({"startTime": "31/31/2026"}, "startTime", "unparseable"),
        ({"metadata": "{broken"}, "metadata", "JSON"),
        ({"request_tags": '{"a": 1}'}, "request_tags", "array"),
        ({"request_id": ""}, "request_id", "missing"),
    ],
)
def test_malformed_rows_are_quarantined_with_line_and_field(
    tmp_path: Path, change: dict, field: str, reason: str
) -> None:
    rows = _rows()
    rows[1].update(change)
    f = tmp_path / "x.csv"
    with open(f, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    table, errors, records = collect(litellm_spend.parse(f, ParseContext("x.csv")))
    assert records == 4
    assert [(e.record, e.field) for e in errors] == [(3, field)]
    assert reason in errors[0].reason


def test_cache_detail_larger_than_prompt_is_quarantined(tmp_path: Path) -> None:
    rows = _rows()
    rows[0]["prompt_tokens"] = "10"
    f = tmp_path / "x.csv"
    with open(f, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    _, errors, _ = collect(litellm_spend.parse(f, ParseContext("x.csv")))
    assert [(e.record, e.field) for e in errors] == [(2, "prompt_tokens")]


def test_header_without_required_columns_is_an_input_error(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("request_id,model\n1,gpt\n")
    with pytest.raises(InputError, match="spend"):
        collect(litellm_spend.parse(f, ParseContext("x.csv")))


def test_planted_secrets_never_reach_any_column(tmp_path: Path) -> None:
    key, bearer = "sk-PLANTEDsecret1234567890", "Bearer PLANTEDtoken0987654321"
    row = {k: key for k in ("request_id", "call_type", "api_key", "model", "model_group", "api_base", "user",
                           "team_id", "end_user", "custom_llm_provider", "messages", "response")}  # fmt: skip
    row.update(
        spend=0.1, prompt_tokens=1, completion_tokens=1, startTime="2026-06-01 00:00:00", cache_hit="False",
        metadata={"user_api_key_alias": bearer, "user_api_key_team_alias": key, "spend_logs_metadata": {
            "project": key, "environment": bearer, "workflow": key}},
        request_tags=[f"customer:{key}", f"cost_center:{bearer}"],
    )  # fmt: skip
    f = tmp_path / "s.json"
    f.write_text(json.dumps([row]))
    table, errors, _ = collect(litellm_spend.parse(f, ParseContext("s.json")))
    assert table.num_rows == 1 and not errors
    assert "PLANTED" not in json.dumps(table.to_pylist(), default=str)
