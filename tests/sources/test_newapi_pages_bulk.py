"""Saved API pages read by newapi_pages (pyarrow) give the row path's rows, identities, numbers and quarantine."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest
from tests.sources.equivalence import assert_same, both

from costproof.sources.usage import newapi_bulk, newapi_log, newapi_pages
from costproof.sources.usage.base import ParseContext, collect

T0 = 1780272000
PLAIN_OTHER = '{"cache_ratio": 0.5, "cache_tokens": 10, "completion_ratio": 4, "group_ratio": 1, "model_ratio": 1.25}'
OTHERS = (PLAIN_OTHER, '{"cache_tokens": 5, "cache_tokens": 9}', '{"model_ratio": 1.10}', '{"cache_tokens": 9000}',
          '{"request_path": " /v1/chat\u00a0", "cache_tokens": 2}', '{"cache_tokens": "12"}', "not json", "", "  ",
          '[1, 2]', '{"cache_tokens": -4}', '{"cache_creation_tokens": 3, "model_price": 0.02}')
# values of the JSON type pyarrow reads each field as: the page stays on the pyarrow path, the SQL judges them
TYPED = {
    "type": [1, 3, 4, 5, 6, 7, 0, 9, -2, None],
    "created_at": [-5, 0, 1780272000123, 99999999999, 100000000000, None],
    "quota": [-500, 0, 2**62, None],
    "prompt_tokens": [-1, 0, 2**62, None],
    "completion_tokens": [-3, None],
    "use_time": [-1, None, 0],
    "is_stream": [None, True],
    "model_name": ["", "  gpt-4o ", "gpt\u00a0", "claude-x", "\u6a21\u578b", None, "o4-mini\u2028"],
    "token_name": ["sk-live0123456789abcdef", " spaced ", "tab\t", "", None, "key\x1f"],
    "group": ["vip ", "\u00a0vip", "", None],
    "request_id": ["req-1", " ", None],
}
# values pyarrow refuses to type: the page is read in Python, every record of it by the row path
UNTYPED = {
    "type": ["2", 2.0, True], "quota": ["700", 1.5, 1e400], "prompt_tokens": [" 13 ", "1.0", 2**64],
    "is_stream": [1, "yes", "maybe"], "model_name": [4, {"x": 1}], "other": [{"cache_tokens": 3}],
    "created_at": ["2026-06-03T04:05:06Z", "1780272000", 1780272000.5],
}


def _record(rng: random.Random, i: int, untyped: bool) -> object:
    rec: dict[str, object] = {
        "id": i, "created_at": T0 + rng.randint(0, 30 * 86400), "type": 2, "content": "",
        "token_name": rng.choice(["key-a", "key-b", "team key"]),
        "model_name": rng.choice(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "Claude-3-haiku"]),
        "quota": rng.randint(0, 90000), "prompt_tokens": rng.randint(60, 4000),
        "completion_tokens": rng.randint(0, 900), "use_time": rng.randint(0, 9), "is_stream": rng.random() < 0.4,
        "group": rng.choice(["default", "vip"]), "other": rng.choice(OTHERS) if rng.random() < 0.3 else PLAIN_OTHER,
    }
    roll = rng.random()
    if roll < 0.25:
        key = rng.choice(list(TYPED))
        rec[key] = rng.choice(TYPED[key])
    elif roll < 0.3:
        del rec[rng.choice(list(TYPED)[:4])]
    elif roll < 0.32:
        return None  # a null item: pyarrow reads it as a null struct
    elif untyped and roll < 0.5:
        key = rng.choice(list(UNTYPED))
        rec[key] = rng.choice(UNTYPED[key])
    elif untyped and roll < 0.52:
        return rng.choice([5, "x", []])
    return rec


def _records(rng: random.Random, n: int, untyped: bool) -> list[object]:
    out: list[object] = []
    for i in range(n):
        out.append(_record(rng, i, untyped))
        if out[-1] is not None and rng.random() < 0.05:
            out.append(out[rng.randint(0, len(out) - 1)])  # an exact repeat, maybe pages away
    return out


def _page(items: list[object], rng: random.Random, number: int) -> str:
    page: dict[str, object] = {"success": True, "message": "", "data": {"page": number, "items": items}}
    if rng.random() < 0.2:  # keys in another order, `success` absent or inside data
        page = {"data": {"items": items, "total": 9, "success": True}, "message": "ok"}
    return json.dumps(page, ensure_ascii=rng.random() < 0.5)


def _pages(rng: random.Random, n: int, hostile: float = 0.1) -> list[str]:
    """Page lines of random sizes (empty pages too); about `hostile` of them hold values pyarrow cannot type."""
    lines = []
    while n > 0:
        size = rng.choice([0, 1, 7, 50, 120])
        lines.append(_page(_records(rng, size, rng.random() < hostile), rng, len(lines) + 1))
        n -= size
    return lines


def _counting(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int]]:
    """(records typed by each bulk chunk, pages of each table pyarrow read)."""
    typed: list[int] = []
    pages: list[int] = []
    run, read = newapi_bulk.run_chunk, newapi_pages._read

    def counting(*args: object, **kwargs: object) -> object:
        out = run(*args, **kwargs)
        typed.append(out.records)
        return out

    def reading(*args: object) -> object:
        table = read(*args)
        if table is not None:
            pages.append(table.num_rows)
        return table

    monkeypatch.setattr(newapi_bulk, "run_chunk", counting)
    monkeypatch.setattr(newapi_pages, "_read", reading)
    return typed, pages


def _check(path: Path, chunk_rows: int = 97) -> tuple[tuple, tuple] | None:
    """Both paths alike; None when both raise the same error."""
    try:
        rows = collect(newapi_log.parse(path, ParseContext(path.name, chunk_rows=chunk_rows,
                                                           options={"bulk": False})))
    except Exception as exc:  # noqa: BLE001 - whatever the row path raises, the bulk path raises too
        with pytest.raises(type(exc)) as bulk_exc:
            collect(newapi_log.parse(path, ParseContext(path.name, chunk_rows=chunk_rows)))
        assert str(bulk_exc.value) == str(exc)
        return None
    bulk, rows = both(newapi_log, path, chunk_rows)
    assert_same(bulk, rows)
    return bulk, rows


def _items(lines: list[str]) -> int:
    return sum(len(json.loads(line)["data"]["items"]) for line in lines)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("window", [1 << 26, 1 << 16])
def test_pages_bulk_equals_row_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seed: int,
                                    window: int) -> None:
    """Hostile values of every field, null items, repeats across pages and windows: the row path's results, every
    record in bulk chunks, most pages typed by pyarrow."""
    monkeypatch.setattr(newapi_pages, "_WINDOW", window)
    typed, pages = _counting(monkeypatch)
    rng = random.Random(seed)
    lines = _pages(rng, 2000)
    path = tmp_path / "pages.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    result = _check(path)
    assert result is not None
    _, rows = result
    assert sum(typed) == rows[2] > 2000
    assert len(rows[1]) > 100 and rows[0].num_rows > 1500
    assert len(lines) / 2 < sum(pages) < len(lines)  # most pages typed by pyarrow, the others read in Python


@pytest.mark.parametrize("layout", ["crlf", "bom", "blank_lines", "spaces", "no_final_newline", "tabs"])
def test_page_layouts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, layout: str) -> None:
    typed, pages = _counting(monkeypatch)
    rng = random.Random(layout)
    lines = _pages(rng, 800, hostile=0)
    if layout == "crlf":
        body = "\r\n".join(lines) + "\r\n"
    elif layout == "bom":
        body = "\ufeff" + "\n".join(lines) + "\n"
    elif layout == "blank_lines":
        body = "\n\n" + "\n \n\n".join(lines) + "\n\n\t\n"
    elif layout == "spaces":
        body = "\n".join(rng.choice(["", " ", "  "]) + line + rng.choice(["", " ", "\t"]) for line in lines)
    elif layout == "tabs":
        body = "\n".join("\t" + line + "\r" for line in lines) + "\n"
    else:
        body = "\n".join(lines)
    path = tmp_path / "pages.jsonl"
    path.write_bytes(body.encode("utf-8"))
    result = _check(path, 200)
    assert result is not None
    assert sum(typed) == result[1][2] > 800
    assert sum(pages) == len(lines)  # every page typed by pyarrow


ITEM = '{"created_at": 1780272000, "type": 2, "model_name": "gpt-4o", "quota": 5, "prompt_tokens": 9}'
ODD_PAGES = [
    # read in Python: the row path's reader gives the items
    '{"data": {"items": [' + ITEM + ', ' + ITEM + ',]}}',  # a trailing comma (the row path's reader takes it)
    '{"data": {"items": [' + ITEM + ']} "message": "no comma"}',
    '{"data": [' + ITEM + ', ' + ITEM + ']}',  # data is the list
    '{"data": {"items": [' + ITEM + ']}, "data": {"items": [' + ITEM + ', ' + ITEM + ']}}',  # data twice
    '{"data": {"items": [' + ITEM + '], "items": [' + ITEM + ']}}',  # items twice
    '{"success": true, "success": true, "data": {"items": [' + ITEM + ']}}',
    '{"success": "yes", "data": {"items": [' + ITEM + ']}}',
    '{"success": 0, "data": {"items": [' + ITEM + ']}}',
    '[' + ITEM + ', ' + ITEM + ']',  # an array line
    '{"data": {"items": [' + ITEM + ']}} {"data": {"items": [' + ITEM + ']}}',  # two pages on a line
    '{"data": {"items": [' + ITEM + ']}}{"data": {"items": []}}',
    '{"data": {"items": [' + ITEM + ', 5, "x", [], null]}}',
    '{"data": {"items": [' + ITEM[:-1] + ', "metadata": 1}]}}',  # `data"` twice, harmless
    '{"data": {"items": [' + ITEM[:-1] + ', "content": "data"}]}}',
    '{"d\\u0061ta": {"items": [' + ITEM + ']}}',  # an escaped page key
    '{"data": {"items": [' + ITEM.replace("model_name", "model_n\\u0061me") + ']}}',
    '{"data": {"items": [' + ITEM[:-1] + ', "quota": 7}]}}',  # a repeated field: json.loads keeps the last
    '{"data": {"items": [' + ITEM[:-1] + ', "content": NaN, "x": Infinity, "y": -Infinity}]}}',
    '{"data": {"items": [' + ITEM[:-1] + ', "content": "Info: -NaN Inf"}]}}',
    '{"data": {"items": [' + ITEM[:-1] + ', "model_name": "\\ud83d"}]}}',  # a lone surrogate
    '{"data": {"items": [' + ITEM[:-1] + ', "x": 1e99999}]}}',
    '{"data": {"items": [' + ITEM[:-1] + ', "success": false}]}}',  # an item's key, not the page's
    '{"data": {"items": [], "data": null}}',
    # the bulk read stops, the row path reads on (expands a saved page, or raises)
    '{"data": {"items": [' + ITEM[:-1] + ', "data": null}]}}',
    '{"data": {"items": [' + ITEM[:-1] + ', "data": {"items": [' + ITEM + ']}}]}}',  # a saved page among items
    '{"data": {"items": [' + ITEM[:-1] + ', "d\\u0061ta": [' + ITEM + ']}]}}',  # the same, its key escaped
    '{"data": {"items": [' + ITEM[:-1] + ', "\\u0064ata": []}]}}',
    '{"data": {"items": [' + ITEM[:-1] + ', "dat\\u0061": []}]}}',
    '{"data": {"items": [' + ITEM[:-1] + ', "content": Inf}]}}',  # pyarrow reads Inf, json.loads does not
    '{"data": {"items": [' + ITEM[:-1] + ', "content": -Inf}]}}',
    '{"data": {"items": [' + ITEM[:-1] + ', "content": [1, Inf]}]}}',
    '{"data": {"items": [' + ITEM[:-1] + ', "content": -NaN}]}}',
    '{"success": false, "data": {"items": []}}',
    '{"data": {"items": [' + ITEM + ']}, "success": false}',
    '{"data": {"items": [], "success": false}}',
    '{"data": null}',
    '{"data": {"page": 1}}',
    '{"data": {"items": null}}',
    '{"data": {"items": {"a": 1}}}',
    '{"message": "no data"}',
    '{"data": {"items": [' + ITEM + ']}',  # unclosed
    '{\n"data": {"items": [' + ITEM + ']}}',  # a page spread over lines
    '{"data": {"items": [' + ITEM[:-1] + ', "content": "a\tb"}]}}',  # a raw tab in a string
    '\ufeff{"data": {"items": []}}',  # a BOM not at the file's start
    '"text"',
    '{"data": {"items": [' + ITEM + ']}} x',
]


@pytest.mark.parametrize("odd", ODD_PAGES)
def test_odd_pages_read_as_the_row_path_reads_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   odd: str) -> None:
    typed, _ = _counting(monkeypatch)
    rng = random.Random(odd)
    lines = _pages(rng, 600, hostile=0)
    at = next(i for i in range(len(lines)) if _items(lines[:i]) >= 200)
    before = _items(lines[:at])
    lines.insert(at, odd)
    path = tmp_path / "pages.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    result = _check(path)
    if result is not None:
        assert result[1][0].num_rows > 300
    # the pages before the odd one came from the bulk reader (all but the chunk where the row path raises)
    assert sum(typed) >= before - (97 if result is None else 0)


@pytest.mark.parametrize("where", ["ignored", "typed", "last"])
def test_bytes_not_utf8_fail_as_on_the_row_path(tmp_path: Path, where: str) -> None:
    rng = random.Random(where)
    lines = [line.encode() for line in _pages(rng, 400, hostile=0)]
    bad = ITEM[:-1].encode() + (b', "content": "\xff"}' if where != "typed" else b', "token_name": "k\xff"}')
    page = b'{"data": {"items": [' + bad + b"]}}"
    lines.insert(len(lines) if where == "last" else len(lines) // 2, page)
    path = tmp_path / "pages.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert _check(path) is None


def test_long_pages_and_small_blocks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Page lines longer than pyarrow's block and a window of a few pages: same rows."""
    monkeypatch.setattr(newapi_pages, "_BLOCK", 1 << 12)
    monkeypatch.setattr(newapi_pages, "_WINDOW", 1 << 17)
    typed, _ = _counting(monkeypatch)
    rng = random.Random(5)
    lines = [_page(_records(rng, rng.choice([30, 200]), False), rng, i) for i in range(12)]
    path = tmp_path / "pages.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    result = _check(path, 500)
    assert result is not None and sum(typed) == result[1][2]


def test_a_line_longer_than_the_window_goes_to_the_row_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(newapi_pages, "_WINDOW", 1 << 14)
    rng = random.Random(6)
    lines = [_page(_records(rng, size, False), rng, i) for i, size in enumerate([20, 20, 400, 20])]
    path = tmp_path / "pages.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    assert _check(path) is not None


def test_the_reader_thread_gives_the_same_blocks_and_ends_with_its_reader(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    monkeypatch.setattr(newapi_pages, "_WINDOW", 1 << 17)
    rng = random.Random(7)
    path = tmp_path / "pages.jsonl"
    path.write_text("\n".join(_pages(rng, 3000, hostile=0.2)) + "\n", "utf-8")
    threaded = [b.table for b in newapi_pages.blocks(path)]
    assert len(threaded) > 5
    reader = newapi_pages.blocks(path)
    next(reader)
    reader.close()  # the caller stops early: the thread stops too
    assert not any(t.name == "newapi-pages" for t in threading.enumerate())
    monkeypatch.setattr(newapi_pages, "_PREFETCH", False)
    alone = [b.table for b in newapi_pages.blocks(path)]
    assert len(alone) == len(threaded) and all(a.equals(b) for a, b in zip(alone, threaded, strict=True))
