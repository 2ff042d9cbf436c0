"""litellm-spend JSON arrays read by pyarrow (litellm_lines): same rows, ids and quarantine as the row path."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from tests.sources.test_litellm_bulk_equivalence import _json_lines, _same_or_same_error

from costproof.sources.usage import litellm_lines, vector
from costproof.sources.usage.base import ParseContext

# (field, JSON text) replacing a field's value, or None: a text appended as a repeated key
HOSTILE: list[tuple[str | None, str]] = [
    ("spend", '"0.5"'),
    ("spend", "NaN"),
    ("spend", "Infinity"),
    ("spend", "-Infinity"),
    ("spend", "1E5"),
    ("spend", "1e-5"),
    ("spend", "-0.0"),
    ("spend", "0.1234567890125"),
    ("spend", "999.9999999999995"),
    ("spend", "999.999999999999"),
    ("spend", "1000.5"),
    ("spend", "10000000000000000000"),
    ("spend", "-1"),
    ("spend", "5e-13"),
    ("spend", "4.9999999999999e-13"),
    ("spend", "0.30000000000000004"),
    ("spend", "null"),
    ("spend", "true"),
    ("spend", "2.5e2"),
    ("spend", "7"),
    ("spend", "-1e30"),
    ("spend", "1e-400"),
    ("spend", "5e-324"),
    ("spend", "0.1000000000000000055511151231257827"),
    ("spend", "2.675"),
    ("spend", "0.000000000000499999999999999"),
    ("spend", "0.0000000000005"),
    ("spend", "999.99999999999949"),
    ("spend", "1023.9999999999995"),
    ("spend", "100000.0"),
    ("spend", "-1e-300"),
    ("spend", "18446744073709551616"),
    ("spend", "-0"),
    ("spend", "0.1234567890124999"),
    ("spend", "0.12345678901249999999"),
    ("spend", "1E-5"),
    ("spend", "1e30"),
    ("spend", "10000000000000000001"),
    ("spend", "123456789.000000001"),
    ("prompt_tokens", "9223372036854775807"),
    ("completion_tokens", "9223372036854775807"),
    ("prompt_tokens", "-1"),
    ("prompt_tokens", "1000000000000000000"),
    ("prompt_tokens", "999999999999999999"),
    ("prompt_tokens", "9223372036854775808"),
    ("prompt_tokens", "1.0"),
    ("prompt_tokens", '"12"'),
    ("prompt_tokens", "null"),
    ("completion_tokens", "-3"),
    ("completion_tokens", "1000000000000000000"),
    ("request_id", '" padded"'),
    ("request_id", '"a\\u0000b"'),
    ("request_id", "5"),
    ("request_id", '"None"'),
    ("request_id", '"id\\u00a0"'),
    ("request_id", "null"),
    ("startTime", '"2026-06-01T24:00:00"'),
    ("startTime", '"2026-06-01"'),
    ("startTime", '"2026-06-01T00:00:00+0530"'),
    ("startTime", '"2026-06-01 00:00:00.1234567"'),
    ("startTime", "null"),
    ("startTime", "1780272000"),
    ("endTime", '"bad"'),
    ("endTime", '"None"'),
    ("endTime", "null"),
    ("endTime", '"2026-13-01 00:00:00"'),
    ("cache_hit", "true"),
    ("cache_hit", '"True"'),
    ("cache_hit", '" True "'),
    ("model", '"  gpt-4o "'),
    ("model", "null"),
    ("model", '"None"'),
    ("model_group", "7"),
    ("team_id", "3"),
    ("end_user", "[]"),
    ("api_key", "5"),
    ("api_key", '"sk-live0123456789abcdef"'),
    ("api_key", "null"),
    ("metadata", "null"),
    ("metadata", '"{\\"status\\": \\"failure\\"}"'),
    ("metadata", '"None"'),
    ("metadata", '{"project_id": 1.50}'),
    ("metadata", '{"project_id": 1.5}'),
    ("metadata", '{"x": NaN}'),
    ("metadata", '{"status": "failure", "status": "success"}'),
    ("metadata", '{"user_api_key_alias": "sk-PLANTED0123456789"}'),
    ("metadata", '{"usage_object": {"prompt_tokens_details": {"cached_tokens": 100000}}}'),
    ("metadata", "[1]"),
    ("request_tags", "null"),
    ("request_tags", '["a", 3]'),
    ("request_tags", '"[\\"customer:c-str\\"]"'),
    ("request_tags", '["customer:c1", null]'),
    ("request_tags", "{}"),
    ("request_tags", '[""]'),
    ("request_tags", "[]"),
    ("request_tags", '["customer:ab"]'),
    ("request_tags", '["customer:a", "b"]'),
    ("request_tags", '["1:customer:x", "-"]'),
    ("request_tags", '["-", null, "project:x\\u0000"]'),
    ("request_tags", '["project:p1", "project:p2", "env=prod"]'),
    (None, '"metadata": {"status": "failure"}'),
    (None, '"spend": 0.7'),
    (None, '"request_tags": ["customer:dup"]'),
    (None, '"model": "dup"'),
    (None, '"met\\u0061data": {"status": "failure"}'),
    (None, '"sp\\u0065nd": 0.7'),
    (None, '"messages": [{"content": "hi"}], "x": 1e999'),
    (None, '"x": "\\ud800"'),
    (None, '"x": -Infinity'),
]
# keys spelled with escapes, once: pyarrow and DuckDB both read them as the key (the row path does too)
RENAMES = [
    ('"metadata"', '"met\\u0061data"'),
    ('"request_tags"', '"request\\u005ftags"'),
    ('"spend"', '"sp\\u0065nd"'),
    ('"request_id"', '"request\\u005fid"'),
]


def _item(rng: random.Random, i: int) -> dict[str, object]:
    """A SpendLogs row with the JSON types LiteLLM writes (what pyarrow's schema reads)."""
    model = rng.choice(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "模型"])
    meta: dict[str, object] = {
        "user_api_key_alias": rng.choice(["key-0", "key-1", None]),
        "status": rng.choice(["success", "success", "failure"]),
    }
    if rng.random() < 0.3:
        meta["usage_object"] = {
            "prompt_tokens_details": {"cached_tokens": rng.choice([0, 10, 100])},
            "completion_tokens_details": {"reasoning_tokens": rng.choice([0, 5, None])},
        }
    if rng.random() < 0.2:
        meta["spend_logs_metadata"] = {"project": "atlas", "environment": rng.choice(["production", "PROD"])}
    start = f"2026-06-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00" + rng.choice(
        ["Z", "", "+05:30", ".123456Z"]
    )
    return {
        "request_id": f"chatcmpl-{i}-{rng.randint(0, 10**6)}",
        "call_type": "acompletion",
        "api_key": f"{rng.randint(0, 5):064x}",
        "spend": rng.choice([0.0, round(rng.random() / 100, rng.randint(1, 17)), rng.random(), rng.randint(0, 9)]),
        "total_tokens": 1000,
        "prompt_tokens": rng.randint(100, 9000),
        "completion_tokens": rng.randint(10, 900),
        "startTime": start,
        "endTime": rng.choice([start, "2026-06-30T00:00:00Z", None]),
        "model": model,
        "model_group": model,
        "custom_llm_provider": rng.choice(["openai", "anthropic"]),
        "user": "u1",
        "metadata": meta,
        "cache_hit": rng.choice(["False", "False", "True", None]),
        "request_tags": rng.choice([["cost_center:cc-1"], ["env=prod", "customer:c1"], []]),
        "team_id": rng.choice(["team-a", None]),
        "end_user": rng.choice([None, "cust-9"]),
        "messages": rng.choice([[{"role": "user", "content": "hi"}], "{}", None]),
        "response": {"id": "x"},
    }


def _hostile(rng: random.Random, rec: dict[str, object]) -> str:
    return _edit(rec, *rng.choice(HOSTILE))


def _texts(seed: int, n: int, hostile: int) -> list[str]:
    """n items, `hostile` of them with one hostile edit, a few with keys spelled with escapes."""
    rng = random.Random(seed)
    items = [_item(rng, i) for i in range(n)]
    texts = [
        json.dumps(rec, separators=rng.choice([(",", ":"), (", ", ": ")]), ensure_ascii=rng.random() < 0.5)
        for rec in items
    ]
    for at in rng.sample(range(n), hostile):
        texts[at] = _hostile(rng, items[at])
    for at in rng.sample(range(n), max(1, hostile // 4)):
        old, new = rng.choice(RENAMES)
        texts[at] = texts[at].replace(old, new, 1)
    return texts


@pytest.mark.parametrize(
    "seed, n, hostile, chunk_rows, style",
    [
        (41, 12000, 2, 100_000, "lead"),
        (42, 12000, 3, 100_000, "trail"),
        (43, 6000, 1, 100_000, "crlf"),
        (44, 3000, 60, 100_000, "lead"),
        (45, 3000, 60, 700, "blank"),
        (46, 2000, 40, 37, "lead"),
    ],
)
def test_json_arrow_equals_row_path(
    tmp_path: Path, seed: int, n: int, hostile: int, chunk_rows: int, style: str
) -> None:
    path = tmp_path / "spend.json"
    path.write_text(_json_lines(_texts(seed, n, hostile), style), "utf-8", newline="")
    assert _same_or_same_error(path, chunk_rows)


def _edit(rec: dict[str, object], field: str | None, text: str) -> str:
    if field is None:
        return json.dumps(rec)[:-1] + ", " + text + "}"
    rec = dict(rec)
    rec[field] = "@HOSTILE@"
    return json.dumps(rec).replace('"@HOSTILE@"', text, 1)


def test_json_every_hostile_edit(tmp_path: Path) -> None:
    """Every hostile edit pyarrow reads, all in one range pyarrow types (the checks after it decide); the edits it
    refuses, each alone among clean lines (a short range through DuckDB)."""
    rng = random.Random(47)
    items = [_item(rng, i) for i in range(2000)]
    edited = [_edit(items[k], field, text) for k, (field, text) in enumerate(HOSTILE)]
    edited += [json.dumps(items[len(edited) + k]).replace(old, new, 1) for k, (old, new) in enumerate(RENAMES)]
    read = [t for t in edited if litellm_lines._parse(pa.py_buffer(t.encode("utf-8") + b"\n")) is not None]
    refused = [t for t in edited if t not in read]
    assert len(read) > 50 and len(refused) > 15
    texts = [json.dumps(rec) for rec in items[len(edited) :]]
    for k, text in enumerate(read):
        texts.insert(k * 5, text)
    data, offsets = _piece(texts)
    out: list = []
    litellm_lines._ranges(data, offsets, 0, len(texts), out)
    assert len(out) == 1 and out[0][2] is not None
    path = tmp_path / "spend.json"
    path.write_text(_json_lines(texts, "lead"), "utf-8")
    for chunk_rows in (100_000, 300):
        assert _same_or_same_error(path, chunk_rows)
    for k, text in enumerate(refused):
        lines = [json.dumps(rec) for rec in items[:600]]
        lines[(k * 37) % 600] = text
        path.write_text(_json_lines(lines, rng.choice(["lead", "trail"])), "utf-8")
        assert _same_or_same_error(path, 100_000)


def test_json_refused_line_among_arrow_lines(tmp_path: Path) -> None:
    """A line json.loads refuses among lines pyarrow reads: the row path's error, after earlier chunks."""
    rng = random.Random(48)
    texts = [json.dumps(_item(rng, i)) for i in range(3000)]
    # Inf and -NaN pyarrow reads in a field it is not asked for; the rest it refuses
    for bad in (', "x": [1,]}', ', "x": nan}', ', "x": {"a": 1,}}', '} {"b": 2}', ', "a": tru}', ', "x": Inf}',
                ', "x": -Inf}', ', "x": -NaN}', ', "x": [1, Inf]}'):
        lines = list(texts)
        lines[2500] = lines[2500][:-1] + bad
        path = tmp_path / "bad.json"
        path.write_text(_json_lines(lines, "lead"), "utf-8")
        assert not _same_or_same_error(path, 1000)


def _piece(texts: list[str]) -> tuple[pa.Buffer, np.ndarray]:
    data = "".join(t + "\n" for t in texts).encode("utf-8")
    offsets = np.concatenate([[0], np.cumsum([len(t.encode("utf-8")) + 1 for t in texts])]).astype(np.int32)
    return pa.py_buffer(data), offsets


def test_ranges_narrow_down_to_the_odd_lines() -> None:
    """A few odd lines cost a few short ranges (the rest stays with pyarrow); odd lines throughout, one range."""
    rng = random.Random(49)
    texts = [json.dumps(_item(rng, i)) for i in range(20000)]
    for at in (777, 15000):
        texts[at] = texts[at].replace('"call_type": "acompletion"', '"call_type": 1')
    data, offsets = _piece(texts)
    out: list = []
    litellm_lines._ranges(data, offsets, 0, len(texts), out)
    assert [(a, b) for a, b, _t in out] == sorted((a, b) for a, b, _t in out)
    assert out[0][0] == 0 and out[-1][1] == len(texts) and all(x[1] == y[0] for x, y in zip(out, out[1:], strict=False))
    duck = [(a, b) for a, b, t in out if t is None]
    assert len(duck) == 2 and all(
        a <= at < b and b - a <= litellm_lines._SMALL for (a, b), at in zip(duck, (777, 15000), strict=True)
    )
    assert all(t.num_rows == b - a for a, b, t in out if t is not None)
    for at in range(0, 20000, 97):
        texts[at] = texts[at].replace('"call_type": "acompletion"', '"call_type": 1')
    data, offsets = _piece(texts)
    out = []
    litellm_lines._ranges(data, offsets, 0, len(texts), out)
    assert [(a, b, t) for a, b, t in out] == [(0, len(texts), None)]


def test_lines_pyarrow_reads_are_typed_in_one_query() -> None:
    """Values no DECIMAL(38, 12) holds (or NaN) do not fail the typing query: the piece stays on the fast path."""
    rng = random.Random(50)
    texts = [_edit(_item(rng, i), "spend", v) for i, v in enumerate(["-1e30", "1e30", "NaN", "-Infinity", "0.5"])]
    data, offsets = _piece(texts)
    table = litellm_lines._parse(data)
    assert table is not None and table.num_rows == len(texts)
    lines = pa.StringArray.from_buffers(len(texts), pa.py_buffer(offsets), data)
    con = vector.connect()
    try:
        part = litellm_lines._arrow_part(con, lines, table, None)
    finally:
        con.close()
    assert part is not None
    chunk = litellm_lines.piece_chunk([part], 0, ParseContext("x"))
    assert chunk.records == len(texts) and chunk.table.num_rows == 1


@pytest.mark.parametrize(
    "tags",
    [
        [
            ["a", "bc"],
            ["ab", "c"],
            ["abc"],
            [],
            None,
            [""],
            ["", ""],
            [None],
            [None, None],
            ["-"],
            ["1:a"],
            ["a", None],
        ],
        [["é:1", "-"], ["é:1-"], ["\x00"], ["x" * 300, "1"], ["x" * 300 + "1"]],
    ],
)
def test_tag_keys_tell_lists_apart(tags: list) -> None:
    keys = litellm_lines._tag_keys(pa.chunked_array([pa.array(tags, pa.list_(pa.string()))])).to_pylist()
    assert len(set(keys)) == len(tags)
    assert [litellm_lines._untag(k) if k is not None else None for k in keys] == tags


@pytest.mark.parametrize("value", ["Inf", "-Inf", "-NaN", "[1, Inf]", "NaN", "Infinity", '"Info: -NaN"'])
def test_nan_inf_spellings_in_a_field_pyarrow_skips(tmp_path: Path, value: str) -> None:
    """pyarrow reads Inf and -NaN in a field it is not asked for and types the whole range; json.loads refuses
    them, so the import fails as on the row path (NaN and Infinity, which json.loads reads, import alike)."""
    texts = [
        json.dumps({"request_id": f"chatcmpl-{i}", "call_type": "acompletion", "api_key": f"{i:064x}",
                    "spend": (i % 997) / 100000, "prompt_tokens": 1000 + i, "completion_tokens": 200,
                    "startTime": "2026-06-01T00:00:00Z", "model": "gpt-4o", "model_group": "gpt-4o",
                    "metadata": {"user_api_key_alias": f"key-{i % 5}", "status": "success"}, "cache_hit": "False",
                    "request_tags": [f"cost_center:cc-{i % 5}"], "team_id": "team-a", "end_user": None})
        for i in range(600)
    ]
    texts[300] = texts[300][:-1] + ', "note": ' + value + "}"
    path = tmp_path / "spend.json"
    path.write_text(_json_lines(texts, "lead"), "utf-8")
    assert _same_or_same_error(path, 100_000) == (value in ("NaN", "Infinity", '"Info: -NaN"'))
