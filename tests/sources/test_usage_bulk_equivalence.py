"""The bulk (DuckDB) and row (Python) paths of newapi-log give identical rows, identities and quarantine."""

from __future__ import annotations

import csv
import io
import json
import random
from decimal import Decimal
from pathlib import Path

import pytest
from tests.sources.equivalence import assert_same, both, same_across_scan_batches

from costproof.model.errors import InputError
from costproof.sources.usage import newapi_bulk, newapi_log
from costproof.sources.usage.base import ParseContext, collect

T0 = 1780272000
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "Claude-3-haiku", "o4-mini")
KEYS = ("key-a", "sk-live0123456789abcdef", "Bearer abcdefgh12345", "team key", "", None)


def _other(rng: random.Random) -> object:
    choice = rng.random()
    if choice < 0.05:
        return None
    if choice < 0.08:
        return "not json"
    if choice < 0.10:
        return ""
    if choice < 0.12:
        return "  "
    if choice < 0.14:
        return {"cache_tokens": 3, "group_ratio": 1.5}  # an object, not the usual string
    body: dict[str, object] = {"cache_tokens": rng.choice([0, 10, 50, "20", 10.0, -1, None, "x", True])}
    if rng.random() < 0.3:
        body["cache_creation_tokens"] = rng.choice([0, 5, "7"])
    for key, values in (("model_ratio", [1.25, 0.075, 15, "2.5", 4.0, 1e-05, 1.250, True]),
                        ("group_ratio", [1, 0.8, "1", ""]), ("completion_ratio", [4, 3.0, None]),
                        ("cache_ratio", [0.5, 0.1]), ("request_path", ["/v1/chat/completions", " /v1/x ", 3])):
        if rng.random() < 0.6:
            body[key] = rng.choice(values)
    return json.dumps(body)


def _record(rng: random.Random, i: int) -> dict[str, object]:
    rec: dict[str, object] = {
        "id": i, "created_at": T0 + rng.randint(0, 30 * 86400), "type": 2, "token_name": rng.choice(KEYS),
        "model_name": rng.choice(MODELS), "quota": rng.randint(0, 90000), "prompt_tokens": rng.randint(60, 4000),
        "completion_tokens": rng.randint(0, 900), "use_time": rng.randint(0, 9), "is_stream": rng.random() < 0.4,
        "group": rng.choice(["default", "vip", "", None]), "other": _other(rng),
    }
    if rng.random() < 0.1:
        rec["request_id"] = f"req-{rng.randint(0, 50)}"
    roll = rng.random()
    mutations = (
        ("type", rng.choice([1, 3, 4, 5, 6, 7, 0, 9, "2", "x", True, 2.0, None])),
        ("created_at", rng.choice(["2026-06-03T04:05:06Z", "2026-06-03 04:05:06+08:00", "1780272000", "bad", None,
                                   1780272000123, -5, 1780272000.5, ""])),
        ("prompt_tokens", rng.choice([-1, "12", " 13 ", "1.0", 1.5, True, None, "", "abc"])),
        ("completion_tokens", rng.choice([-3, "9", None])),
        ("quota", rng.choice([-500, "700", None, 1.5])),
        ("use_time", rng.choice([-1, None, "3"])),
        ("is_stream", rng.choice(["true", "FALSE", 1, 0, 2, "yes", "maybe", None, ""])),
        ("model_name", rng.choice(["", None, "  gpt-4o ", "gpt\u00a0", "模型"])),
        ("token_name", rng.choice([" spaced ", "tab\t", 7, "\u00e9t\u00e9"])),
    )
    if roll < 0.35:
        key, value = rng.choice(mutations)
        rec[key] = value
    return rec


def _records(seed: int, n: int) -> list[object]:
    rng = random.Random(seed)
    out: list[object] = []
    for i in range(n):
        rec = _record(rng, i)
        out.append(rec)
        if rng.random() < 0.03:
            out.append(dict(rec))  # an exact repeat: a second occurrence, a distinct record
        if rng.random() < 0.005:
            out.append(rng.choice([5, "x", None, []]))  # not an object
    return out


def _both(path: Path, chunk_rows: int) -> tuple[tuple, tuple]:
    return both(newapi_log, path, chunk_rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_json_array_bulk_equals_row_path(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "log.json"
    path.write_text("[\n" + ",\n".join(json.dumps(r) for r in _records(seed, 1500)) + "\n]", "utf-8")
    bulk, rows = _both(path, 257)
    assert_same(bulk, rows)
    assert len(rows[1]) > 20 and rows[0].num_rows > 800
    assert not any("sk-live" in (v or "") for v in rows[0].column("api_key_name").to_pylist())


@pytest.mark.parametrize("seed", [4, 5])
def test_console_csv_bulk_equals_row_path(tmp_path: Path, seed: int) -> None:
    fields = ["id", "created_at", "type", "token_name", "model_name", "quota", "prompt_tokens", "completion_tokens",
              "use_time", "is_stream", "group", "other"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for rec in _records(seed, 1500):
        if not isinstance(rec, dict):
            continue
        rec = {k: (v if not isinstance(v, str) else v.replace("\t", " ")) for k, v in rec.items()}
        writer.writerow(["" if rec.get(f) is None else str(rec.get(f)).lower() if isinstance(rec.get(f), bool)
                         else rec.get(f) for f in fields])
    path = tmp_path / "log.csv"
    path.write_text(buf.getvalue(), "utf-8")
    bulk, rows = _both(path, 300)
    assert_same(bulk, rows)
    assert len(rows[1]) > 20


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_small_scan_batches_change_no_row(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str) -> None:
    """Chunks cut into many record batches (a parallel DuckDB scan) give the rows of one batch and of the row path."""
    path = tmp_path / f"log.{kind}"
    if kind == "json":
        path.write_text("[\n" + ",\n".join(json.dumps(r) for r in _records(6, 1200)) + "\n]", "utf-8")
    else:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["created_at", "type", "token_name", "model_name", "quota", "prompt_tokens",
                         "completion_tokens", "use_time", "is_stream", "group", "other"])
        for i, rec in enumerate(r for r in _records(6, 1200) if isinstance(r, dict)):
            writer.writerow([T0 + i, rec.get("type", 2), f"key-{i % 3}", MODELS[i % len(MODELS)], 100 + i, 10 + i,
                             i % 7, i % 5, "false", "default", "" if i % 13 else "not json"])
        path.write_text(buf.getvalue(), "utf-8")
    assert same_across_scan_batches(monkeypatch, newapi_log, path, 500)[0].num_rows > 600


def test_bulk_resumes_with_the_row_path(tmp_path: Path) -> None:
    """A short CSV row the bulk reader refuses, then an array of pages: the row path takes over, same result."""
    lines = ["created_at,type,token_name,model_name,quota,prompt_tokens,completion_tokens,other"]
    lines += [f"{T0 + i},2,k{i % 3},gpt-4o,{i},{100 + i},{i},{{}}" for i in range(700)]
    lines.insert(500, f"{T0},2,short")
    path = tmp_path / "short.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    assert_same(*_both(path, 200))
    pages = [{"success": True, "data": {"items": [{"created_at": T0 + i, "type": 2, "model_name": "gpt-4o",
                                                   "prompt_tokens": i} for i in range(p, p + 50)]}}
             for p in range(0, 200, 50)]
    array = tmp_path / "pages.json"
    array.write_text(json.dumps(pages), "utf-8")
    assert_same(*_both(array, 64))


def test_numeric_model_name_is_text_and_huge_tokens_are_quarantined(tmp_path: Path) -> None:
    items = [{"created_at": T0, "type": 2, "model_name": "gpt-4o", "prompt_tokens": 5},
             {"created_at": T0, "type": 2, "model_name": 4, "prompt_tokens": 5},
             {"created_at": T0, "type": 2, "model_name": {"x": 1}, "prompt_tokens": 5},
             {"created_at": T0, "type": 2, "model_name": "gpt-4o", "prompt_tokens": 2**64}]
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(items), "utf-8")
    bulk, rows = _both(path, 100)
    assert_same(bulk, rows)
    assert rows[0].column("model_reported").to_pylist() == ["gpt-4o", "4"]
    assert [(e.record, e.field) for e in rows[1]] == [(3, "model_name"), (4, "prompt_tokens")]


def _pages_file(path: Path, records: list[object], rng: random.Random, extra: str = "") -> None:
    """Saved API pages, one per line, of random sizes (empty pages too)."""
    lines, at = [], 0
    while at < len(records):
        size = rng.choice([0, 1, 7, 50, 120])
        page = {"success": True, "message": "", "data": {"page": len(lines) + 1, "items": records[at:at + size],
                                                         "total": len(records)}}
        lines.append(json.dumps(page, ensure_ascii=rng.random() < 0.5))
        at += size
    if extra:
        lines.insert(len(lines) // 2, extra)
    path.write_text("\n".join(lines) + "\n", "utf-8")


def _bulk_chunks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the records each bulk chunk typed (so a test sees the bulk path was taken)."""
    typed: list[int] = []
    run = newapi_bulk.run_chunk

    def counting(*args: object, **kwargs: object) -> object:
        out = run(*args, **kwargs)
        typed.append(out.records)
        return out

    monkeypatch.setattr(newapi_bulk, "run_chunk", counting)
    return typed


@pytest.mark.parametrize("seed", [7, 8])
def test_pages_bulk_equals_row_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seed: int) -> None:
    """One page per line: the bulk path numbers records across pages as the row path does."""
    typed = _bulk_chunks(monkeypatch)
    path = tmp_path / "pages.jsonl"
    _pages_file(path, _records(seed, 1500), random.Random(seed))
    bulk, rows = _both(path, 233)
    assert_same(bulk, rows)
    assert sum(typed) == bulk[2] and len(typed) > 5  # all of it in bulk chunks
    assert len(rows[1]) > 20 and rows[0].num_rows > 800


@pytest.mark.parametrize("odd", [
    '{"success": true, "data": {"items": [{"created_at": 1780272000, "type": 2, "model_name": "x"}]}, '
    '"data": {"items": [{"created_at": 1780272001, "type": 2, "model_name": "y"}]}}',  # data twice
    '{"data": {"items": [{"created_at": 1780272000, "type": 2, "model_name": "x"}], '
    '"items": [{"created_at": 1780272001, "type": 2, "model_name": "y"}]}}',  # items twice
    '{"data": [{"created_at": 1780272000, "type": 2, "model_name": "gpt-4o"}]}',  # data is the list
    '{"data": {"items": [{"created_at": 1780272000, "type": 2, "model_name": "x"}]},\n "success": true}',
    '[{"created_at": 1780272000, "type": 2, "model_name": "x", "quota": 5}]',  # an array line
    '{"success": 1, "data": {"items": [{"data": [{"created_at": 1780272000, "type": 2, "model_name": "z"}]}]}}',
])
def test_pages_the_bulk_reader_cannot_vouch_for_go_to_the_row_path(tmp_path: Path, odd: str) -> None:
    path = tmp_path / "pages.jsonl"
    _pages_file(path, _records(9, 600), random.Random(9), odd)
    bulk, rows = _both(path, 101)
    assert_same(bulk, rows)
    assert rows[0].num_rows > 300


@pytest.mark.parametrize("where", ["top", "data"])
def test_pages_with_success_false_fail_as_on_the_row_path(tmp_path: Path, where: str) -> None:
    bad = ({"success": False, "data": {"items": []}} if where == "top"
           else {"data": {"items": [], "success": False}})
    path = tmp_path / "pages.jsonl"
    _pages_file(path, _records(10, 300), random.Random(10), json.dumps(bad))
    for options in ({}, {"bulk": False}):
        with pytest.raises(InputError, match="success=false"):
            collect(newapi_log.parse(path, ParseContext(path.name, chunk_rows=64, options=options)))


@pytest.mark.parametrize("kind", ["json", "pages"])
def test_repeated_keys_are_read_as_json_loads_reads_them(tmp_path: Path, kind: str) -> None:
    """json.loads keeps the last of a repeated key, DuckDB the first: such records take the row path."""
    items = [
        '{"created_at": 1780272000, "type": 2, "model_name": "gpt-4o", "quota": 5, "quota": 9}',
        '{"created_at": 1780272000, "type": 2, "model_name": "gpt-4o", "type": 6, "quota": 5}',
        '{"created_at": 1780272000, "type": 2, "model_name": "gpt-4o", "prompt_tokens": 100, '
        '"other": "{\\"cache_tokens\\": 500, \\"cache_tokens\\": 10}"}',
        '{"created_at": 1780272000, "type": 2, "model_name": "gpt-4o", "id": 1, "id": 2}',
    ]
    path = tmp_path / f"dup.{kind}"
    if kind == "json":
        path.write_text("[" + ",".join(items) + "]", "utf-8")
    else:
        path.write_text('{"data": {"items": [' + ",".join(items) + "]}}\n", "utf-8")
    bulk, rows = _both(path, 100)
    assert_same(bulk, rows)
    assert rows[0].column("provider_reported_cost").to_pylist()[:2] == [Decimal(9) / 500000, Decimal(-5) / 500000]
    assert rows[0].column("cached_input_tokens").to_pylist()[2] == 10


def _lines_blocks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the items newapi_lines handed to the bulk SQL (so a test sees the line reader was taken)."""
    from costproof.sources.usage import newapi_lines

    read: list[int] = []
    blocks = newapi_lines.blocks

    def counting(path: Path):  # type: ignore[no-untyped-def]
        for block in blocks(path):
            read.append(block.table.num_rows)
            yield block

    monkeypatch.setattr(newapi_lines, "blocks", counting)
    return read


def _layout(items: list[object], style: str, rng: random.Random) -> bytes:
    texts = [json.dumps(r, ensure_ascii=rng.random() < 0.5) for r in items]
    if style == "leading":  # new-api dumps: `[` + first item, `,` + item per line, `]` after the last
        body = "[" + "\n,".join(texts) + "\n]\n"
    elif style == "trailing":
        body = "[\n" + ",\n".join(texts) + "\n]"
    elif style == "crlf_bom":
        body = "\ufeff[\r\n" + ",\r\n".join(texts) + "\r\n]\r\n"
    elif style == "spaces":  # blank lines, spaces around separators, the bracket on the last item line
        parts = []
        for i, t in enumerate(texts):
            sep = "" if i == 0 else rng.choice([",", " , ", ",\n", "\n,", ",\n\n"])
            parts.append(sep + rng.choice(["", " ", "\t"]) + t + rng.choice(["", " ", "\t"]))
        body = " \n[ " + "\n".join(parts) + "]  \n\n"
    elif style == "spread":  # one item over several lines part way: the line reader hands over
        cut = len(texts) * 2 // 3
        body = ("[\n" + ",\n".join(texts[:cut]) + ",\n" + ",\n".join(json.dumps(r, indent=1) for r in items[cut:])
                + "\n]")
    elif style == "minified":
        body = json.dumps(items)
    elif style == "trailing_comma":
        body = "[\n" + ",\n".join(texts) + ",\n]"
    elif style == "two_arrays":
        half = len(texts) // 2
        body = "[\n" + ",\n".join(texts[:half]) + "\n]\n[\n" + ",\n".join(texts[half:]) + "\n]\n"
    else:
        raise AssertionError(style)
    return body.encode("utf-8")


@pytest.mark.parametrize("style", ["leading", "trailing", "crlf_bom", "spaces", "spread", "minified",
                                   "trailing_comma", "two_arrays"])
@pytest.mark.parametrize("chunk_rows", [97, 100_000])
def test_array_layouts_bulk_equals_row_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, style: str,
                                            chunk_rows: int) -> None:
    """Arrays one item per line go through the line reader; other layouts hand over; rows are the row path's."""
    read = _lines_blocks(monkeypatch)
    rng = random.Random(f"{style}-{chunk_rows}")
    path = tmp_path / "log.json"
    path.write_bytes(_layout(_records(rng.randint(0, 999), 1200), style, rng))
    bulk, rows = _both(path, chunk_rows)
    assert_same(bulk, rows)
    assert rows[0].num_rows > 600 and len(rows[1]) > 10
    if style in ("leading", "trailing", "crlf_bom", "spaces", "trailing_comma"):
        assert sum(read) == rows[2]  # every record typed from its line
    if style == "spread":
        assert 0 < sum(read) < rows[2]


# an item the bulk SQL takes as it stands: only what pyarrow skips can tell the paths apart
_WHOLE = ('{"created_at": 1780272000, "type": 2, "token_name": "k", "model_name": "gpt-4o", "quota": 5, '
          '"prompt_tokens": 1, "completion_tokens": 1, "use_time": 1, "is_stream": false, "group": "default"')


@pytest.mark.parametrize("odd", [
    '{"created_at": 1780272000, "type": 2, "model_name": "x", "data": null}',  # a page key, null
    '{"created_at": 1780272000, "type": 2, "model_name": "x", "d\\u0061ta": {"items": []}}',  # escaped key
    '{"created_at": 1780272000, "type": 2, "model_n\\u0061me": "esc", "quota": 3}',
    '{"created_at": 1780272000, "type": 2, "model_name": "x"} {"created_at": 1780272001, "type": 2}',  # two
    '{"created_at": 1780272000, "type": 2, "model_name": "x", "quota": 1e400}',
    '{"created_at": 1780272000, "type": 2, "model_name": "x", "quota": NaN}',
    _WHOLE + ', "content": Inf}',  # pyarrow reads Inf (and -NaN) where the row path's json.loads does not
    _WHOLE + ', "content": -Inf}',
    _WHOLE + ', "content": [1, Inf]}',
    _WHOLE + ', "content": -NaN}',
    _WHOLE + ', "content": "Info: -NaN Inf", "x": Infinity}',
    '{"created_at": 1780272000, "type": 2, "model_name": "\\ud83d\\ude00 emoji", "quota": 4}',
    '{"created_at": 1780272000, "type": 2, "model_name": "x", "other": {"cache_tokens": 1}}',
    '{"created_at": 1780272000, "type": 2, "model_name": "x", "quota": 5, "quota": 7}',
    '{"created_at": 1780272000, "type": 2, "model_name": "x", "other": "{\\"cache_tokens\\": 1,\\n\\"x\\": 2}"}',
    '[1, 2]', 'null', '"text"', '{"created_at": 1780272000,', '{}',
])
def test_odd_items_among_lines_take_the_row_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, odd: str) -> None:
    read = _lines_blocks(monkeypatch)
    texts = [json.dumps(r) for r in _records(11, 400)]
    texts.insert(200, odd)
    path = tmp_path / "log.json"
    path.write_text("[" + "\n,".join(texts) + "\n]\n", "utf-8")
    if not _read_alike(path):
        assert sum(read) >= 200  # the items before the odd one came from the line reader


def _read_alike(path: Path) -> bool:
    """The bulk path reads the file as the row path does: the same rows, or an InputError on both (then True)."""
    try:
        rows = collect(newapi_log.parse(path, ParseContext(path.name, chunk_rows=64, options={"bulk": False})))
    except InputError:
        with pytest.raises(InputError):
            collect(newapi_log.parse(path, ParseContext(path.name, chunk_rows=64)))
        return True
    assert_same(collect(newapi_log.parse(path, ParseContext(path.name, chunk_rows=64))), rows)
    return False


def test_items_not_utf8_fail_as_on_the_row_path(tmp_path: Path) -> None:
    texts = [json.dumps(r).encode() for r in _records(12, 300)]
    texts[150] = texts[150].replace(b'"type"', b'"ty\xffpe"', 1)
    path = tmp_path / "log.json"
    path.write_bytes(b"[" + b"\n,".join(texts) + b"\n]\n")
    for options in ({}, {"bulk": False}):
        with pytest.raises(InputError):
            collect(newapi_log.parse(path, ParseContext(path.name, chunk_rows=64, options=options)))


ODD_OTHERS = (
    '{"cache_tokens": 5, "cache_tokens": 9}',  # a repeated key: json.loads keeps the last
    '{"cache_tokens": 5, "model_ratio": 1.10}',  # a float whose text Python prints otherwise
    '{"model_ratio": "a\\"b", "cache_tokens": 1}',  # a quote in a ratio text
    '{"cache_tokens": 5, "request_path": "/v1\tx"}',  # a control character json.loads refuses
    '{"request_path": " /v1/chat\u00a0", "cache_tokens": 2}',  # a Unicode space at an edge
    '{"model_ratio": 1e-05}', '{"model_ratio": 0.00001}', '{"cache_tokens": "12"}', '{"cache_tokens": 1e3}',
    '{"cache_tokens": 10.0}', '{"cache_tokens": -4}', '[1, 2]', '"text"', '{}', "  ", "not json", "",
)
PLAIN_OTHER = '{"cache_ratio": 0.5, "cache_tokens": 10, "completion_ratio": 4, "group_ratio": 1, "model_ratio": 1.25}'


def _shared_values(seed: int, n: int) -> list[dict[str, object]]:
    """Records drawing `other`, token, model and group from small pools (odd values among them, each many times),
    with exact repeats far apart (in other chunks)."""
    rng = random.Random(seed)
    out: list[dict[str, object]] = []
    for i in range(n):
        rec: dict[str, object] = {
            "id": i, "created_at": T0 + rng.randint(0, 86400), "type": rng.choice([2, 2, 2, 5, 6]),
            # DuckDB's trim keeps \x1f, \x85, \u2028 and tabs that str.strip() strips
            "token_name": rng.choice(["key-a", " key-b ", "key\u2003", "\u00a0key", "", None, "key\x1f", "\x85key",
                                      "sk-live0123456789abcdef"]),
            "model_name": rng.choice(["gpt-4o", " gpt-4o\u3000", "claude-x", "o4-mini ", "gpt-4o\u2028"]),
            "quota": rng.randint(0, 50), "prompt_tokens": rng.randint(0, 30), "completion_tokens": rng.randint(0, 9),
            "use_time": rng.randint(0, 3), "is_stream": rng.random() < 0.5,
            "group": rng.choice(["default", "vip ", "\u00a0vip", None, "vip\x1c", "\u200bvip"]),
            "other": PLAIN_OTHER if rng.random() < 0.5 else rng.choice(ODD_OTHERS),
        }
        out.append(rec)
        if i >= 300 and rng.random() < 0.1:
            out.append(dict(out[rng.randint(0, i - 300)]))
    return out


@pytest.mark.parametrize("style", ["leading", "minified", "csv"])
def test_values_shared_by_many_rows_are_judged_as_each_row_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                  style: str) -> None:
    """`other` texts, token, model and group names are checked once per distinct value: many rows sharing an odd
    one all get the row path's result, and repeats in other chunks their occurrence numbers."""
    typed = _bulk_chunks(monkeypatch)
    items = _shared_values(21, 2000)
    path = tmp_path / ("log.csv" if style == "csv" else "log.json")
    if style == "csv":
        fields = ["created_at", "type", "token_name", "model_name", "quota", "prompt_tokens", "completion_tokens",
                  "use_time", "is_stream", "group", "other"]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(fields)
        for rec in items:
            writer.writerow(["" if rec[f] is None else str(rec[f]).lower() if isinstance(rec[f], bool)
                             else str(rec[f]).replace("\t", " ") for f in fields])
        path.write_text(buf.getvalue(), "utf-8")
    else:
        path.write_bytes(_layout(items, style, random.Random(21)))
    bulk, rows = _both(path, 97)
    assert_same(bulk, rows)
    assert sum(typed) == rows[2] > 2000
    assert len(rows[1]) > 100 and rows[0].num_rows > 1000
    others = [r["other"] for r in items]
    assert all(others.count(o) > 20 for o in ODD_OTHERS)
    assert len(set(rows[0].column("record_id").to_pylist())) == rows[0].num_rows


def test_repeats_keep_their_numbers_across_the_hand_over_to_the_row_path(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    """Records read in bulk, then a saved page item (the row path takes over), then the same records again: the
    second copies are second occurrences on both paths."""
    read = _lines_blocks(monkeypatch)
    records = [r for r in _records(22, 300) if isinstance(r, dict)]
    texts = [json.dumps(r) for r in records]
    page = '{"data": {"items": [' + texts[0] + "]}}"
    path = tmp_path / "log.json"
    path.write_text("[" + "\n,".join([*texts, page, *texts]) + "\n]\n", "utf-8")
    bulk, rows = _both(path, 64)
    assert_same(bulk, rows)
    assert sum(read) >= len(texts)
    ids = rows[0].column("record_id").to_pylist()
    assert len(set(ids)) == len(ids) and rows[0].num_rows > 300


@pytest.mark.parametrize("limit", [1, 3, 7, 40, 10_000])
@pytest.mark.parametrize("shared", [False, True])
def test_numbers_are_those_of_occurrences(limit: int, shared: bool) -> None:
    """Numbers gives each key the number Occurrences.next_key gives it, resets at the limit included; keys whose
    ids share their leading bits (`shared`: every id alike) are told apart by their text."""
    import pyarrow as pa

    from costproof.sources.usage.base import Occurrences

    rng = random.Random(limit)
    expected, numbers = Occurrences(limit), newapi_bulk.Numbers(Occurrences(limit))
    for _ in range(80):  # many small chunks: the held keys are kept in pieces merged as they grow
        keys = [f"k{rng.randint(0, 400)}" for _ in range(rng.randint(0, 80))]
        ids = ["0" * 24 if shared else newapi_bulk.hashlib_id(k, 1) for k in keys]
        got = numbers.number(pa.array(keys, pa.string()), pa.array(ids, pa.string())).tolist()
        assert got == [expected.next_key(k) for k in keys]
    numbers.sync()
    assert numbers.seen.seen == expected.seen
    again = newapi_bulk.Numbers(numbers.seen)  # starts from what a seen dict holds
    keys = [f"k{rng.randint(0, 60)}" for _ in range(50)]
    got = again.number(pa.array(keys, pa.string()), pa.array([newapi_bulk.hashlib_id(k, 1) for k in keys])).tolist()
    assert got == [expected.next_key(k) for k in keys]


@pytest.mark.parametrize("value", ["Inf", "-Inf", "-NaN", "[1,Inf]", "Infinity", '"a:Inf"', "nan", "inf", "NAN"])
def test_duckdbs_reader_takes_no_number_pythons_decoder_refuses(tmp_path: Path, value: str) -> None:
    """A minified array (DuckDB's reader, which takes these spellings in any case): `Inf`, `-NaN`, `nan`... fail the
    import as on the row path; `Infinity` and a string that looks like one import alike on both."""
    texts = [json.dumps(r, separators=(",", ":")) for r in _records(12, 300)]
    texts[150] = texts[150][:-1] + ',"content":' + value + "}"
    path = tmp_path / "log.json"
    path.write_text("[" + ",".join(texts) + "]", "utf-8")
    assert _read_alike(path) == (value not in ("Infinity", '"a:Inf"'))


@pytest.mark.parametrize("value", ["Inf", "-Inf", "[1, Inf]", "-NaN", '"Info: -NaN Inf"'])
def test_inf_among_clean_lines_fails_as_on_the_row_path(tmp_path: Path, value: str) -> None:
    """Clean neighbours, so pyarrow reads the whole window at once: it takes `Inf` and `-NaN` in a field it is not
    asked for, so the line reader itself must send such a line to Python (which refuses it, as the row path does)."""
    texts = [_WHOLE.replace("1780272000", str(1780272000 + i)) + "}" for i in range(400)]
    texts[200] = texts[200][:-1] + ', "note": ' + value + "}"
    path = tmp_path / "log.json"
    path.write_text("[" + "\n,".join(texts) + "\n]\n", "utf-8")
    assert _read_alike(path) == (value != '"Info: -NaN Inf"')
