"""The bulk (pyarrow + numpy) and row (Python) paths of otel-genai give identical rows, identities and quarantine."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tests.sources.equivalence import assert_same

from costproof.model.errors import InputError
from costproof.sources.usage import otel_bulk, otel_genai
from costproof.sources.usage.base import ParseContext, collect

T0 = 1780272000 * 10**9
SECRET = "sk-PLANTEDsecret1234567890abcdef"
MODELS = ("gpt-4o", "gpt-4o-mini", " claude-sonnet-4 ", "o4-mini\u3000", "模型-1", "", f"Bearer {SECRET}")


def _v(rng: random.Random, value: object, int_text: bool) -> dict[str, object] | None:
    """An AnyValue for a value, in the spelling an exporter might use (and some it should not)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value) if int_text else value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_v(rng, x, int_text) for x in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _v(rng, x, int_text)} for k, x in value.items()]}}
    if value is None:
        return rng.choice([None, {}])
    return {"stringValue": value}


def _token(rng: random.Random, wild: bool) -> object:
    roll = rng.random()
    if roll < 0.8:
        return rng.randint(0, 5000)
    odd: list[object] = [-3, "12", " 12", "1.0", "abc", 2**63 - 1, True, 0, "", "007", "١٢", [5]]
    return rng.choice(odd + [2**64, 1.0, 2.5] if wild else odd)


def _attrs(rng: random.Random, i: int, int_text: bool, wild: bool) -> list[dict[str, object]]:
    """Span attributes; `wild` adds values only the row path reads (doubles where integers are read, nested
    arrays, numbers beyond what the typed reader holds), which send the whole line to it."""
    a: dict[str, object] = {}
    op = rng.choice(["chat"] * 8 + ["embeddings", "invoke_agent", "execute_tool", "", None, 7, "text_completion"])
    if op is not None:
        a["gen_ai.operation.name"] = op
    if rng.random() < 0.9:
        a["gen_ai.request.model"] = rng.choice(MODELS[:5] + MODELS[5:] * (rng.random() < 0.2))
    if rng.random() < 0.3:
        a["gen_ai.response.model"] = rng.choice([*MODELS, 4])
    keys = rng.choice([("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"),
                       ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"),
                       ("llm.usage.prompt_tokens", "llm.usage.completion_tokens"), ()])
    for k in keys:
        a[k] = rng.randint(100, 9000) if rng.random() < 0.9 else _token(rng, wild)
    for k in ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.reasoning.output_tokens",
              "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.audio.input_tokens"):
        if rng.random() < 0.15:
            a[k] = _token(rng, wild) if rng.random() < 0.3 else rng.randint(0, 90)
    if rng.random() < 0.2:
        a["gen_ai.response.finish_reasons"] = rng.choice([["stop"], ["length"], ["stop", "max_tokens"], [], "length",
                                                          "stop", "", [1], 0, True, [None, "length"], 5,
                                                          *([[["x"]], 1.5, {"a": "b"}] if wild else [])])
    if rng.random() < 0.15:
        a[rng.choice(["gen_ai.request.stream", "llm.is_streaming"])] = rng.choice([True, False, "true", 1, "maybe"])
    if rng.random() < 0.15:
        a["gen_ai.usage.cost"] = rng.choice([0.00125, 1, 0.5, "0.25", "1,000", 2.5, "x", 3, 1e20, -0.75,
                                             *([1e-13, {"a": 1}] if wild else [])])
    if rng.random() < 0.1:
        a["error.type"] = rng.choice(["429", "timeout", "", "5xx", "500"])
    if rng.random() < 0.1:
        a["http.response.status_code"] = rng.choice([200, 429, "503", -1])
    if rng.random() < 0.4:
        a[rng.choice(["gen_ai.provider.name", "gen_ai.system", "server.address"])] = rng.choice(
            ["openai", "anthropic", "", "api.cometapi.com", SECRET])
    if rng.random() < 0.3:
        a[rng.choice(["app.workflow", "app.env", "tag.cost_center", "metadata.customer", "user.api_key_name",
                      "env", "deployment.environment", "labels.project", "app.nested.env"])] = rng.choice(
            ["checkout", " prod ", "STG", "", SECRET, 5, True, ["a"], {"k": "v"}, "模型", *([1.5] if wild else [])])
    if rng.random() < 0.2:
        a["gen_ai.prompt"] = f"please use {SECRET} \u2028 <tag> & \"quoted\""
    if rng.random() < 0.1:
        a["gen_ai.request.temperature"] = rng.choice([0.7, 0.30000000000000004, 2, *([1e-300] if wild else [])])
    if rng.random() < 0.05:
        a["gen_ai.usage.foo"] = None
    items = [{"key": k, "value": _v(rng, v, int_text)} for k, v in a.items()]
    roll = rng.random()
    if roll < 0.03 and items:
        items.append(dict(rng.choice(items)))  # a repeated key: the last value wins
    elif roll < 0.05:
        items.append(None)
    elif roll < 0.06:
        items.append({"key": None, "value": {"stringValue": "x"}})
    elif roll < 0.07 and wild:  # a kind present with null: the row path stops at it
        items.append({"key": "gen_ai.usage.output_tokens", "value": {"stringValue": None, "intValue": "5"}})
    rng.shuffle(items)
    return items


def _span(rng: random.Random, i: int, int_text: bool, time_text: bool, wild: bool) -> object:
    codes: list[object] = ["2", "STATUS_CODE_ERROR", "1", "STATUS_CODE_OK"] if time_text else [2, 1, 0]
    if wild:
        codes += [2, "2"]
    roll = rng.random()
    if roll < 0.01:
        return None
    start = T0 + i * 10**9
    span: dict[str, object] = {
        "traceId": rng.choice([f"{i // 3:032X}", f"{i // 3:032x}", "", None, "ÄBC"]) if rng.random() < 0.1
        else f"{i // 3:032X}",
        "spanId": f"{i:016X}" if rng.random() < 0.97 else rng.choice(["", None, "span-ı"]),
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(start) if time_text else start,
        "endTimeUnixNano": str(start + 10**9) if time_text else start + 10**9,
        "attributes": _attrs(rng, i, int_text, wild),
        "status": rng.choice([{}, {}, {}, {"code": rng.choice(codes)}, None]),
    }
    # an export spells int64 one way; a wild line mixes them (pyarrow then refuses it: the row path reads it)
    if rng.random() < 0.05:
        bad: list[object] = [None, "", "abc", "-5", "17802720000000000000000", "0", str(start), " 5"] if time_text \
            else [None, -5, 0, start]
        span["startTimeUnixNano"] = rng.choice(bad + ([start * 1.0, str(start), 2**64] if wild else []))
    if rng.random() < 0.03:
        span["endTimeUnixNano"] = rng.choice([None, "", str(start - 1), "x"] if time_text else [None, start - 1, 0])
    if rng.random() < 0.02:
        del span["spanId"]
    return span


def _doc(rng: random.Random, first: int, n: int) -> tuple[dict[str, object], int]:
    int_text = rng.random() < 0.7
    time_text = rng.random() < 0.8
    wild = rng.random() < 0.15
    items: list[object] = []
    i = first
    for _ in range(rng.randint(1, 3)):
        spans = [_span(rng, i + j, int_text, time_text, wild) for j in range(n)]
        i += n
        res = [{"key": "service.name", "value": {"stringValue": rng.choice(["svc", "checkout", ""])}}]
        if rng.random() < 0.3:
            res.append({"key": rng.choice(["deployment.environment.name", "cost_center", "app.project", "team"]),
                        "value": _v(rng, rng.choice(["production", "cc-1", "proj", 3, SECRET]), True)})
        item: dict[str, object] = {"resource": {"attributes": res}}
        key = "scopeSpans" if rng.random() < 0.9 else "instrumentationLibrarySpans"
        item[key] = [{"scope": {"name": "x"}, "spans": spans}]
        if rng.random() < 0.05:
            item["scopeSpans"] = []
            item["instrumentationLibrarySpans"] = [{"spans": spans[:2]}, None]
        items.append(item)
        if rng.random() < 0.05:
            items.append(None)
    return {"resourceSpans": items}, i


def _lines(seed: int, docs: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    i = 0
    for _ in range(docs):
        doc, i = _doc(rng, i, rng.randint(1, 12))
        line = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
        out.append(line)
        roll = rng.random()
        if roll < 0.04:
            out.append(line)  # a repeated document: the same spans again
        elif roll < 0.06:
            out.append("")
        elif roll < 0.08:
            out.append(line.replace('"gen_ai.usage.input_tokens"', '"gen_ai.usage.input\\u005ftokens"'))
        elif roll < 0.09:
            out.append(line.replace('"stringValue": "chat"', '"stringValue": null, "intValue": "3"', 1))
        elif roll < 0.10:
            out.append(json.dumps(doc) + " " + json.dumps(doc))  # two documents on one line
        elif roll < 0.11:
            out.append(json.dumps({"resourceSpans": [], "success": True, "extra": {"a": [1, 2, {"b": None}]}}))
        elif roll < 0.12:
            out.append('{"resourceSpans": [{"scopeSpans": [{"spans": "abc"}]}, 5, {"resource": 7}]}')
        elif roll < 0.13:
            out.append('{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "a\\ud800", '
                       '"startTimeUnixNano": "1", "attributes": [{"key": "gen_ai.request.model", '
                       '"value": {"stringValue": "m"}}]}]}]}]}')
    return out


def _both(path: Path, chunk_rows: int) -> tuple[object, object]:
    def run(bulk: bool) -> object:
        try:
            return collect(otel_genai.parse(path, ParseContext(path.name, chunk_rows=chunk_rows,
                                                               options={"bulk": bulk})))
        except InputError as exc:
            return ("InputError", str(exc))

    return run(True), run(False)


def _assert_same(bulk: object, rows: object) -> None:
    if isinstance(rows, tuple) and rows and rows[0] == "InputError":
        assert bulk == rows
        return
    assert not (isinstance(bulk, tuple) and bulk and bulk[0] == "InputError"), bulk
    assert_same(bulk, rows)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("chunk_rows", [3, 100_000])
def test_bulk_equals_row_path_on_hostile_spans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int,
                                               chunk_rows: int) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(_lines(seed, 120)) + "\n", "utf-8")
    calls = []
    real = otel_genai._row
    monkeypatch.setattr(otel_genai, "_row", lambda *a: calls.append(1) or real(*a))
    bulk = collect(otel_genai.parse(path, ParseContext(path.name, chunk_rows=chunk_rows)))
    in_bulk = bulk[2] - len(calls)
    monkeypatch.setattr(otel_genai, "_row", real)
    rows = _both(path, chunk_rows)[1]
    _assert_same(bulk, rows)
    table, errors, records = rows
    assert table.num_rows > 200 and len(errors) > 20 and records > table.num_rows
    assert in_bulk > records // 4  # many hostile spans are still typed in bulk; the rest were judged by the row path
    text = json.dumps(table.to_pylist(), default=str)
    assert "PLANTED" not in text and "quoted" not in text


def test_most_spans_of_clean_lines_take_the_bulk_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Typical exports are typed in bulk: the row path sees only the spans it must judge."""
    rng = random.Random(11)
    lines = []
    i = 0
    for _ in range(40):
        spans = []
        for _ in range(25):
            attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": rng.choice(MODELS[:4]),
                     "gen_ai.usage.input_tokens": rng.randint(100, 900), "gen_ai.usage.output_tokens": 50,
                     "gen_ai.response.finish_reasons": ["stop"], "app.workflow": "checkout",
                     "gen_ai.usage.cost": 0.0025}
            spans.append({"traceId": f"{i:032x}", "spanId": f"{i:016x}", "startTimeUnixNano": str(T0 + i),
                          "attributes": [{"key": k, "value": _v(rng, v, True)} for k, v in attrs.items()]})
            i += 1
        lines.append(json.dumps({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "svc"}}]}, "scopeSpans": [{"spans": spans}]}]}))
    path = tmp_path / "clean.jsonl"
    path.write_text("\n".join(lines) + "\n")
    calls = []
    real = otel_genai._row
    monkeypatch.setattr(otel_genai, "_row", lambda *a: calls.append(1) or real(*a))
    bulk = collect(otel_genai.parse(path, ParseContext(path.name, chunk_rows=300)))
    assert calls == [] and bulk[0].num_rows == 1000
    rows = collect(otel_genai.parse(path, ParseContext(path.name, options={"bulk": False})))
    _assert_same(bulk, rows)
    assert set(bulk[0].column("project").to_pylist()) == {"svc"}
    assert set(bulk[0].column("workflow").to_pylist()) == {"checkout"}


@pytest.mark.parametrize("text", [
    "",
    "  \n\n",
    "\ufeff",
    "{not json\n",
    '{"resourceSpans": [], "success": false}\n',
    '{"data": []}\n',
    '[{"scopeSpans": [{"spans": [{"spanId": "a", "startTimeUnixNano": "1", "attributes": '
    '[{"key": "gen_ai.request.model", "value": {"stringValue": "m"}}]}]}]}]\n',
])
def test_whole_file_cases_match(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.json"
    path.write_text(text, "utf-8")
    _assert_same(*_both(path, 100_000))


def test_pretty_printed_and_multi_line_documents_go_to_the_streaming_row_path(tmp_path: Path) -> None:
    lines = _lines(8, 30)
    doc = json.loads(lines[3])
    for layout in ("pretty-first", "pretty-middle", "bom-crlf"):
        if layout == "pretty-first":
            text = json.dumps(doc, indent=1) + "\n" + "\n".join(lines) + "\n"
        elif layout == "pretty-middle":
            text = "\n".join(lines[:10]) + "\n" + json.dumps(doc, indent=2) + "\n" + "\n".join(lines[10:])
        else:
            text = "\ufeff" + "\r\n".join(lines) + "\r\n"
        path = tmp_path / f"{layout}.json"
        path.write_text(text, "utf-8")
        for chunk_rows in (2, 100_000):
            bulk, rows = _both(path, chunk_rows)
            _assert_same(bulk, rows)
            assert rows[0].num_rows > 50


def test_invalid_utf8_and_broken_json_raise_the_row_paths_error(tmp_path: Path) -> None:
    lines = [line.encode() for line in _lines(9, 20)]
    for bad in (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "\xff"}]}]}]}', b"{nope", b"[1, 2"):
        path = tmp_path / "bad.json"
        path.write_bytes(b"\n".join(lines[:7] + [bad] + lines[7:]) + b"\n")
        bulk, rows = _both(path, 4)
        assert isinstance(rows, tuple) and rows[0] == "InputError"
        _assert_same(bulk, rows)


def test_a_line_too_long_to_hold_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines(10, 40)
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    monkeypatch.setattr(otel_bulk, "_MAX_LINE", 200)
    for chunk_rows in (1, 50, 100_000):
        _assert_same(*_both(path, chunk_rows))


def test_numbers_and_spellings_of_int64(tmp_path: Path) -> None:
    """intValue as number or text, times as number or text, and a line that mixes both."""
    def span(i: int, tokens: object, start: object) -> dict[str, object]:
        return {"spanId": f"s{i}", "startTimeUnixNano": start, "attributes": [
            {"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": tokens}}]}

    docs = [
        [span(1, 5, T0), span(2, 7, T0 + 1)],
        [span(3, "5", str(T0)), span(4, "9223372036854775807", "9223372036854775807")],
        [span(5, "9223372036854775808", str(T0)), span(6, -1, T0)],
        [span(7, 5, str(T0)), span(8, "5", T0)],
        [span(9, 5.0, T0), span(10, "5.0", "1e3")],
    ]
    path = tmp_path / "ints.jsonl"
    path.write_text("\n".join(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": d}]}]}) for d in docs) + "\n")
    bulk, rows = _both(path, 100_000)
    _assert_same(bulk, rows)
    assert rows[2] == 10 and [e.record for e in rows[1]] == [5, 6, 9, 10]


@pytest.mark.parametrize("value", ["Inf", "-Inf", "-NaN", "[1, Inf]", "NaN", "Infinity", '"Info: -NaN"'])
def test_nan_inf_spellings_take_the_row_path(tmp_path: Path, value: str) -> None:
    """pyarrow reads Inf and -NaN (also in a field it is not asked for) where json.loads refuses the document:
    the import fails as on the row path (NaN and Infinity, which json.loads reads, import alike)."""
    spans = [{"traceId": f"{i:032x}", "spanId": f"{i:016x}", "name": "chat", "startTimeUnixNano": str(1780272000 + i)
              + "000000000", "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}}],
              "status": {}} for i in range(300)]
    doc = json.dumps({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": spans}]}]})
    odd = doc.replace('"status": {}', '"status": {}, "note": ' + value, 1)
    path = tmp_path / "spans.json"
    path.write_text(doc + "\n" + odd + "\n" + doc + "\n", "utf-8")
    bulk, rows = _both(path, 100_000)
    _assert_same(bulk, rows)
    refused = isinstance(rows, tuple) and isinstance(rows[0], str)
    assert refused == (value not in ("NaN", "Infinity", '"Info: -NaN"'))
