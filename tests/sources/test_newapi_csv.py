"""newapi-log console CSV: the cells typed in Arrow read as the row path reads them, and the bulk path stays exact."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.sources.equivalence import assert_same, both

from costproof.sources.usage import newapi_csv, newapi_log
from costproof.sources.usage.base import BadValue, read_bool, read_int, read_time

T0 = 1780272000
FIELDS = [
    "id",
    "created_at",
    "type",
    "token_name",
    "model_name",
    "quota",
    "prompt_tokens",
    "completion_tokens",
    "use_time",
    "is_stream",
    "group",
    "other",
]
INT_ODD = [
    "",
    " 12",
    "12 ",
    "012",
    "0",
    "00",
    "1e3",
    "12.0",
    "12.",
    "-0",
    "-5",
    "+5",
    "0x1f",
    "1_000",
    "999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "0000000000000000012",
    "12345678901234567890123",
    "\u0663",
    "\uff11\uff12",
    "\u00b2",
    "1\u00a0",
    "\u20031",
    "NaN",
    "x",
    "1,000",
]
TIME_ODD = [
    "",
    " 1780272000",
    "1780272000 ",
    "01780272000",
    "178027200",
    "17802720",
    "99999999999",
    "100000000000",
    "1780272000123",
    "000000000",
    "1780272000.5",
    "1780272000.0",
    "-1780272000",
    "2026-06-03T04:05:06Z",
    "2026-06-03 04:05:06+08:00",
    "\u0661780272000",
    "bad",
]
BOOL_ODD = [
    "",
    "true",
    "false",
    "True",
    "FALSE",
    "TRUE",
    "1",
    "0",
    "yes",
    "no",
    "YES",
    " true ",
    "true ",
    "\ttrue",
    "2",
    "maybe",
    "t",
    "\u00a0true",
    "ｔrue",
]


def _reading(value: str, name: str) -> tuple[str, Any]:
    try:
        if name == "created_at":
            return "ok", read_time(value, name)[0]
        if name == "is_stream":
            return "ok", read_bool(value, name)
        return "ok", read_int(value, name, minimum=None)
    except BadValue as exc:
        return "bad", str(exc)


@pytest.mark.parametrize(
    "name", ["type", "quota", "prompt_tokens", "completion_tokens", "use_time", "created_at", "is_stream"]
)
def test_typed_cells_read_as_the_row_path_reads_them(name: str) -> None:
    """Every cell `typed` vouches for holds the row path's reading; the others are left to the text SQL."""
    odd = TIME_ODD if name == "created_at" else BOOL_ODD if name == "is_stream" else INT_ODD
    plain = {"created_at": [str(T0 + i) for i in range(0, 3000, 7)], "is_stream": ["true", "false"] * 200}
    cells = [*odd, *plain.get(name, [str(i) for i in range(0, 3000, 7)])]
    cols = {
        f"f_{f}": pa.array([str(T0) if f == "created_at" else "" for _ in cells], pa.string())
        for f in newapi_log.bulk.FIELDS
    }
    cols[f"f_{name}"] = pa.array(cells, pa.string())
    table, clean = newapi_csv.typed(pa.table({"rn": pa.array(range(len(cells)), pa.int64()), **cols}))
    got = table.column(f"f_{name}").to_pylist()
    vouched = 0
    for cell, ok, value in zip(cells, clean.tolist(), got, strict=True):
        if not ok:
            continue
        vouched += 1
        kind, want = _reading(cell, name)
        assert kind == "ok", cell
        if name == "created_at":
            assert value is not None and read_time(value, name)[0] == want, cell
        else:
            assert value == want, cell
    # a row with another cell has no time: the typed SQL hands it to the row path
    times = table.column("f_created_at").to_pylist()
    assert all(t is None for t, ok in zip(times, clean.tolist(), strict=True) if not ok)
    assert vouched > len(cells) - len(odd)  # the plain cells are all vouched for, and some odd ones
    assert not all(clean)
    expected_odd = {
        "created_at": {"01780272000", "178027200", "99999999999", "000000000"},
        "is_stream": {"", "true", "false", "True", "FALSE", "TRUE", "1", "0", "yes", "no"},
    }.get(name, {"", "012", "0", "00", "999999999999999999"})
    assert {c for c, ok in zip(odd, clean.tolist(), strict=False) if ok} == expected_odd


def test_the_boolean_words_are_read_bools_own() -> None:
    for word, value in newapi_csv.BOOLS.items():
        assert read_bool(word, "is_stream") is value


def test_a_file_lacking_columns_types_them_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "created_at,type,model_name,quota\n"
        + "".join(f"{T0 + i},{2 if i % 9 else ' 2'},gpt-4o,{i}\n" for i in range(300)),
        "utf-8",
    )
    bulk, rows = both(newapi_log, path, 64)
    assert_same(bulk, rows)
    assert rows[0].num_rows > 250


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIELDS)
    for rec in records:
        writer.writerow([rec.get(f, "") for f in FIELDS])
    path.write_text(buf.getvalue(), "utf-8")


def _records(seed: int, n: int, odd_share: float) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        rec: dict[str, Any] = {
            "id": i,
            "created_at": str(T0 + rng.randint(0, 86400 * 30)),
            "type": rng.choice("2222222561"),
            "token_name": rng.choice(["key-a", "key-b", "", "sk-live0123456789abcdef"]),
            "model_name": rng.choice(["gpt-4o", "claude-sonnet-4", "o4-mini"]),
            "quota": str(rng.randint(0, 9000)),
            "prompt_tokens": str(rng.randint(100, 4000)),
            "completion_tokens": str(rng.randint(0, 900)),
            "use_time": rng.choice(["", "0", "3", "17"]),
            "is_stream": rng.choice(["true", "false", ""]),
            "group": rng.choice(["default", "vip", ""]),
            "other": rng.choice(['{"cache_tokens": 10, "model_ratio": 1.25}', "", '{"group_ratio": 1}']),
        }
        if rng.random() < odd_share:
            name = rng.choice(
                ["created_at", "type", "quota", "prompt_tokens", "completion_tokens", "use_time", "is_stream"]
            )
            odd = TIME_ODD if name == "created_at" else BOOL_ODD if name == "is_stream" else INT_ODD
            rec[name] = rng.choice(odd)
        out.append(rec)
        if rng.random() < 0.02:
            out.append(dict(rec))  # a repeat: its second occurrence
    return out


def _modes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, tuple[str, ...]]]:
    """(rows, rows vouched for, SQL kinds run) of each CSV chunk; the row path taking over the rest of the file fails
    the test."""
    seen: list[tuple[int, int, tuple[str, ...]]] = []
    typed, values, rows_path = newapi_csv.typed, newapi_csv.values, newapi_log.parse_rows
    counts: list[tuple[int, int]] = []

    def counting(src: pa.Table) -> tuple[pa.Table, Any]:
        out, clean = typed(src)
        counts.append((len(clean), int(clean.sum())))
        return out, clean

    def recording(src: pa.Table, run: Any) -> pa.Table:
        kinds: list[str] = []

        def wrapped(kind: str, table: pa.Table) -> pa.Table:
            kinds.append(kind)
            return run(kind, table)

        out = values(src, wrapped)
        seen.append((*counts.pop(), tuple(kinds)))
        return out

    def no_hand_over(path: Path, ctx: Any, *args: object, **kwargs: object) -> object:
        assert ctx.options.get("bulk") is False, "the bulk path handed over to the row path"
        return rows_path(path, ctx, *args, **kwargs)

    monkeypatch.setattr(newapi_csv, "typed", counting)
    monkeypatch.setattr(newapi_csv, "values", recording)
    monkeypatch.setattr(newapi_log, "parse_rows", no_hand_over)
    return seen


@pytest.mark.parametrize(("seed", "odd_share"), [(12, 0.05), (13, 0.3)])
def test_console_csv_with_odd_cells_bulk_equals_row_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seed: int, odd_share: float
) -> None:
    """Chunks read by the typed SQL alone, by the typed and text SQL (merged back in order), by the text SQL."""
    path = tmp_path / "log.csv"
    records = _records(seed, 2500, odd_share)
    for rec in records[1000:1200]:  # a run of odd cells longer than a chunk
        rec["quota"] = " 7"
    _write(path, records)
    seen = _modes(monkeypatch)
    bulk, rows = both(newapi_log, path, 97)
    assert_same(bulk, rows)
    assert any(kinds == ("typed", "csv") for _, _, kinds in seen)
    assert any(kinds == ("csv",) for _, _, kinds in seen)
    assert len(rows[1]) > 3 and rows[0].num_rows > 2000


def test_a_few_odd_rows_go_to_the_row_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Up to one row in FEW with another cell is read by the row path, the chunk by the typed SQL alone."""
    path = tmp_path / "log.csv"
    records = _records(14, 6000, 0.0015)
    _write(path, records)
    seen = _modes(monkeypatch)
    bulk, rows = both(newapi_log, path, 1300)
    assert_same(bulk, rows)
    assert any(0 < n - k <= n // newapi_csv.FEW and kinds == ("typed",) for n, k, kinds in seen)


def test_every_odd_cell_read_by_the_row_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each odd value in each column, its row handed by the typed SQL to the row path (FEW = 1: any share)."""
    rng = random.Random(15)
    records = _records(15, 600, 0.0)
    at = 0
    for name in ("created_at", "type", "quota", "prompt_tokens", "completion_tokens", "use_time", "is_stream"):
        for value in TIME_ODD if name == "created_at" else BOOL_ODD if name == "is_stream" else INT_ODD:
            records.insert(at + rng.randint(0, 2), {**records[at], name: value})
            at += 3
    path = tmp_path / "log.csv"
    _write(path, records)
    monkeypatch.setattr(newapi_csv, "FEW", 1)
    seen = _modes(monkeypatch)
    bulk, rows = both(newapi_log, path, 97)
    assert_same(bulk, rows)
    assert all(kinds == ("typed",) for _, _, kinds in seen) and any(k < n for n, k, _ in seen)
    assert len(rows[1]) > 80
