"""otel-genai: OTLP/JSON GenAI spans, aliases, resource labels, errors, secrets."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from costproof.sources.usage import otel_genai
from costproof.sources.usage.base import ParseContext, collect

DATA = Path(__file__).resolve().parents[1] / "data" / "usage"
COLS = (
    "source_record", "record_kind", "provider", "model_reported", "route_family", "status_code",
    "is_partial", "environment", "project", "input_tokens", "cached_input_tokens",
    "cache_write_tokens", "output_tokens", "reasoning_tokens", "requests", "usage_origin",
)  # fmt: skip
GOLDEN = [
    (2, "consume", "openai", "gpt-4o-2024-08-06", "chat", None, False, "production", "checkout-assistant",
     176, 1024, 0, 300, 0, 1, "reported"),
    (3, "consume", "openai", "o4-mini", "chat", None, True, "production", "checkout-assistant",
     900, 0, 0, 188, 512, 1, "reported"),
    (4, "error", "openai", "gpt-4o", "chat", 429, False, "production", "checkout-assistant",
     None, None, None, None, None, 0, "missing"),
    (6, "consume", "anthropic", "claude-sonnet-4-20250514", "chat", None, False, "staging", "support-bot",
     50, 8000, 2000, 120, 0, 1, "reported"),
    (7, "consume", "openai", "text-embedding-3-small", "embeddings", None, False, "staging", "support-bot",
     64, 0, 0, 0, 0, 1, "reported"),
]  # fmt: skip


def _parse(path: Path, bulk: bool = True) -> tuple:
    return collect(otel_genai.parse(path, ParseContext(path.name, options={"bulk": bulk})))


@pytest.mark.parametrize("bulk", [True, False])
@pytest.mark.parametrize("name", ["otel-traces.json", "otel-traces.jsonl"])
def test_golden_sample(name: str, bulk: bool) -> None:
    table, errors, records = _parse(DATA / name, bulk)
    assert errors == [] and records == 5  # agent and HTTP spans are not usage records
    assert [tuple(r[c] for c in COLS) for r in table.to_pylist()] == GOLDEN
    rows = table.to_pylist()
    assert rows[0]["cost_center"] == "cc-commerce" and rows[0]["workflow"] == "cart-summary"
    assert rows[3]["api_key_name"] == "support-prod-key"
    assert rows[3]["provider_reported_cost"] == Decimal("0.01234")
    assert rows[0]["occurred_at"].isoformat() == "2026-06-01T00:00:01+00:00"


def test_json_and_jsonl_give_the_same_record_ids() -> None:
    a = _parse(DATA / "otel-traces.json")[0].column("record_id").to_pylist()
    b = _parse(DATA / "otel-traces.jsonl")[0].column("record_id").to_pylist()
    assert a == b


def _doc(*spans: dict) -> str:
    return json.dumps({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": list(spans)}]}]})


def _span(attrs: dict, **kw: object) -> dict:
    out = {
        "traceId": "AA", "spanId": "BB", "startTimeUnixNano": "1780272000000000000",
        "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
    }  # fmt: skip
    out.update(kw)
    return out


GOOD = {"gen_ai.request.model": {"stringValue": "gpt-4o"}, "gen_ai.usage.input_tokens": {"intValue": 5}}


@pytest.mark.parametrize(
    "span, field, reason",
    [
        (_span({**GOOD, "gen_ai.usage.input_tokens": {"intValue": "-3"}}), "gen_ai.usage.input_tokens", "negative"),
        (
            _span({**GOOD, "gen_ai.usage.output_tokens": {"stringValue": "lots"}}),
            "gen_ai.usage.output_tokens",
            "integer",
        ),
        (_span(GOOD, startTimeUnixNano=None), "startTimeUnixNano", "missing"),
        (_span(GOOD, spanId=""), "spanId", "missing"),
        (_span({"gen_ai.usage.input_tokens": {"intValue": 5}}), "gen_ai.request.model", "missing"),
        (
            _span({**GOOD, "gen_ai.usage.cache_read.input_tokens": {"intValue": 9}}),
            "gen_ai.usage.input_tokens",
            "exceed",
        ),
    ],
)
def test_malformed_spans_are_quarantined_by_span_index(tmp_path: Path, span: dict, field: str, reason: str) -> None:
    f = tmp_path / "t.json"
    good = _span(GOOD)
    f.write_text(_doc(good, {**good, "attributes": []}, span))
    for bulk in (True, False):
        table, errors, records = _parse(f, bulk)
        assert table.num_rows == 1 and records == 2
        assert [(e.record, e.field) for e in errors] == [(3, field)]
        assert reason in errors[0].reason


@pytest.mark.parametrize("bad, field", [
    ({"resourceSpans": [{"resource": "x", "scopeSpans": "y"}]}, None),  # containers of the wrong type: no spans
    ({"resourceSpans": [{"scopeSpans": [{"spans": [_span({**GOOD, "gen_ai.usage.cost": {"doubleValue": 1e-13}})]}]}]},
     "gen_ai.usage.cost"),
    ({"resourceSpans": [{"scopeSpans": [{"spans": [_span({**GOOD, "app.env": {"kvlistValue": {"values": [1]}}})]}]}]},
     None),
])
def test_hostile_shapes_are_quarantined_or_skipped_not_crashes(tmp_path: Path, bad: dict, field: str | None) -> None:
    f = tmp_path / "h.json"
    f.write_text(json.dumps(bad))
    for bulk in (True, False):
        table, errors, records = _parse(f, bulk)
        assert [e.field for e in errors] == ([field] if field else [])
        assert table.num_rows == (0 if field or "resource" in bad["resourceSpans"][0] else 1)


def test_lone_surrogate_in_a_span_id_is_quarantined(tmp_path: Path) -> None:
    f = tmp_path / "u.json"
    f.write_text(_doc(_span(GOOD), _span(GOOD, spanId="a\\ud800")).replace("\\\\ud800", "\\ud800"))
    for bulk in (True, False):
        table, errors, _ = _parse(f, bulk)
        assert table.num_rows == 1 and [(e.record, e.field) for e in errors] == [(2, "spanId")]


def test_planted_secrets_never_reach_any_column(tmp_path: Path) -> None:
    key, bearer = "sk-PLANTEDsecret1234567890", "Bearer PLANTEDtoken0987654321"
    res = [{"key": k, "value": {"stringValue": key}} for k in ("service.name", "cost_center", "deployment.environment")]
    attrs = {
        "gen_ai.request.model": {"stringValue": bearer},
        "gen_ai.provider.name": {"stringValue": key},
        "gen_ai.operation.name": {"stringValue": "chat"},
        "app.api_key_name": {"stringValue": key},
        "app.workflow": {"stringValue": bearer},
        "gen_ai.prompt": {"stringValue": f"use {key}"},
        "gen_ai.usage.input_tokens": {"intValue": "10"},
    }
    doc = {"resourceSpans": [{"resource": {"attributes": res}, "scopeSpans": [{"spans": [_span(attrs)]}]}]}
    f = tmp_path / "s.json"
    f.write_text(json.dumps(doc))
    table, errors, _ = _parse(f)
    assert table.num_rows == 1 and not errors
    assert "PLANTED" not in json.dumps(table.to_pylist(), default=str)
