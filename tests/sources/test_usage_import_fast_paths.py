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


def test_fetch_ahead_yields_every_batch_in_order_and_can_stop_early() -> None:
    from costproof.service.usage import _fetch_ahead

    table = pa.table({"i": list(range(10))})
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3))
    assert [b.column(0).to_pylist() for b in _fetch_ahead(reader)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3))
    ahead = _fetch_ahead(reader)
    assert next(ahead).num_rows == 3
    ahead.close()
