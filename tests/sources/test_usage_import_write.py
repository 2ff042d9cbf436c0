"""The import's final write: rows copied in file order into part files per period, duplicates left out, retries
numbered, with the same rows whatever the part and batch sizes, and the same bytes from the same file."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from costproof.service import usage, usage_parts
from costproof.sources.usage.base import ParseContext
from costproof.workspace import Workspace

HEADER = "occurred_at,provider,model_reported,status_code,api_key_name,input_tokens,output_tokens,request_id\n"
MONTHS = ("2026-05", "2026-06", "2026-07")


def _line(i: int) -> str:
    """Rows hop between three months; every 7th is a 503 followed 5 s later by its retry of the same key/model."""
    month = MONTHS[(i * 7) % 3]
    day, minute = 1 + i % 27, i % 60
    if i % 7 == 3:  # the retry of row i-1, same key and model, 5 s later
        prev = i - 1
        month, day, minute = MONTHS[(prev * 7) % 3], 1 + prev % 27, prev % 60
        return f"{month}-{day:02d}T10:{minute:02d}:05Z,p,m-{prev % 4},200,k-{prev % 3},{i},{i},\n"
    status = 503 if i % 7 == 2 else 200
    return f"{month}-{day:02d}T10:{minute:02d}:00Z,p,m-{i % 4},{status},k-{i % 3},{i},{i},r-{i}\n"


def _file(path: Path, lines: range) -> Path:
    path.write_text(HEADER + "".join(_line(i) for i in lines), "utf-8")
    return path


def _import(root: Path, *files: Path) -> list[dict]:
    ws, _ = Workspace.create(root)
    with ws:
        return [usage.import_file(ws, f, fmt="usage-csv", now=datetime(2026, 8, 2, tzinfo=UTC)) for f in files]


def _rows(root: Path) -> list[tuple]:
    files = sorted(str(f) for f in (root / "usage").glob("period=*/*.parquet"))
    return duckdb.sql(f"SELECT * EXCLUDE (import_id) FROM read_parquet({files}) ORDER BY record_id").fetchall()


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny chunks, parts and batches, so one import exercises every boundary."""
    monkeypatch.setattr(usage, "ParseContext", functools.partial(ParseContext, chunk_rows=20))
    monkeypatch.setattr(usage_parts, "PART_ROWS", 45)
    monkeypatch.setattr(usage_parts, "WRITE_BATCH", 7)


def test_part_and_batch_sizes_do_not_change_the_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _file(tmp_path / "u.csv", range(300))
    _import(tmp_path / "big", source)
    monkeypatch.setattr(usage, "ParseContext", functools.partial(ParseContext, chunk_rows=20))
    monkeypatch.setattr(usage_parts, "PART_ROWS", 45)
    monkeypatch.setattr(usage_parts, "WRITE_BATCH", 7)
    _import(tmp_path / "small", source)
    assert _rows(tmp_path / "big") == _rows(tmp_path / "small")
    parts = sorted((tmp_path / "small" / "usage").glob("period=*/*.parquet"))
    assert len(parts) > 6  # several parts in each of the three periods
    for part in parts:
        month = part.parent.name.removeprefix("period=")
        got = duckdb.sql(f"SELECT strftime(occurred_at, '%Y-%m'), source_record FROM read_parquet('{part}')").fetchall()
        assert {m for m, _ in got} == {month}
        records = [r for _, r in got]
        assert records == sorted(records)  # file order is kept


def test_retries_are_numbered_across_batches_and_parts(tmp_path: Path, small: None) -> None:
    _import(tmp_path / "ws", _file(tmp_path / "u.csv", range(300)))
    got = dict((r[0], r[1]) for r in duckdb.sql(
        f"SELECT source_record, attempt || ':' || is_retry FROM read_parquet("
        f"{sorted(str(f) for f in (tmp_path / 'ws' / 'usage').glob('period=*/*.parquet'))})").fetchall())
    for i in range(300):
        record = i + 2  # the CSV line
        expected = "2:true" if i % 7 == 3 else "1:false"
        assert got[record] == expected, (i, got[record])


def test_overlapping_imports_store_each_record_once(tmp_path: Path, small: None) -> None:
    first = _file(tmp_path / "a.csv", range(0, 200))
    second = _file(tmp_path / "b.csv", range(120, 320))
    a, b = _import(tmp_path / "ws", first, second)
    assert (a["rows_stored"], a["duplicates"]) == (200, 0)
    assert b["records"] == 200 and b["duplicates"] > 0
    assert b["rows_stored"] + b["duplicates"] == 200
    rows = _rows(tmp_path / "ws")
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) == 200 + b["rows_stored"]


def test_repeats_inside_one_file_keep_the_first_record(tmp_path: Path, small: None) -> None:
    # a file that lists the same records twice (an export with a repeated page): usage-csv rows without a
    # record_id column are identified by their content, so the second listing is all duplicates
    lines = "".join(_line(i) for i in range(60))
    path = tmp_path / "twice.csv"
    path.write_text(HEADER + lines + lines, "utf-8")
    (summary,) = _import(tmp_path / "ws", path)
    assert (summary["records"], summary["rows_stored"], summary["duplicates"]) == (120, 60, 60)
    stored = duckdb.sql(f"SELECT max(source_record) FROM read_parquet("
                        f"{sorted(str(f) for f in (tmp_path / 'ws' / 'usage').glob('period=*/*.parquet'))})"
                        ).fetchall()[0][0]
    assert stored == 61  # what was kept is the first listing (CSV lines 2..61)


def test_the_same_file_gives_the_same_bytes(tmp_path: Path, small: None) -> None:
    source = _file(tmp_path / "u.csv", range(250))
    digests = []
    for name in ("one", "two"):
        _import(tmp_path / name, source)
        base = tmp_path / name / "usage"
        digests.append({str(f.relative_to(base)): hashlib.sha256(f.read_bytes()).hexdigest()
                        for f in sorted(base.glob("period=*/*.parquet"))})
    assert digests[0] == digests[1] and len(digests[0]) > 3


def _oracle(rows: list[dict], window: int) -> dict[int, int]:
    """The retry rule, row by row: within key/model/stream in time order, a row right after a failed attempt no more
    than `window` seconds earlier continues its chain; the attempt number counts along the chain."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["record_kind"] in ("consume", "error"):
            groups.setdefault((r["api_key_name"] or "", r["model_reported"] or "", r["is_stream"]), []).append(r)
    attempts = {}
    for members in groups.values():
        members.sort(key=lambda r: (r["occurred_at"], r["source_record"]))
        prev = None
        for r in members:
            failed = prev is not None and (prev["status_class"] in ("4xx", "5xx") or prev["record_kind"] == "error")
            link = failed and (r["occurred_at"] - prev["occurred_at"]).total_seconds() <= window
            attempts[r["source_record"]] = attempts[prev["source_record"]] + 1 if link else 1
            prev = r
    return attempts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_retry_numbering_matches_the_rule_row_by_row(tmp_path: Path, small: None, seed: int) -> None:
    import random

    rng = random.Random(seed)
    lines = ["occurred_at,provider,model_reported,status_code,api_key_name,is_stream,record_kind,"
             "input_tokens,output_tokens\n"]
    t = 0
    for i in range(400):
        t += rng.choice([0, 1, 5, 30, 59, 60, 61, 90, 400])
        status = rng.choice([200, 200, 200, 429, 500, 503, ""])
        kind = rng.choice(["consume"] * 8 + ["error", "refund"])
        stream = rng.choice(["true", "false", ""])
        lines.append(f"2026-06-01T00:00:00Z,p,{rng.choice(['m1', 'm2'])},{status},{rng.choice(['k1', 'k2'])},"
                     f"{stream},{kind},{i},{i}\n".replace("2026-06-01T00:00:00Z", _at(t)))
    path = tmp_path / "r.csv"
    path.write_text("".join(lines), "utf-8")
    (summary,) = _import(tmp_path / "ws", path)
    assert summary["quarantined"] == 0
    files = sorted(str(f) for f in (tmp_path / "ws" / "usage").glob("period=*/*.parquet"))
    rows = duckdb.sql(f"SELECT * FROM read_parquet({files})").to_arrow_table().to_pylist()
    expected = _oracle(rows, 60)
    got = {r["source_record"]: r["attempt"] for r in rows if r["record_kind"] in ("consume", "error")}
    assert got == expected
    assert max(got.values()) >= 3  # long chains were exercised
    assert all(r["is_retry"] == (r["attempt"] > 1) for r in rows if r["record_kind"] in ("consume", "error"))


def _at(seconds: int) -> str:
    return datetime.fromtimestamp(1780272000 + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("ahead", [0, 1 << 40])
def test_a_file_imported_before_adds_nothing_whether_hashed_first_or_while_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead: int
) -> None:
    monkeypatch.setattr(usage, "HASH_AHEAD_BYTES", ahead)
    source = _file(tmp_path / "u.csv", range(120))
    ws, _ = Workspace.create(tmp_path / "ws")
    with ws:
        now = datetime(2026, 8, 2, tzinfo=UTC)
        first = usage.import_file(ws, source, fmt="usage-csv", now=now)
        again = usage.import_file(ws, source, fmt="usage-csv", now=now)
        # even a wrong --format is no error for a file the workspace already has: nothing is parsed into it
        wrong = usage.import_file(ws, source, fmt="focus", now=now)
        assert again["already_imported"] and wrong["already_imported"]
        assert again["import_id"] == wrong["import_id"] == first["import_id"]
        assert ws.one("SELECT count(*) AS n FROM imports")["n"] == 1
        with pytest.raises(Exception, match="FOCUS"):
            usage.import_file(ws, _file(tmp_path / "v.csv", range(5, 30)), fmt="focus", now=now)
    assert [p.name for p in (tmp_path / "ws" / "usage").iterdir() if p.name.startswith(".")] == []
    assert len(_rows(tmp_path / "ws")) == 120


def _clean_line(i: int) -> str:
    """A row of three months with no failed attempt, so nothing is renumbered."""
    month = MONTHS[(i * 7) % 3]
    return f"{month}-{1 + i % 27:02d}T10:{i % 60:02d}:00Z,p,m-{i % 4},200,k-{i % 3},{i},{i},r-{i}\n"


def _digests(root: Path) -> dict[str, str]:
    base = root / "usage"
    return {str(f.relative_to(base)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(base.glob("period=*/*.parquet"))}


def _direct_from(monkeypatch: pytest.MonkeyPatch, first: int | None) -> list[set[int]]:
    """Let the import id reach the direct writer only from part `first` on (None: never); returns, per import,
    the parts `_write` was told were written while parsing."""
    add = usage_parts.Direct.add

    def gated(self: usage_parts.Direct, table: object, import_id: str | None) -> bool:
        starting = self.part < 0 or self.rows >= usage_parts.PART_ROWS
        part = self.part + 1 if starting else self.part
        return add(self, table, import_id if first is not None and part >= first else None)

    seen: list[set[int]] = []
    write = usage._write

    def recorded(ws: Workspace, import_id: str, stage: usage_parts.Spill, staging: Path,
                 direct: usage_parts.Direct) -> object:
        parts = set(direct.finish())
        seen.append(parts)
        # the spill holds the rows of the other parts only (and the facts of all)
        for k, (first_chunk, end_chunk, _) in enumerate(usage_parts._parts(stage.sizes)):
            spilled = stage.batches[first_chunk:end_chunk]
            assert (all(n == 0 for n in spilled) if k in parts else all(n > 0 for n in spilled)), (k, spilled)
        return write(ws, import_id, stage, staging, direct)

    monkeypatch.setattr(usage_parts.Direct, "add", gated)
    monkeypatch.setattr(usage, "_write", recorded)
    return seen


@pytest.mark.parametrize("first", [0, 2])
def test_parts_written_while_parsing_are_the_bytes_the_spill_gives(
    tmp_path: Path, small: None, monkeypatch: pytest.MonkeyPatch, first: int
) -> None:
    path = tmp_path / "clean.csv"
    path.write_text(HEADER + "".join(_clean_line(i) for i in range(300)), "utf-8")
    with monkeypatch.context() as patch:
        spilled = _direct_from(patch, None)
        _import(tmp_path / "spill", path)
    direct = _direct_from(monkeypatch, first)
    _import(tmp_path / "direct", path)
    assert spilled == [set()]
    parts = len(usage_parts._parts([20] * 15))  # 300 rows in chunks of 20, parts of at least 45 rows
    assert direct == [set(range(first, parts))] and parts > 3
    assert _digests(tmp_path / "direct") == _digests(tmp_path / "spill")
    assert len(_digests(tmp_path / "direct")) > 6


@pytest.mark.parametrize("first", [0, 2])
def test_direct_parts_are_written_again_when_a_retry_renumbers_rows(
    tmp_path: Path, small: None, monkeypatch: pytest.MonkeyPatch, first: int
) -> None:
    # clean rows, then from row 250 on every 7th row is a 503 retried 5 s later. Rows hop between three months,
    # so the parts written while parsing are read back from three files each and put back in order. The part
    # that starts with the chunk holding the first failure (rows 240-259) and every later one are spilled.
    source = tmp_path / "u.csv"
    source.write_text(HEADER + "".join(_clean_line(i) if i < 250 else _line(i) for i in range(320)), "utf-8")
    with monkeypatch.context() as patch:
        _direct_from(patch, None)
        _import(tmp_path / "spill", source)
    direct = _direct_from(monkeypatch, first)
    _import(tmp_path / "direct", source)
    assert direct == [set(range(first, 4))]  # parts 0-3 hold rows 0-239; part 4 starts at row 240
    assert _digests(tmp_path / "direct") == _digests(tmp_path / "spill")
    files = sorted(map(str, (tmp_path / "direct").rglob("*.parquet")))
    retried = duckdb.sql(f"SELECT count(*) FROM read_parquet({files}) WHERE is_retry").fetchall()[0][0]
    assert retried == len([i for i in range(251, 320) if i % 7 == 3])


def test_direct_parts_are_written_again_when_rows_are_duplicates(
    tmp_path: Path, small: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "a.csv"
    first.write_text(HEADER + "".join(_clean_line(i) for i in range(0, 200)), "utf-8")
    second = tmp_path / "b.csv"
    second.write_text(HEADER + "".join(_clean_line(i) for i in range(150, 320)), "utf-8")
    with monkeypatch.context() as patch:
        _direct_from(patch, None)
        _import(tmp_path / "spill", first, second)
    _direct_from(monkeypatch, 0)
    a, b = _import(tmp_path / "direct", first, second)
    assert (a["rows_stored"], b["rows_stored"], b["duplicates"]) == (200, 120, 50)
    assert _digests(tmp_path / "direct") == _digests(tmp_path / "spill")
    assert len(_rows(tmp_path / "direct")) == 320


def _noted(root: Path, summary: dict) -> None:
    """The import's periods, first and last time are those of the rows it stored."""
    files = sorted(str(f) for f in (root / "usage").glob("period=*/*.parquet") if summary["import_id"] in f.name)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    stamp = "'%Y-%m-%dT%H:%M:%SZ'"
    months, first, last = con.sql(
        f"SELECT list(DISTINCT strftime(occurred_at, '%Y-%m')), strftime(min(occurred_at), {stamp}), "
        f"strftime(max(occurred_at), {stamp}) FROM read_parquet({files})").fetchall()[0]
    months = sorted(months)
    assert (summary["periods"], summary["first_at"], summary["last_at"]) == (months, first, last)


def test_periods_and_bounds_are_those_of_the_stored_rows_with_and_without_duplicates(
    tmp_path: Path, small: None
) -> None:
    first = tmp_path / "a.csv"  # the spill's own notes (nothing dropped)
    first.write_text(HEADER + "".join(_clean_line(i) for i in range(0, 100)), "utf-8")
    second = tmp_path / "b.csv"  # rows 0..59 are duplicates of the first file: counted over the fresh rows in SQL
    second.write_text(HEADER + "".join(_clean_line(i) for i in [*range(0, 60), 400, 401]), "utf-8")
    a, b = _import(tmp_path / "ws", first, second)
    assert b["duplicates"] == 60 and b["rows_stored"] == 2
    assert len(a["periods"]) == 3 and len(b["periods"]) == 2
    for summary in (a, b):
        _noted(tmp_path / "ws", summary)
