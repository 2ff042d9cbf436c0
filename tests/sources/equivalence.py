"""Shared by the bulk-vs-row equivalence tests: parse a file both ways and require identical results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from costproof.sources.usage import vector
from costproof.sources.usage.base import ParseContext, collect


def both(adapter: Any, path: Path, chunk_rows: int) -> tuple[tuple, tuple]:
    """(bulk, row path) results of one adapter on one file: (table, errors, records) each."""
    bulk = collect(adapter.parse(path, ParseContext(path.name, chunk_rows=chunk_rows)))
    rows = collect(adapter.parse(path, ParseContext(path.name, chunk_rows=chunk_rows, options={"bulk": False})))
    return bulk, rows


def assert_same(bulk: tuple, rows: tuple) -> None:
    """Same record count, quarantine (record, field, reason), every column, and every record accounted for."""
    assert bulk[2] == rows[2]  # records
    assert bulk[1] == rows[1]  # quarantine: record, field, reason
    for name in rows[0].column_names:
        assert bulk[0].column(name).to_pylist() == rows[0].column(name).to_pylist(), name
    assert bulk[0].equals(rows[0])
    assert bulk[0].num_rows + len(bulk[1]) == bulk[2]


def same_across_scan_batches(monkeypatch: pytest.MonkeyPatch, adapter: Any, path: Path, chunk_rows: int) -> tuple:
    """Chunks scanned as one record batch and as many 7-row ones (a parallel DuckDB scan) give the same bulk
    result, and it is the row path's; returns it."""
    results = []
    for size in (1_000_000, 7):
        monkeypatch.setattr(vector, "SCAN_BATCH", size)
        results.append(collect(adapter.parse(path, ParseContext(path.name, chunk_rows=chunk_rows))))
    rows = collect(adapter.parse(path, ParseContext(path.name, chunk_rows=chunk_rows, options={"bulk": False})))
    assert results[0][0].equals(results[1][0]) and results[0][1:] == results[1][1:]
    assert_same(results[1], rows)
    return results[1]
