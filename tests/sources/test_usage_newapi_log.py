"""newapi-log: console CSV export and multi-page API dumps (one page per line, or an array)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from costproof.sources.usage import newapi_log
from costproof.sources.usage.base import ParseContext, collect

DATA = Path(__file__).resolve().parents[1] / "data" / "usage"
COLS = ("record_kind", "model_reported", "input_tokens", "cached_input_tokens", "cache_write_tokens",
        "output_tokens", "requests", "provider_reported_cost", "status_class")  # fmt: skip
GOLDEN = [
    ("consume", "gpt-4o", 176, 1024, 0, 300, 1, Decimal("1251") / 500000, "2xx"),
    ("error", "gpt-4o", 0, 0, 0, 0, 0, Decimal(0), "5xx"),
    ("consume", "claude-sonnet-4-20250514", 1200, 8000, 2000, 300, 1, Decimal("1253") / 500000, "2xx"),
    ("refund", "gpt-4o", 176, 1024, 0, 300, 0, Decimal("-500") / 500000, ""),
]  # fmt: skip


@pytest.mark.parametrize("name", ["newapi-pages.jsonl", "newapi-pages-array.json", "newapi-console.csv"])
def test_pages_and_console_export(name: str) -> None:
    table, errors, records = collect(newapi_log.parse(DATA / name, ParseContext(name)))
    rows = table.to_pylist()
    assert [tuple(r[c] for c in COLS) for r in rows] == GOLDEN
    assert [r["api_key_name"] for r in rows] == ["search-backend"] * 4
    if name.endswith(".csv"):
        assert records == 5 and [(e.record, e.field) for e in errors] == [(6, "created_at")]
        assert [r["source_record"] for r in rows] == [2, 3, 4, 5]
    else:
        assert records == 4 and errors == []
        assert [r["source_record"] for r in rows] == [1, 2, 3, 4]


def test_page_dump_and_array_dump_share_record_ids() -> None:
    a = collect(newapi_log.parse(DATA / "newapi-pages.jsonl", ParseContext("a")))[0]
    b = collect(newapi_log.parse(DATA / "newapi-pages-array.json", ParseContext("b")))[0]
    assert a.column("record_id").to_pylist() == b.column("record_id").to_pylist()


def test_planted_secrets_never_reach_any_column(tmp_path: Path) -> None:
    key, bearer = "sk-PLANTEDsecret1234567890", "Bearer PLANTEDtoken0987654321"
    item = {"created_at": 1780272000, "type": 2, "content": key, "token_name": key, "model_name": bearer,
            "quota": 10, "prompt_tokens": 1, "completion_tokens": 1, "group": key, "username": key,
            "request_id": bearer, "other": json.dumps({"request_path": key, "model_ratio": 1})}  # fmt: skip
    f = tmp_path / "s.json"
    f.write_text(json.dumps([item]))
    table, errors, _ = collect(newapi_log.parse(f, ParseContext("s.json")))
    assert table.num_rows == 1 and not errors
    assert "PLANTED" not in json.dumps(table.to_pylist(), default=str)
