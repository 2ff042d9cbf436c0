"""litellm-spend: the bulk (pyarrow + DuckDB) and row (Python) paths give identical rows, ids and quarantine."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest
from tests.sources.equivalence import assert_same, both

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
    return both(litellm_spend, path, chunk_rows)


@pytest.mark.parametrize("seed, chunk_rows", [(1, 100_000), (2, 37), (3, 257)])
def test_csv_bulk_equals_row_path(tmp_path: Path, seed: int, chunk_rows: int) -> None:
    path = tmp_path / "spend.csv"
    path.write_text(_csv(_records(seed, 2500)), "utf-8")
    bulk, rows = _both(path, chunk_rows)
    assert_same(bulk, rows)
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
        assert_same(bulk, rows)


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


# ---------------------------------------------------------------- JSON arrays (one item per line)
SPENDS = [0, 0.0, -0.0, 1e-05, 0.00231, 1.5, 0.1234567890125, 0.12345678901249999999, 0.1234567890123456789,
          999.9999999999995, 999.999999999999, 1000.5, 5e-13, 4.9999999999999e-13, 1e-13, 123456789, 10**19, 10**25,
          -1, -1e-20, 2.5e2]
SPEND_TEXTS = ["1E5", "1e-5", "0.5E-3", "1e999", "-0", "0.100000000000000000000001", "12345678901234567890.5",
               "NaN", "Infinity", "-Infinity"]


def _typed(rng: random.Random, rec: dict[str, object]) -> dict[str, object]:
    """A CSV-shaped record with JSON types: numbers, objects, lists, booleans, nulls where LiteLLM writes them."""
    out: dict[str, object] = dict(rec)
    meta = rec["metadata"]
    try:
        out["metadata"] = json.loads(meta) if rng.random() < 0.9 else meta  # type: ignore[arg-type]
    except ValueError:
        pass
    try:
        out["request_tags"] = json.loads(rec["request_tags"]) if rng.random() < 0.9 else rec["request_tags"]  # type: ignore[arg-type]
    except ValueError:
        pass
    if rng.random() < 0.7:
        out["spend"] = rng.choice(SPENDS)
    for key in ("prompt_tokens", "completion_tokens"):
        if rng.random() < 0.8 and str(rec[key]).isdigit():
            out[key] = int(str(rec[key]))
    for key in ("end_user", "endTime", "stream", "status", "team_id", "api_key"):
        if rng.random() < 0.1:
            out[key] = None
    if rng.random() < 0.05:
        out.pop(rng.choice(list(out)))
    if rng.random() < 0.05:
        key = rng.choice(["cache_hit", "stream", "model", "request_id", "prompt_tokens", "startTime", "api_key"])
        out[key] = rng.choice([True, False, 5, 2.5, 10**20, [], {}, "x"])
    if rng.random() < 0.05 and isinstance(out.get("metadata"), dict):
        meta2 = dict(out["metadata"])  # type: ignore[arg-type]
        meta2[rng.choice(["project_id", "status_code", "user_api_key_alias", "env"])] = rng.choice(
            [1.5, 1e-7, 10**20, -3, 200, 0.1])
        out["metadata"] = meta2
    return out


def _item_text(rng: random.Random, rec: dict[str, object]) -> str:
    text = json.dumps(rec, separators=rng.choice([(",", ":"), (", ", ": ")]), ensure_ascii=rng.random() < 0.5)
    roll = rng.random()
    if roll < 0.03 and "spend" in rec:  # the number's own text, as another writer would print it
        text = text.replace('"spend": ' if ": " in text else '"spend":',
                            '"spend":' + rng.choice(SPEND_TEXTS) + ',"spend_was":', 1)
    elif roll < 0.05:  # a repeated key: json.loads keeps the last value
        key = rng.choice(["spend", "model", "request_id", "metadata", "prompt_tokens"])
        text = text[:-1] + f', "{key}": ' + json.dumps(rng.choice(["gpt-x", 7, None, {"status": "failure"}])) + "}"
    elif roll < 0.06:  # DuckDB reads these, json.loads refuses them (the row path's error)
        text = text[:-1] + rng.choice([', "x": nan}', ', "x": [1,]}', ', "x": inf}', ', "x": {"a": 1,}}'])
    elif roll < 0.08:  # json.loads reads these (NaN, Infinity, escapes), DuckDB may not
        text = text[:-1] + rng.choice([', "x": NaN}', ', "x": -Infinity}', ', "x": "\\ud800"}', ', "x": "a\\u0000"}',
                                       ', "sp\\u0065nd": 0.5}', ', "x": "ends with ,}"}'])
    elif roll < 0.09 and "request_id" in rec:
        text = text.replace('"request_id"', '"request\\u005fid"', 1)
    return text


def _json_lines(items: list[str], style: str) -> str:
    if style == "lead":  # costproof's bench and LiteLLM exports: `[` + item, then `,` + item per line
        return "[" + "".join(("," if i else "") + t + "\n" for i, t in enumerate(items)) + "]\n"
    if style == "trail":
        return "[\n" + ",\n".join(items) + "\n]"
    if style == "crlf":
        return "\ufeff[\r\n  " + ",\r\n  ".join(items) + "\r\n]\r\n\r\n"
    if style == "blank":
        return "\n[\n\n" + "\n\n,".join(items) + "]   \n\n"
    raise AssertionError(style)


def _json_records(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [_item_text(rng, _typed(rng, rec)) for rec in _records(seed, n)]


def _same_or_same_error(path: Path, chunk_rows: int) -> bool:
    """True when both paths read the file (and agree), False when both refuse it with the same error."""
    try:
        rows = collect(litellm_spend.parse(path, ParseContext(path.name, chunk_rows=chunk_rows,
                                                              options={"bulk": False})))
    except InputError as exc:
        with pytest.raises(InputError) as caught:
            collect(litellm_spend.parse(path, ParseContext(path.name, chunk_rows=chunk_rows)))
        assert (str(caught.value), caught.value.record) == (str(exc), exc.record)
        return False
    bulk = collect(litellm_spend.parse(path, ParseContext(path.name, chunk_rows=chunk_rows)))
    assert_same(bulk, rows)
    return True


@pytest.mark.parametrize("seed, chunk_rows, style", [(21, 100_000, "lead"), (22, 37, "trail"), (23, 257, "crlf"),
                                                     (24, 1000, "blank"), (25, 1, "lead")])
def test_json_bulk_equals_row_path(tmp_path: Path, seed: int, chunk_rows: int, style: str) -> None:
    items = [t for t in _json_records(seed, 1500 if chunk_rows > 1 else 300)
             if chunk_rows > 1000 or not ("nan}" in t or ",]" in t or ",}}" in t or "inf}" in t)]
    path = tmp_path / "spend.json"
    path.write_text(_json_lines(items, style), "utf-8", newline="")
    assert _same_or_same_error(path, chunk_rows) == (chunk_rows <= 1000)
    if chunk_rows <= 1000:
        rows = collect(litellm_spend.parse(path, ParseContext(path.name, options={"bulk": False})))
        assert len(rows[1]) > 50 and rows[0].num_rows > (400 if chunk_rows > 1 else 60)
        text = json.dumps(rows[0].to_pylist(), default=str)
        assert "PLANTED" not in text and "sk-live" not in text and "sk-keyname" not in text


def test_json_refused_lines_fail_like_the_row_path(tmp_path: Path) -> None:
    """Text DuckDB reads but json.loads refuses: the row path's error (message and record), after the bulk has
    already yielded earlier chunks."""
    rng = random.Random(26)
    base = [json.dumps(_clean(rng, i)).replace('"@NUMBER@"', "7") for i in range(400)]
    good = base[0][:-1]
    for bad in (', "x": nan}', ', "x": [1,]}', ', "x": {"a": 1 , }}', ', "x": Inf}', ', "x": -infinity}',
                '} {"b": 2}', '}, {"b": 2}', ', "a": tru}', ', "a": "\x01"}', ', "spend": NAN}'):
        items = list(base)
        items.insert(300, good + bad)
        path = tmp_path / "bad.json"
        path.write_text(_json_lines(items, "lead"), "utf-8")
        _same_or_same_error(path, 50)


@pytest.mark.parametrize("chunk_rows", [100_000, 29])
def test_json_layouts_the_bulk_path_does_not_cut(tmp_path: Path, chunk_rows: int) -> None:
    """Pretty-printed items, pages, several arrays, missing commas or brackets, two items on a line, not UTF-8:
    the row path reads (or refuses) them, and the bulk path agrees."""
    rng = random.Random(27)
    items = _json_records(28, 300)
    objects = [json.loads(t, parse_constant=lambda c: None) for t in items if "nan}" not in t and ",]" not in t
               and ",}}" not in t and "inf}" not in t and "\\ud800" not in t]
    texts = {
        "indent.json": json.dumps(objects, indent=2),
        "one-line.json": json.dumps(objects),
        "pages.json": "\n".join(json.dumps({"data": objects[i:i + 50], "total": len(objects), "page": i // 50 + 1})
                                for i in range(0, len(objects), 50)),
        "page.json": json.dumps({"data": objects, "total": len(objects), "page": 1}),
        "two-arrays.json": _json_lines(items[:100], "lead") + _json_lines(items[100:], "trail"),
        "no-close.json": _json_lines(items, "lead").rstrip().rstrip("]"),
        "missing-comma.json": _json_lines(items, "trail").replace(",\n", "\n", 1),
        "double-comma.json": _json_lines(items, "trail").replace(",\n", ",\n,", 1),
        "pair-line.json": _json_lines(items[:150] + [items[150] + ", " + items[151]] + items[152:], "trail"),
        "empty.json": "[]",
        "empty-lines.json": "[\n\n]\n",
        "comma-line.json": _json_lines(items, "trail").replace(",\n", "\n,\n", 1),
        "tail.json": _json_lines(items, "lead") + "x",
        "lead-comma-first.json": _json_lines(items, "lead").replace("[", "[,", 1),
    }
    rng.shuffle(items)
    for name, text in texts.items():
        path = tmp_path / name
        path.write_text(text, "utf-8")
        _same_or_same_error(path, chunk_rows)
    data = _json_lines(items, "lead").encode("utf-8")
    at = len(data) * 2 // 3
    path = tmp_path / "not-utf8.json"
    path.write_bytes(data[:at] + b"\xff" + data[at:])
    assert not _same_or_same_error(path, chunk_rows)


def test_json_spend_values_settle_like_the_row_path(tmp_path: Path) -> None:
    """Spend texts near the 12-decimal rounding boundaries, long decimals, exponents, huge and negative values."""
    texts = ["0.1234567890125", "0.12345678901249999999", "0.1234567890124999", "0.000000000000499999999999999",
             "0.0000000000005", "999.9999999999995", "999.99999999999949", "1023.9999999999995", "0.1", "1E-5",
             "100000.0", "1E5", "7", "18446744073709551616", "-0.0", "-0", "0.30000000000000004", "2.675",
             "1e-400", "5e-324", "0.1000000000000000055511151231257827", '"0.5"', '" 0.5"', '"None"', "null",
             "true", '"1e-5"', "-1e-300"]
    lines = [f'{{"request_id": "r{i}", "startTime": "2026-06-01T00:00:0{i % 10}Z", "model": "m", "spend": {t}}}'
             for i, t in enumerate(texts)]
    path = tmp_path / "spend.json"
    path.write_text("[" + "\n,".join(lines) + "\n]\n", "utf-8")
    assert _same_or_same_error(path, 100_000)
    bulk = collect(litellm_spend.parse(path, ParseContext(path.name)))
    assert len(bulk[1]) >= 2 and bulk[0].num_rows >= 20


NUMBER_TEXTS = ["1.50", "1E5", "1e-7", "100000000000000000000", "0.1000000000000000000001", "-0", "-0.0", "42",
                "9223372036854775808", "-9223372036854775809", "2.5"]


def _clean(rng: random.Random, i: int) -> dict[str, object]:
    """A LiteLLM SpendLogs row as the proxy writes it (the bulk path's usual input)."""
    model = rng.choice(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "模型"])
    meta: dict[str, object] = {"user_api_key_alias": rng.choice(["key-0", "key-1", None, "sk-live0123456789abcdef"]),
                               "status": rng.choice(["success", "success", "failure"])}
    if rng.random() < 0.3:
        meta["usage_object"] = {"prompt_tokens_details": {"cached_tokens": rng.choice([0, 10, 100])},
                                "completion_tokens_details": {"reasoning_tokens": rng.choice([0, 5, None])}}
    if rng.random() < 0.2:
        meta["spend_logs_metadata"] = {"project": "atlas", "environment": rng.choice(["production", "PROD"])}
    if rng.random() < 0.1:
        meta["project_id"] = "@NUMBER@"  # a number's own text (DuckDB prints numbers its own way)
    if rng.random() < 0.1:
        meta["error_information"] = {"error_code": rng.choice(["429", "500", ""]), "traceback": "a \"quoted\"\nline"}
    start = f"2026-06-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00" + rng.choice(
        ["Z", "", "+05:30", ".123456Z"])
    return {
        "request_id": f"chatcmpl-{rng.randint(0, 10**12)}", "call_type": "acompletion",
        "api_key": f"{rng.randint(0, 5):064x}",
        "spend": rng.choice([0.0, round(rng.random() / 100, rng.randint(1, 17)), rng.random(), rng.randint(0, 9),
                             f"{rng.random():.6f}"]),
        "total_tokens": 1000, "prompt_tokens": rng.randint(100, 9000), "completion_tokens": rng.randint(10, 900),
        "startTime": start, "endTime": rng.choice([start, "2026-06-30T00:00:00Z", None]), "model": model,
        "model_group": model, "custom_llm_provider": rng.choice(["openai", "anthropic"]), "user": "u1",
        "metadata": meta, "cache_hit": rng.choice(["False", "False", "True", None]),
        "request_tags": rng.choice([["cost_center:cc-1"], ["env=prod", "customer:c1"], []]),
        "team_id": rng.choice(["team-a", None, "@NUMBER@"]), "end_user": rng.choice([None, "cust-9"]),
        "messages": rng.choice([[{"role": "user", "content": "hi"}], "{}", None]), "response": {"id": "x"},
    }


@pytest.mark.parametrize("seed, chunk_rows, style", [(31, 100_000, "lead"), (32, 333, "trail"), (33, 50, "crlf")])
def test_json_mostly_clean_bulk_equals_row_path(tmp_path: Path, seed: int, chunk_rows: int, style: str) -> None:
    rng = random.Random(seed)
    items = []
    for i in range(4000):
        rec = _clean(rng, i)
        text = _item_text(rng, rec) if rng.random() < 0.1 else json.dumps(rec, separators=(",", ":"))
        while '"@NUMBER@"' in text:
            text = text.replace('"@NUMBER@"', rng.choice(NUMBER_TEXTS), 1)
        if not ("nan}" in text or ",]" in text or ",}}" in text or "inf}" in text):
            items.append(text)
        if rng.random() < 0.02:
            items.append(text)  # an exact repeat
    path = tmp_path / "clean.json"
    path.write_text(_json_lines(items, style), "utf-8", newline="")
    assert _same_or_same_error(path, chunk_rows)
    rows = collect(litellm_spend.parse(path, ParseContext(path.name, options={"bulk": False})))
    assert rows[0].num_rows > 3500
    assert "sk-live" not in json.dumps(rows[0].to_pylist(), default=str)
