"""Usage import fast paths change no row: scan batch size; retry numbering skipped without failures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from costproof.service.usage import import_file
from costproof.sources.usage import focus, usage_csv, vector
from costproof.sources.usage.base import ParseContext, collect
from costproof.workspace import Workspace

DATA = Path(__file__).resolve().parents[1] / "data" / "usage"
HEADER = "occurred_at,provider,model_reported,status_code,api_key_name,input_tokens,output_tokens,attempt\n"


def _bad_and_good(tmp_path: Path) -> Path:
    lines = [HEADER]
    for i in range(200):
        when = f"2026-06-01T{i // 60:02d}:{i % 60:02d}:00{'+05:30' if i % 3 == 0 else 'Z'}"
        tokens = "x" if i % 17 == 0 else str(i)
        lines.append(f"{when},p,m-{i % 4},{200 if i % 11 else 503},k-{i % 3},{tokens},{i * 2},{1 + i % 2}\n")
    path = tmp_path / "u.csv"
    path.write_text("".join(lines), "utf-8")
    return path


@pytest.mark.parametrize(
    ("adapter", "name"),
    [(usage_csv, "usage.csv"), (usage_csv, None), (focus, "focus-1.2.csv"), (focus, "focus-1.0.parquet")],
)
def test_scan_batch_size_does_not_change_the_parse(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, adapter: object, name: str | None
) -> None:
    path = DATA / name if name else _bad_and_good(tmp_path)
    results = []
    for size in (1_000_000, 3):
        monkeypatch.setattr(vector, "SCAN_BATCH", size)
        table, errors, records = collect(adapter.parse(path, ParseContext(path.name)))  # type: ignore[attr-defined]
        results.append((table.to_pylist(), errors, records))
    assert results[0] == results[1]
    if name is None:
        assert results[0][1]  # the planted bad tokens are quarantined either way


def _attempts(tmp_path: Path, body: str) -> list[tuple]:
    path = tmp_path / "retries.csv"
    path.write_text(HEADER + body, "utf-8")
    ws, _ = Workspace.create(tmp_path / "ws")
    with ws:
        import_file(ws, path, fmt="usage-csv", now=datetime(2026, 7, 2, tzinfo=UTC))
    files = sorted(str(f) for f in (tmp_path / "ws" / "usage").glob("period=*/*.parquet"))
    return duckdb.sql(
        f"SELECT status_class, attempt, is_retry FROM read_parquet({files}) ORDER BY occurred_at"
    ).fetchall()


def test_no_failed_attempt_means_every_row_is_a_first_attempt(tmp_path: Path) -> None:
    body = "2026-06-01T00:00:00Z,p,m,200,k,1,1,3\n2026-06-01T00:00:05Z,p,m,200,k,1,1,2\n"
    assert _attempts(tmp_path, body) == [("2xx", 1, False), ("2xx", 1, False)]


def test_a_failed_attempt_still_numbers_its_retry(tmp_path: Path) -> None:
    body = (
        "2026-06-01T00:00:00Z,p,m,503,k,0,0,\n2026-06-01T00:00:05Z,p,m,200,k,1,1,\n"
        "2026-06-01T01:00:00Z,p,m,200,k,1,1,\n"
    )
    assert _attempts(tmp_path, body) == [("5xx", 1, False), ("2xx", 2, True), ("2xx", 1, False)]


def test_rows_a_join_reordered_are_put_back_in_record_order() -> None:
    table = pa.table({vector.ROW_NUMBER: [4, 2, 3, 5], "v": ["d", "b", "c", "e"]})
    assert vector.in_row_order(table).column("v").to_pylist() == ["b", "c", "d", "e"]
    ordered = pa.table({vector.ROW_NUMBER: [2, 3, 9], "v": ["x", "y", "z"]})
    assert vector.in_row_order(ordered) is ordered
    empty = ordered.slice(0, 0)
    assert vector.in_row_order(empty).num_rows == 0


def _batched(batches: list[pa.RecordBatch], size: int, at: int = 0) -> list[tuple[int, pa.Table]]:
    from costproof.service.usage_parts import _Batcher

    batcher = _Batcher(size, at)
    got = [out for batch in batches for out in batcher.push(batch)]
    return got + list(batcher.rest())


def test_batcher_keeps_every_row_in_order_in_tables_of_the_given_size() -> None:
    table = pa.table({"i": list(range(23))})
    batches = [*table.slice(0, 2).to_batches(), *table.slice(2, 13).to_batches(), *table.slice(15).to_batches()]
    got = _batched(batches, 5, at=100)
    assert [t.num_rows for _, t in got] == [5, 5, 5, 5, 3]
    assert [v for _, t in got for v in t.column("i").to_pylist()] == list(range(23))
    assert [at for at, _ in got] == [100, 105, 110, 115, 120]  # each table's first row, counted from `at`
    assert [t.num_rows for _, t in _batched(table.to_batches(), 23)] == [23]
    assert _batched([], 5) == []


def test_parts_cut_the_chunks_into_runs_of_at_least_part_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from costproof.service import usage_parts

    monkeypatch.setattr(usage_parts, "PART_ROWS", 10)
    # (first chunk, end chunk, first row): a part closes once it holds PART_ROWS rows
    assert usage_parts._parts([4, 4, 4, 9, 1, 3]) == [(0, 3, 0), (3, 5, 12), (5, 6, 22)]
    assert usage_parts._parts([30]) == [(0, 1, 0)]
    assert usage_parts._parts([]) == []
