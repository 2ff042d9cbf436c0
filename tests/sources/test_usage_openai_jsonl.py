"""openai-jsonl: chat, responses, messages, batch lines; streaming, errors, labels, secrets."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from costproof.model.errors import InputError
from costproof.sources.usage import openai_jsonl
from costproof.sources.usage.base import ParseContext, collect

DATA = Path(__file__).resolve().parents[1] / "data" / "usage"
COLS = (
    "source_record", "record_kind", "route_family", "request_id", "status_code", "is_stream",
    "is_partial", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
    "reasoning_tokens", "audio_input_tokens", "audio_output_tokens", "requests", "usage_origin",
)  # fmt: skip
GOLDEN = [
    (1, "consume", "chat.completions", "req-1001", 200, False, False, 176, 1024, 0, 300, 0, 0, 0, 1, "reported"),
    (2, "consume", "responses", None, 200, False, False, 1500, 500, 0, 260, 640, 0, 0, 1, "reported"),
    (3, "consume", "messages", "req-1003", 200, False, False, 50, 8000, 2000, 120, 0, 0, 0, 1, "reported"),
    (4, "consume", "chat.completions", "req-1004", 200, True, False, 400, 0, 0, 80, 0, 0, 0, 1, "reported"),
    (5, "consume", "chat.completions", "req-1005", 200, True, True, *[None] * 7, 1, "missing"),
    (6, "error", None, "req-1006", 429, False, False, *[None] * 7, 0, "missing"),
    (7, "consume", "chat.completions", "req-1006", 200, False, False, 100, 0, 0, 20, 0, 0, 0, 1, "reported"),
    (8, "consume", "chat.completions", None, 200, False, False, 210, 0, 0, 12, 0, 0, 0, 1, "reported"),
    (9, "consume", "chat.completions", "req-1009", 200, False, False, 500, 0, 0, 100, 0, 1000, 600, 1, "reported"),
    (10, "consume", "chat.completions", "req-1010", 200, False, True, 300, 0, 0, 4096, 0, 0, 0, 1, "reported"),
    (11, "consume", "chat.completions", "nightly-0001", 200, False, False, 80, 0, 0, 10, 0, 0, 0, 1, "reported"),
    (12, "consume", "embeddings", "req-1012", 200, False, False, 64, 0, 0, 0, 0, 0, 0, 1, "reported"),
]  # fmt: skip


def _parse(path: Path, **kw: object) -> tuple:
    return collect(openai_jsonl.parse(path, ParseContext(path.name, **kw)))  # type: ignore[arg-type]


def test_golden_sample() -> None:
    table, errors, records = _parse(DATA / "openai.jsonl")
    assert errors == [] and records == 12
    rows = [tuple(r[c] for c in COLS) for r in table.to_pylist()]
    assert rows == GOLDEN


def test_labels_time_and_cost() -> None:
    table, _, _ = _parse(DATA / "openai.jsonl")
    rows = table.to_pylist()
    first = rows[0]
    assert first["occurred_at"].isoformat() == "2026-06-01T00:00:01+00:00"
    assert first["original_offset"] == "+08:00"
    assert (first["cost_center"], first["project"], first["customer"], first["workflow"]) == (
        "cc-search", "atlas", "acme", "summarize",
    )  # fmt: skip
    assert (first["environment"], first["api_key_name"]) == ("production", "search-backend")
    assert rows[1]["environment"] == "staging"  # responses API echoes metadata in the body
    assert rows[3]["cost_center"] == "cc-search"  # top-level caller keys
    assert rows[8]["environment"] == "test"
    assert rows[7]["provider"] == "openrouter"
    assert rows[7]["provider_reported_cost"] == Decimal("0.0002158")
    assert rows[7]["provider_reported_currency"] == "USD"
    assert rows[2]["provider"] == "cometapi"


def test_overlapping_exports_give_the_same_record_ids(tmp_path: Path) -> None:
    lines = (DATA / "openai.jsonl").read_text().splitlines()
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("\n".join(lines[:8]) + "\n")
    b.write_text("\n".join(lines[4:]) + "\n")
    ids_a = set(_parse(a)[0].column("record_id").to_pylist())
    ids_b = set(_parse(b)[0].column("record_id").to_pylist())
    assert len(ids_a & ids_b) == 4


@pytest.mark.parametrize(
    "line, field, reason",
    [
        ("{not json", "record", "not valid JSON"),
        (
            '{"created": 1780272000, "model": "gpt-4o", "usage": {"prompt_tokens": -5}}',
            "usage.prompt_tokens",
            "negative",
        ),
        (
            '{"created": 1780272000, "model": "gpt-4o", "usage": {"prompt_tokens": "many"}}',
            "usage.prompt_tokens",
            "integer",
        ),
        ('{"model": "gpt-4o", "usage": {"prompt_tokens": 5}}', "created", "missing"),
        ('{"created": "yesterday", "model": "gpt-4o", "usage": {"prompt_tokens": 5}}', "created", "unparseable"),
        ('{"created": 1780272000, "usage": {"prompt_tokens": 5}}', "model", "missing"),
        (
            '{"created": 1780272000, "model": "m", "usage": {"prompt_tokens": 5, '
            '"prompt_tokens_details": {"cached_tokens": 9}}}',
            "usage.prompt_tokens",
            "exceeds",
        ),
        (
            '{"created": 1780272000, "model": "m", "usage": {"prompt_tokens": 5, "completion_tokens": 1, '
            '"completion_tokens_details": {"reasoning_tokens": 4}}}',
            "usage.completion_tokens",
            "exceeds",
        ),
        ('{"created": 1780272000, "model": "m", "usage": 12}', "usage", "object"),
        ("[1, 2]", "record", "object"),
    ],
)
def test_malformed_lines_are_quarantined_with_record_and_field(
    tmp_path: Path, line: str, field: str, reason: str
) -> None:
    good = '{"created": 1780272000, "model": "gpt-4o", "usage": {"prompt_tokens": 5, "completion_tokens": 1}}'
    f = tmp_path / "x.jsonl"
    f.write_text(f"{good}\n\n{line}\n{good}\n")
    table, errors, records = _parse(f)
    assert records == 3 and table.num_rows == 2
    assert [(e.record, e.field) for e in errors] == [(3, field)]
    assert reason in errors[0].reason


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match="record 1"):
        _parse(f)
    f.write_text("\n\n")
    with pytest.raises(InputError, match="empty"):
        _parse(f)


SECRETS = ("sk-proj-PLANTEDsecretKEY1234567890", "Bearer eyPLANTEDtokenvalue0987654321")


def test_planted_secrets_never_reach_any_column(tmp_path: Path) -> None:
    key, bearer = SECRETS
    rec = {
        "request_id": key,
        "timestamp": "2026-06-01T00:00:00Z",
        "provider": bearer,
        "group": key,
        "metadata": {
            "cost_center": key, "project": bearer, "customer": key, "workflow": bearer,
            "environment": key, "api_key_name": key, "authorization": bearer,
        },
        "request": {"model": key, "messages": [{"role": "user", "content": f"my key is {key}"}]},
        "response": {
            "id": bearer, "object": "chat.completion", "created": 1780272000, "model": bearer,
            "choices": [{"message": {"content": f"{bearer} {key}"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2},
        },
    }  # fmt: skip
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "error": {"message": key}, "status_code": 500}) + "\n")
    table, errors, _ = _parse(f)
    assert table.num_rows == 2 and not errors
    dump = json.dumps(table.to_pylist(), default=str)
    assert "PLANTED" not in dump
    assert table.column("api_key_name")[0].as_py().startswith("keyhash:")
