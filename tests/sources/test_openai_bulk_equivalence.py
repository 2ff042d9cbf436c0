"""The bulk (pyarrow + DuckDB) and row (Python) paths of openai-jsonl give identical rows, identities and quarantine."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tests.sources.equivalence import assert_same, both, same_across_scan_batches

from costproof.model.errors import InputError
from costproof.sources.usage import openai_jsonl
from costproof.sources.usage.base import ParseContext, collect

T0 = 1780272000
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", " gpt-4o ", "o4-mini")
KEYS = ("key-a", "sk-live0123456789abcdef", "Bearer abcdefgh12345", "team key", "", None)


def _usage(rng: random.Random) -> object:
    shape = rng.random()
    if shape < 0.45:  # chat
        u: dict[str, object] = {"prompt_tokens": rng.randint(50, 3000), "completion_tokens": rng.randint(0, 800),
                                "total_tokens": 0}
        if rng.random() < 0.6:
            u["prompt_tokens_details"] = {"cached_tokens": rng.choice([0, 20, 40, None]),
                                          "audio_tokens": rng.choice([0, 5])}
        if rng.random() < 0.4:
            u["completion_tokens_details"] = rng.choice([{"reasoning_tokens": rng.randint(0, 50)}, None,
                                                        {"reasoning_tokens": 5000}])
        if rng.random() < 0.1:
            u["prompt_cache_hit_tokens"] = 7
        if rng.random() < 0.1:
            u["cost"] = rng.choice([0.00123, 1, "0.5", 0, 1.5e-05])
    elif shape < 0.65:  # responses
        u = {"input_tokens": rng.randint(10, 900), "output_tokens": rng.randint(0, 300),
             "input_tokens_details": {"cached_tokens": rng.choice([0, 4])},
             "output_tokens_details": {"reasoning_tokens": rng.choice([0, 3])}}
    elif shape < 0.8:  # messages
        u = {"input_tokens": rng.randint(1, 90), "output_tokens": rng.randint(0, 300),
             "cache_read_input_tokens": rng.choice([0, 100]), "cache_creation_input_tokens": rng.choice([0, 9])}
    elif shape < 0.85:
        u = {"total_tokens": 12}
    elif shape < 0.9:
        u = {"prompt_tokens": 9}  # embeddings
    elif shape < 0.95:
        u = {"prompt_tokens": 900, "completion_tokens": 10, "prompt_tokens_details": {"cached_tokens": 1000}}
    else:
        u = rng.choice([{}, {"foo": 1}, "x", {"prompt_tokens": None, "input_tokens": 5}, {"prompt_tokens": "12"},
                        {"prompt_tokens": -1}, {"prompt_tokens": 1.0}, {"prompt_tokens": 2**64}, None])
    return u


def _body(rng: random.Random, i: int) -> dict[str, object]:
    obj = rng.choice(["chat.completion", "chat.completion.chunk", "response", "message", "text_completion", None])
    body: dict[str, object] = {"id": f"id-{i}", "model": rng.choice(MODELS), "created": T0 + i}
    if obj:
        body["object" if obj != "message" else "type"] = obj
    if obj in ("chat.completion", "chat.completion.chunk", None):
        body["choices"] = [{"index": 0, "message": {"role": "assistant", "content": 'secret "prompt" text'},
                            "finish_reason": rng.choice(["stop", "length", None, ""])}]
    if obj == "response":
        body["status"] = rng.choice(["completed", "incomplete", "failed"])
        body["output"] = [{"content": [{"text": "hello"}]}]
    if obj == "message":
        body["stop_reason"] = rng.choice(["end_turn", "max_tokens", None])
    if rng.random() < 0.9:
        body["usage"] = _usage(rng)
    if rng.random() < 0.1:
        body["metadata"] = {"project": rng.choice(["p1", "p2", " p3"])}
    return body


def _record(rng: random.Random, i: int) -> object:
    body = _body(rng, i)
    shape = rng.random()
    if shape < 0.3:
        rec: dict[str, object] = body
    elif shape < 0.8:
        rec = {"request_id": rng.choice([f"req-{i % 40}", "", None, " r "]),
               "timestamp": rng.choice([f"2026-06-0{1 + i % 9}T0{i % 10}:05:06Z", "2026-06-03 04:05:06+08:00",
                                        "2026-06-03T04:05:06.25-03:30", "not a time", "", None,
                                        "2026-06-03T04:05:06", "2026-13-03T04:05:06Z",
                                        T0 + i][:8 if rng.random() < 0.9 else 9]),
               "response": body}
        if rng.random() < 0.3:
            rec["status_code"] = rng.choice([200, 429, 500, -1, 200, 404, 201, "200"][:7 if rng.random() < 0.9 else 8])
        if rng.random() < 0.3:
            rec["stream"] = rng.choice([True, False, None, "true", 1][:3 if rng.random() < 0.9 else 5])
        if rng.random() < 0.6:
            rec["metadata"] = {rng.choice(["cost_center", "cc"] * 8 + ["costCenter", "Cost-Center"]): f"cc-{i % 3}",
                               rng.choice(["env", "environment"] * 8 + ["ENV"]): rng.choice(["prod", "stg", "QA", "x"]),
                               "token_name": rng.choice(KEYS)}
        if rng.random() < 0.1:
            rec["labels"] = rng.choice([{"project": "lp"}, ["a", "b"]])
        if rng.random() < 0.1:
            rec["tags"] = ["a"]
        if rng.random() < 0.1:
            rec["request"] = {"model": "gpt-4o", "stream": rng.choice([True, False]), "messages": [
                {"role": "user", "content": "my key is sk-abcdefghijk"}], "metadata": {"customer": "acme"}}
        if rng.random() < 0.03:
            rec["error"] = rng.choice([{"message": "rate limited"}, {}, "boom"])
        if rng.random() < 0.1:
            rec["env"] = "dev"
        if rng.random() < 0.05:
            rec["provider"] = rng.choice(["azure", "openai", 5][:2 if rng.random() < 0.8 else 3])
    elif shape < 0.9:  # OpenAI Batch output
        rec = {"id": f"batch_req_{i}", "custom_id": rng.choice([f"c-{i}", ""]),
               "response": {"status_code": rng.choice([200, 400]), "request_id": f"rq-{i}", "body": body},
               "error": None}
    else:
        rec = {"body": body, "time": rng.choice(["2026-06-05T00:00:00+00:00", T0]), "model": rng.choice(["m", 7]),
               "x-request-id": f"x-{i}"}
    return rec


def _lines(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        rec = _record(rng, i)
        line = json.dumps(rec)
        out.append(line)
        roll = rng.random()
        if roll < 0.03:
            out.append(line)  # an exact repeat: a second occurrence
        elif roll < 0.04:
            out.append(rng.choice(["{not json", "", "   ", "[1, 2]", "5", '{"a": 1} {"b": 2}', '{"model": NaN}',
                                   '{"model": "a", "model": "b", "created": 1}', '{"model": "\\u0067pt", "created": 1}',
                                   '{"created": 1780272000, "model": "m\xe9", "usage": {"prompt_tokens": 1}}']))
    return out


def _both(path: Path, chunk_rows: int) -> tuple[tuple, tuple]:
    return both(openai_jsonl, path, chunk_rows)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_jsonl_bulk_equals_row_path(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(_lines(seed, 1500)) + "\n", "utf-8")
    bulk, rows = _both(path, 311)
    assert_same(bulk, rows)
    assert len(rows[1]) > 20 and rows[0].num_rows > 800
    table = rows[0]
    assert not any("sk-live" in (v or "") for v in table.column("api_key_name").to_pylist())
    assert "secret" not in str(table.to_pylist())


def test_small_scan_batches_change_no_row(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Blocks cut into many record batches (a parallel DuckDB scan) give the rows of one batch and of the row path."""
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(_lines(7, 1200)) + "\n", "utf-8")
    assert same_across_scan_batches(monkeypatch, openai_jsonl, path, 500)[0].num_rows > 600


def test_jsonl_bulk_handles_crlf_bom_and_invalid_utf8(tmp_path: Path) -> None:
    lines = [line.encode() for line in _lines(9, 400)]
    lines[5] = b'{"created": 1780272000, "model": "\xff", "usage": {"prompt_tokens": 1}}'
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n\r\n")
    assert_same(*_both(path, 64))


def test_jsonl_first_line_not_json_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n{nope\n" + json.dumps({"created": T0, "model": "m", "usage": {"prompt_tokens": 1}}) + "\n")
    for bulk in (True, False):
        with pytest.raises(InputError):
            collect(openai_jsonl.parse(path, ParseContext(path.name, options={"bulk": bulk})))


def test_numeric_model_and_huge_token_count_are_quarantined_or_kept_as_text(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (
        {"created": T0, "model": "gpt-4o", "usage": {"prompt_tokens": 5, "completion_tokens": 1}},
        {"created": T0, "model": 4, "usage": {"prompt_tokens": 5, "completion_tokens": 1}},
        {"created": T0, "model": "gpt-4o", "usage": {"prompt_tokens": 2**64, "completion_tokens": 1}},
    )) + "\n")
    for bulk in (True, False):
        table, errors, records = collect(openai_jsonl.parse(path, ParseContext(path.name, options={"bulk": bulk})))
        assert records == 3 and table.column("model_reported").to_pylist() == ["gpt-4o", "4"]
        assert [(e.record, e.field) for e in errors] == [(3, "usage.prompt_tokens")]
        assert "64-bit" in errors[0].reason


@pytest.mark.parametrize(("limit", "chunk_rows"), [(1, 97), (5, 64), (37, 311), (400, 50)])
def test_occurrence_numbers_forget_like_the_row_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, limit: int,
                                                      chunk_rows: int) -> None:
    """With few identities remembered, the bulk numbering forgets at the same record as base.Occurrences."""
    rng = random.Random(limit)
    pool = [json.dumps({"request_id": f"r{k}", "timestamp": "2026-06-01T00:00:00Z",
                        "response": {"object": "chat.completion", "model": "gpt-4o",
                                     "usage": {"prompt_tokens": 10, "completion_tokens": k % 3}}})
            for k in range(60)]
    lines = [rng.choice(pool[: rng.choice([3, 20, 60])]) for _ in range(1500)]
    lines[100:110] = _lines(limit, 10)  # a few records the bulk path hands to the row path, numbered in between
    path = tmp_path / "repeats.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    monkeypatch.setattr(openai_jsonl, "OCCURRENCE_LIMIT", limit)
    bulk, rows = _both(path, chunk_rows)
    assert_same(bulk, rows)
    ids = rows[0].column("record_id").to_pylist()
    assert len(set(ids)) < len(ids) if limit < 60 else len(set(ids)) == len(ids)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 7, 1000])
def test_blank_lines_bom_and_no_final_newline(tmp_path: Path, chunk_rows: int) -> None:
    lines = _lines(11, 40)
    for at, blank in ((0, ""), (3, "   "), (4, "\t\r"), (9, "\x0b"), (10, "\x0c "), (17, ""), (18, "")):
        lines.insert(at, blank)
    path = tmp_path / "gaps.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())
    bulk, rows = _both(path, chunk_rows)
    assert_same(bulk, rows)
    assert rows[0].num_rows > 20
    assert max(rows[0].column("source_record").to_pylist() + [e.record for e in rows[1]]) <= len(lines)


def test_line_blocks_cut_and_number_lines(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n{"b": 2}\r\n\x0b\n{"c": 3}')
    from costproof.sources.usage import openai_bulk

    for size in (1, 2, 4, 100):
        got = [(n, b.line(i)) for b in openai_bulk.line_blocks(path, size) for i, n in enumerate(b.numbers.tolist())]
        assert got == [(1, b'{"a": 1}'), (4, b'{"b": 2}\r'), (6, b'{"c": 3}')], size


@pytest.mark.parametrize(("window", "chunk_rows"), [(7, 5), (300, 1000), (4096, 13)])
def test_read_windows_shorter_than_lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, window: int,
                                         chunk_rows: int) -> None:
    """Blocks cut by byte windows (shorter than a line, or ending mid-line) give the rows of the row path."""
    from costproof.sources.usage import openai_bulk

    lines = _lines(5, 300)
    lines.insert(50, "")
    path = tmp_path / "windows.jsonl"
    path.write_bytes("\n".join(lines).encode())
    monkeypatch.setattr(openai_bulk, "_WINDOW", window)
    bulk, rows = _both(path, chunk_rows)
    assert_same(bulk, rows)
    assert rows[0].num_rows > 150
    blocks = list(openai_bulk.line_blocks(path, chunk_rows))
    sizes = [len(b) for b in blocks]
    assert max(sizes) <= chunk_rows and sum(sizes) == sum(1 for line in lines if line.strip())
    if window > max(len(line) for line in lines):  # the lines carried over never make a block's buffer grow
        assert max(len(b.view) for b in blocks) <= window


def test_block_buffers_are_reused_only_when_no_block_holds_them(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from costproof.sources.usage import openai_bulk

    lines = [line.encode() for line in _lines(3, 400) if line.strip()]
    path = tmp_path / "pool.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(openai_bulk, "_WINDOW", 2048)
    held = list(openai_bulk.line_blocks(path, 50))  # every block kept: none may be overwritten by a later read
    assert len(held) > 2 * openai_bulk._POOL
    assert [b.line(i) for b in held for i in range(len(b))] == lines
    streamed, bases = [], set()
    for block in openai_bulk.line_blocks(path, 50):  # blocks dropped as they go: their buffers come back
        streamed += [block.line(i) for i in range(len(block))]
        bases.add(id(block.view.obj.base))
    assert streamed == lines and len(bases) <= openai_bulk._POOL


def _label_line(i: int, rng: random.Random) -> str:
    """A chat record whose label keys are spelled, escaped and placed in the ways the row path reads or ignores."""
    key = rng.choice(["project", "api_\\u212aey_name", "api_\u212aey_name", "api_\\u004bey_name", "Project",
                      "cost center", "cost-center", "cost.center", "costCenter", "env ", "_env", "ENV", "Env",
                      "tenant_id", "x-trace", "X", "env", "k\\u00e9y"])
    holder = rng.choice(["metadata", "labels", "tags", "top", "usage", "message", "request"])
    value = json.dumps(rng.choice(["team-a", "prod", "p1"]), ensure_ascii=False)
    pair = f'"{key}": {value}'
    in_message = (", " + pair) if holder == "message" else ""
    in_usage = (", " + pair) if holder == "usage" else ""
    body = ('"response": {"object": "chat.completion", "model": "gpt-4o", "choices": [{"message": {"role": '
            f'"assistant", "content": "hi"{in_message}}}, "finish_reason": "stop"}}], "usage": '
            f'{{"prompt_tokens": 5, "completion_tokens": 1{in_usage}}}}}')
    parts = [f'"request_id": "r{i}"', '"timestamp": "2026-06-01T00:00:00Z"', body]
    if holder in ("metadata", "labels", "tags"):
        parts.append(f'"{holder}": {{"project": "p0", {pair}}}')
    elif holder == "request":
        parts.append(f'"request": {{"model": "gpt-4o", "metadata": {{{pair}}}}}')
    elif holder == "top":
        parts.append(pair)
    rng.shuffle(parts)
    return "{" + ", ".join(parts) + "}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_label_keys_however_spelled_hidden_or_placed(tmp_path: Path, seed: int) -> None:
    """Label keys behind escapes (a KELVIN SIGN lowercases to k), other spellings, holders the schema does not
    parse, and exact names at depths the row path does not read: the bulk rows are the row path's."""
    rng = random.Random(seed)
    lines = [_label_line(i, rng) for i in range(600)]
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    bulk, rows = _both(path, 97)
    assert_same(bulk, rows)
    names = set(rows[0].column("api_key_name").to_pylist())
    assert "team-a" in names and {"production", "test"} & set(rows[0].column("environment").to_pylist())


def test_fields_only_on_lines_the_block_sample_skips(tmp_path: Path) -> None:
    """The schema is cut to the key names a spread of each block's lines uses; lines naming a field the cut left
    out (a label, a status, a provider, a stream flag, an error...) go to the row path, not through unread."""
    base = {"request_id": "r", "timestamp": "2026-06-01T00:00:00Z",
            "response": {"object": "chat.completion", "model": "gpt-4o", "choices": [{"finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 1}}}
    extras = [{"env": "dev"}, {"status_code": 500}, {"provider": "azure"}, {"stream": True}, {"group": "vip"},
              {"project": "p9"}, {"request": {"metadata": {"customer": "acme"}}}, {"error": {"message": "x"}},
              {"cost_center": "cc"}, {"x-request-id": "x-1", "request_id": ""}]
    lines = []
    for i in range(3000):
        rec = {**base, "request_id": f"r{i}"}
        if i % 3 == 1:  # blocks of 1000 lines are sampled every 3rd line from the first: these are never seen
            rec.update(extras[(i // 3) % len(extras)])
        lines.append(json.dumps(rec))
    path = tmp_path / "unsampled.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    bulk, rows = _both(path, 1000)
    assert_same(bulk, rows)
    assert "azure" in rows[0].column("provider").to_pylist() and "test" in rows[0].column("environment").to_pylist()


@pytest.mark.parametrize("field", ["model", "request_id", "project", "id"])
def test_every_python_space_at_a_value_edge(tmp_path: Path, field: str) -> None:
    """Every character str.strip() removes (escaped, as json.dumps writes them), at either edge of a text value."""
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    lines = []
    for i, space in enumerate(spaces * 2):
        value = f"v{i}{space}" if i < len(spaces) else f"{space}v{i}"
        rec: dict[str, object] = {"request_id": f"r{i}", "timestamp": "2026-06-01T00:00:00Z", "metadata": {},
                                  "response": {"id": f"c{i}", "object": "chat.completion", "model": "gpt-4o",
                                               "usage": {"prompt_tokens": 5, "completion_tokens": 1}}}
        if field == "project":
            rec["metadata"] = {"project": value}
        elif field == "request_id":
            rec["request_id"] = value
        else:
            rec["response"][field] = value  # type: ignore[index]
        lines.append(json.dumps(rec))
        lines.append(json.dumps({**rec, "request_id": f"plain-{i}"}) if field != "request_id" else lines[-1])
    path = tmp_path / "spaces.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    assert_same(*_both(path, 64))


def test_names_at_paths_the_block_sample_skips(tmp_path: Path) -> None:
    """Names the sampled lines use at one path (response.model, metadata.project, status_code in a Batch line)
    appearing at another only on lines the sample skips: those lines are read all the same (the path-cut schema
    fails, the names' schema reads them), and a later block still reads right."""
    def rec(i: int) -> dict[str, object]:
        body = {"object": "chat.completion", "model": "gpt-4o", "choices": [{"finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1}}
        if i % 2:
            return {"custom_id": f"c{i}", "response": {"status_code": 200, "request_id": f"q{i}", "body": body},
                    "timestamp": "2026-06-01T00:00:00Z", "metadata": {"project": "p"}}
        return {"request_id": f"r{i}", "timestamp": "2026-06-01T00:00:00Z", "response": body,
                "metadata": {"project": "p", "env": "prod"}}

    lines = []
    for i in range(4000):
        r = rec(i)
        if i % 3 == 1 and i < 2000:  # never sampled (blocks of 1000, every 3rd line from the first)
            kind = (i // 3) % 3
            if kind == 0:
                r = {**rec(i + 1), "status_code": 500}
            elif kind == 1:
                r = rec(i + 1)
                r["response"] = {k: v for k, v in r["response"].items() if k != "model"}  # type: ignore[union-attr]
                r["model"] = "top-model"
            else:
                r = rec(i + 1)
                del r["metadata"]
                r["response"] = {**r["response"], "metadata": {"project": "in-body"}}  # type: ignore[dict-item]
        lines.append(json.dumps(r))
    path = tmp_path / "paths.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    bulk, rows = _both(path, 1000)
    assert_same(bulk, rows)
    table = rows[0]
    assert "top-model" in table.column("model_reported").to_pylist()
    assert "in-body" in table.column("project").to_pylist() and 500 in table.column("status_code").to_pylist()


def test_time_texts_in_every_form(tmp_path: Path) -> None:
    """Times as texts (T or space, Z or z, fractions, offsets, invalid dates) and epoch numbers: same instants,
    offsets and record ids (the id holds the time as text) as the row path."""
    times: list[object] = ["2026-06-03T04:05:06Z", "2026-06-03t04:05:06Z", "2026-06-03 04:05:06Z",
                           "2026-06-03T04:05:06z", "2026-06-03T04:05:06.5Z", "2026-06-03T04:05:06.000000Z",
                           "2026-06-03T04:05:06+00:00", "2026-06-03T04:05:06-00:00", "2026-06-03T04:05:06+05:30",
                           "2026-06-03T04:05:06", "2026-02-30T04:05:06Z", "2026-06-03T24:05:06Z", "2026-06-03T04:05Z",
                           " 2026-06-03T04:05:06Z", "2026-06-03T04:05:06Z ", T0, T0 + 0.5, "1780272000"]
    lines = [json.dumps({"request_id": f"r{i}", "timestamp": t, "response": {
        "object": "chat.completion", "model": "gpt-4o", "usage": {"prompt_tokens": 5, "completion_tokens": 1}}})
        for i, t in enumerate(times * 3)]
    path = tmp_path / "times.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    bulk, rows = _both(path, 50)
    assert_same(bulk, rows)
    assert rows[0].num_rows > 20


def _neighbours(n: int) -> list[str]:
    """Clean chat lines, all read in bulk: a line changed among them is judged on its own."""
    return [json.dumps({"request_id": f"req-{i}", "timestamp": "2026-06-01T00:00:00Z",
                        "metadata": {"cost_center": f"cc-{i % 3}"},
                        "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "model": "gpt-4o",
                                     "usage": {"prompt_tokens": 100 + i, "completion_tokens": 20}}})
            for i in range(n)]


@pytest.mark.parametrize("value", ["Inf", "-Inf", "-NaN", "[1, Inf]", "NaN", "Infinity", '"Info: -NaN"'])
def test_nan_inf_spellings_take_the_row_path(tmp_path: Path, value: str) -> None:
    """pyarrow reads Inf and -NaN (also in a field it is not asked for) where json.loads refuses the line: the row
    path quarantines it, and so does the bulk path."""
    lines = _neighbours(600)
    lines[300] = lines[300][:-1] + ', "note": ' + value + "}"
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    bulk, rows = both(openai_jsonl, path, 100_000)
    assert_same(bulk, rows)
    assert (len(rows[1]) == 1) == (value not in ("NaN", "Infinity", '"Info: -NaN"'))


@pytest.mark.parametrize("where", ["top", "metadata"])
@pytest.mark.parametrize("members", [
    '"Project": "p1", "note": -NaN',  # a key label_key() reads otherwise than spelled, and a spelling
    '"X-Trace": "t", "note": -NaN',  # a marked key naming no label (its count agrees), and a spelling
    '"labels": {"project": "lp"}, "note": [1, Inf]',  # a label holder the schema does not parse, and a spelling
    '"api_\\u212aey_name": "k", "note": -Inf',  # an escape a label key could hide behind, and a spelling
    '"total_tokens": null, "note": Inf',  # a token key present with null, and a spelling
    '"project": "Inf", "env": "prod"',  # Inf in a string next to real labels: no spelling
    '"project": "a, -NaN", "cost_center": "Info"',  # strings holding the spelling and the word
    '"Cost-Center": "c1", "cost_CENTER": "c2"',  # one label's key in two case variants
    '"COST center": "INF", "note": -nan',  # a key across case variants, the words in other cases
    '"env": "prod", "note": NaN',  # a real label, and a spelling json.loads reads
])
def test_label_markers_and_spellings_on_one_line(tmp_path: Path, members: str, where: str) -> None:
    """One regex scan finds both the lines with a label marker and those with a NaN/Infinity spelling, the exact
    checks then run on the lines it matched: a line holding both, either, or their look-alikes in strings is read
    as the row path reads it, its clean neighbours in bulk."""
    lines = _neighbours(600)
    if where == "top":
        lines[300] = lines[300][:-1] + ", " + members + "}"
    else:
        lines[300] = lines[300].replace('"metadata": {', '"metadata": {' + members + ", ", 1)
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    bulk, rows = both(openai_jsonl, path, 100_000)
    assert_same(bulk, rows)
    assert rows[0].num_rows >= 599


def _spelled_line(i: int, rng: random.Random) -> str:
    """A _label_line with a NaN/Infinity spelling, or a look-alike, added to one of its objects."""
    line = _label_line(i, rng)
    value = rng.choice(["Inf", "-Inf", "-NaN", "NaN", "Infinity", "[2, Inf]", "-nan", "INF", '"Inf"', '"x, -NaN"',
                        '"Info"', "1"])
    key = rng.choice(["note", "Note", "project", "ENV", "cost center"])
    opening = rng.choice([o for o in ("{", '"metadata": {', '"labels": {', '"tags": {', '"usage": {', '"message": {')
                          if o in line])
    return line.replace(opening, f'{opening}"{key}": {value}, ', 1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_label_keys_and_spellings_mixed_at_random(tmp_path: Path, seed: int) -> None:
    """Label keys however spelled or placed, with NaN/Infinity spellings and look-alikes on a third of the lines
    (with or without a label marker): the bulk rows and quarantine are the row path's."""
    rng = random.Random(seed)
    lines = [_spelled_line(i, rng) if rng.random() < 0.3 else _label_line(i, rng) for i in range(900)]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    bulk, rows = _both(path, 97)
    assert_same(bulk, rows)
    assert rows[0].num_rows > 600 and len(rows[1]) > 50
