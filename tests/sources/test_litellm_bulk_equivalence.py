"""litellm-spend: the bulk (pyarrow + DuckDB) and row (Python) paths give identical rows, ids and quarantine."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest

from costproof.model.errors import InputError
from costproof.sources.usage import litellm_spend
from costproof.sources.usage.base import ParseContext, collect

HEADER = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
          "startTime", "endTime", "model", "model_group", "custom_llm_provider", "user", "metadata", "cache_hit",
          "request_tags", "team_id", "end_user", "status", "stream", "messages"]
SPACES = [chr(c) for c in range(0x3001) if chr(c).isspace()]


def _meta(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(["None", "", "null", "{broken", "[1, 2]", "  ", "\"text\""])
    body: dict[str, object] = {}
    for key, values in (
        ("user_api_key_alias", ["key-0", "key-1", None, "", " spaced ", "sk-live0123456789abcdef",
                                "Bearer abcdefgh12345", 7]),
        ("user_api_key_team_alias", ["cc-search", None, "", "team key"]),
        ("status", ["success", "failure", "Failed", "", None]),
        ("spend_logs_metadata", [{"project": "atlas", "environment": "production"}, {"env": "PROD", "cc": 3},
                                 "not a dict", {"Cost-Center": "cc-x", "costCenter": "cc-y"}, {"api_key": "sk-x"}]),
        ("usage_object", [{"prompt_tokens_details": {"cached_tokens": 100}},
                          {"prompt_tokens_details": {"cached_tokens": "50", "audio_tokens": 3},
                           "completion_tokens_details": {"reasoning_tokens": 20, "audio_tokens": None}},
                          {"cache_creation_input_tokens": 10, "cache_read_input_tokens": 20},
                          {"prompt_tokens_details": {"cached_tokens": 5000}}, {"prompt_tokens_details": "x"},
                          {"prompt_tokens_details": {"cached_tokens": -1}}, {"prompt_tokens_details": {"cached_tokens":
                                                                                                     1.5}},
                          {"prompt_tokens_details": {"cached_tokens": 10**19}}, []]),
        ("additional_usage_values", [{"cache_read_input_tokens": 7}]),
        ("status_code", [200, "429", None, "x", -1, 503]),
        ("error_information", [{"error_code": "429"}, {"error_code": "abc"}, "", None, {"error_code": "5000"}]),
        ("stream", [True, "true", "False", None]),
        ("project_id", ["p-1", "", None, 42]),
        ("customer", ["cust-1", " "]),
        ("Workflow", ["wf"]),
        ("token", ["sk-PLANTEDsecret1234567890"]),
    ):
        if rng.random() < 0.3:
            body[key] = rng.choice(values)
    if rng.random() < 0.02:
        body["sk-keyname0123456789"] = "x"  # a secret in a key name
    return json.dumps(body)


def _time(rng: random.Random) -> str:
    t = f"2026-06-{rng.randint(1, 30):02d}{rng.choice(['T', ' '])}{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:" \
        f"{rng.randint(0, 59):02d}"
    t += rng.choice(["", "", ".123", ".000001", ".5", f".{rng.randint(0, 999999):06d}", ".1234567"])
    t += rng.choice(["", "", "Z", "+00:00", "-00:00", "+05:30", "-08:00", "+0530", "z", "+24:00"])
    return t


def _record(rng: random.Random, i: int) -> dict[str, object]:
    model = rng.choice(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "模型", ""])
    rec: dict[str, object] = {
        "request_id": f"chatcmpl-{rng.randint(0, 10**9)}", "call_type": rng.choice(["acompletion", "", "None"]),
        "api_key": rng.choice([f"{rng.randint(0, 5):064x}", "", "sk-live0123456789abcdef", "None"]),
        "spend": rng.choice(["0.00231", "0", "1.5", f"0.{rng.randint(0, 99999):05d}", "None", ""]),
        "total_tokens": "1", "prompt_tokens": str(rng.randint(0, 9000)), "completion_tokens": str(rng.randint(0, 900)),
        "startTime": _time(rng), "endTime": rng.choice([_time(rng), "", "None"]),
        "model": model, "model_group": rng.choice([model, "grp", "", "None"]),
        "custom_llm_provider": rng.choice(["openai", "anthropic", "", "None"]), "user": "u",
        "metadata": _meta(rng), "cache_hit": rng.choice(["False", "True", "", "None", "true"]),
        "request_tags": rng.choice(['["cost_center:cc-1"]', '["env=prod", "customer:c1", 3]', "[]", "None", "",
                                    '{"a": 1}', "[broken", '["workflow:summarize", "customer:acme"]']),
        "team_id": rng.choice(["team-a", "", "None", "team b"]), "end_user": rng.choice(["", "None", "cust-9"]),
        "status": rng.choice(["success", "", "failure", "None"]), "stream": rng.choice(["", "True", "false"]),
        "messages": rng.choice(["{}", "hello", ""]),
    }
    mutations = (
        ("request_id", ["", "None", " padded ", "id\u00a0", "\u3000x", "sk-PLANTEDsecret1234567890"]),
        ("spend", ["-1", "abc", "1,000.5", "1e-5", " 0.5 ", "0.123456789012", ".5", "1.", "NaN",
                   "99999999999999999999"]),
        ("prompt_tokens", ["-1", "1.0", "1.5", " 12 ", "abc", "99999999999999999999", "", "None", "007"]),
        ("completion_tokens", ["-3", "x", "2.0", "None"]),
        ("startTime", ["None", "", "31/31/2026", "2026-02-30T00:00:00", "1780272000", "2026-06-01T24:00:00",
                       "2026-06-01T00:00:60", " 2026-06-01T00:00:00", "0001-01-01T00:00:00-05:00",
                       "2026-06-01t00:00:00", "2026-06-01"]),
        ("endTime", ["bad", "2026-13-01 00:00:00", " None "]),
        ("cache_hit", [" True ", "TRUE"]),
        ("model", ["  gpt-4o ", "gpt\u2003", "None", "null"]),
    )
    if rng.random() < 0.3:
        key, values = rng.choice(mutations)
        rec[key] = rng.choice(values)
    if rng.random() < 0.03:
        field = rng.choice(["model", "team_id", "end_user", "call_type", "request_id"])
        rec[field] = rng.choice(SPACES) + str(rec[field]) + rng.choice(SPACES)
    return rec


def _records(seed: int, n: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        rec = _record(rng, i)
        out.append(rec)
        if rng.random() < 0.03:
            out.append(dict(rec))  # an exact repeat
    return out


def _csv(records: list[dict[str, object]], terminator: str = "\n") -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HEADER, lineterminator=terminator)
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def _both(path: Path, chunk_rows: int) -> tuple[tuple, tuple]:
    bulk = collect(litellm_spend.parse(path, ParseContext(path.name, chunk_rows=chunk_rows)))
    rows = collect(litellm_spend.parse(path, ParseContext(path.name, chunk_rows=chunk_rows, options={"bulk": False})))
    return bulk, rows


def _assert_same(bulk: tuple, rows: tuple) -> None:
    assert bulk[2] == rows[2]  # records
    assert bulk[1] == rows[1]  # quarantine: record, field, reason
    for name in rows[0].column_names:
        assert bulk[0].column(name).to_pylist() == rows[0].column(name).to_pylist(), name
    assert bulk[0].equals(rows[0])
    assert bulk[0].num_rows + len(bulk[1]) == bulk[2]


@pytest.mark.parametrize("seed, chunk_rows", [(1, 100_000), (2, 37), (3, 257)])
def test_csv_bulk_equals_row_path(tmp_path: Path, seed: int, chunk_rows: int) -> None:
    path = tmp_path / "spend.csv"
    path.write_text(_csv(_records(seed, 2500)), "utf-8")
    bulk, rows = _both(path, chunk_rows)
    _assert_same(bulk, rows)
    assert len(rows[1]) > 100 and rows[0].num_rows > 800
    text = json.dumps(rows[0].to_pylist(), default=str)
    assert "PLANTED" not in text and "sk-live" not in text and "sk-keyname" not in text


@pytest.mark.parametrize("chunk_rows", [100_000, 41])
def test_csv_blocks_the_bulk_path_cannot_vouch_for(tmp_path: Path, chunk_rows: int) -> None:
    """Multi-line values, blank lines, lone CRs, CRLF, short and long rows: the row path's records and lines."""
    rng = random.Random(7)
    records = _records(8, 600)
    for rec in rng.sample(records, 15):
        rec["messages"] = rng.choice(["line one\nline two", "a\r\nb", "cr\ronly", "x" * 140_000])
    lines = _csv(records).split("\n")
    for at in sorted(rng.sample(range(2, len(lines) - 1), 6), reverse=True):
        lines.insert(at, rng.choice(["", "short,row", "a,b,c," * 10]))
    for text, name in (("\n".join(lines), "mixed.csv"), (_csv(_records(9, 400), "\r\n"), "crlf.csv"),
                       (_csv(_records(10, 300)).rstrip("\n"), "no-final-newline.csv"),
                       (_csv(_records(11, 300)) + "\n\n", "trailing-blank.csv")):
        path = tmp_path / name
        path.write_text(text, "utf-8", newline="")
        try:
            rows = collect(litellm_spend.parse(path, ParseContext(name, chunk_rows=chunk_rows,
                                                                  options={"bulk": False})))
        except InputError as exc:
            with pytest.raises(InputError) as caught:
                collect(litellm_spend.parse(path, ParseContext(name, chunk_rows=chunk_rows)))
            assert (str(caught.value), caught.value.record) == (str(exc), exc.record)
            continue
        bulk = collect(litellm_spend.parse(path, ParseContext(name, chunk_rows=chunk_rows)))
        _assert_same(bulk, rows)


def test_csv_not_utf8_fails_like_the_row_path(tmp_path: Path) -> None:
    data = _csv(_records(12, 3000)).encode("utf-8")
    at = len(data) * 3 // 4
    path = tmp_path / "bad.csv"
    path.write_bytes(data[:at] + b"\xff\xfe" + data[at:])
    messages = []
    for options in ({}, {"bulk": False}):
        with pytest.raises(InputError) as caught:
            collect(litellm_spend.parse(path, ParseContext("bad.csv", chunk_rows=97, options=options)))
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "UTF-8" in messages[0]
