"""Shared by the bulk-vs-row equivalence tests: parse a file both ways and require identical results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
