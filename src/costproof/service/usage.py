"""Import a usage file: parse, quarantine, dedupe, number retries, write period Parquet atomically."""

from __future__ import annotations

import contextlib
import glob as globmod
import hashlib
import json
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from costproof.model.errors import InputError
from costproof.model.sanitize import compile_patterns, redact
from costproof.review import lock as review_lock
from costproof.service.common import iso
from costproof.sources import usage as adapters
from costproof.sources.usage.base import USAGE_SCHEMA, ParseContext
from costproof.workspace import Workspace, dumps

Progress = Callable[[int], None]
# DuckDB memory for an import's dedupe, retry numbering and sorted write; the rest spills to disk
IMPORT_MEMORY = "768MB"
WRITE_BATCH = 100_000
ROW_GROUP = 500_000
SPILL_AHEAD = 2
_MEMORY_SETTINGS = ("memory_limit", "preserve_insertion_order")
_IMPORT_ID = USAGE_SCHEMA.get_field_index("import_id")


def expand(spec: str) -> list[Path]:
    """A file, a directory (every file inside, sorted) or a glob."""
    path = Path(spec)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if any(ch in spec for ch in "*?["):
        hits = sorted(Path(p) for p in globmod.glob(spec, recursive=True) if Path(p).is_file())
        if not hits:
            raise InputError("the pattern matches no file", file=spec)
        return hits
    if not path.is_file():
        raise InputError("no such file", file=spec)
    return [path]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_file(ws: Workspace, path: Path, *, fmt: str | None, now: datetime,
                progress: Progress | None = None) -> dict[str, Any]:
    label = redact(path.name)
    sha = file_sha256(path)
    prior = ws.one("SELECT import_id FROM imports WHERE sha256 = ? AND kind = 'usage'", [sha])
    if prior:
        return {**summary(ws, prior["import_id"]), "already_imported": True}
    fmt = fmt or adapters.detect(path, label)
    adapter = adapters.get(fmt)
    import_id = "imp-" + sha[:12]
    ctx = ParseContext(file_label=label, secret_pattern=compile_patterns(ws.settings.secret_patterns))
    staging = ws.root / "usage" / f".staging-{import_id}"
    spill = ws.root / "usage" / f".stage-{import_id}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir(parents=True)
    stage = spill / "stage.parquet"
    con = ws.con
    errors: list[Any] = []
    records = 0
    try:
        # Parsed chunks are spilled to one Parquet file as they come (memory stays at one chunk);
        # DuckDB then reads it back for the set-based steps under a memory limit that spills to disk.
        # The spill writes on a worker thread (pyarrow releases the GIL) while the next chunk parses; one
        # thread keeps the chunks in order, and at most SPILL_AHEAD chunks wait for it.
        with pq.ParquetWriter(stage, USAGE_SCHEMA, compression="lz4") as writer, ThreadPoolExecutor(1) as pool:
            ids = pa.array([import_id], pa.string())
            pending: deque[Future[None]] = deque()
            for chunk in adapter.parse(path, ctx):
                records += chunk.records
                errors.extend(chunk.errors)
                if chunk.table.num_rows:
                    column = pa.chunked_array([pa.repeat(ids[0], chunk.table.num_rows)])
                    rows = chunk.table.set_column(_IMPORT_ID, "import_id", column)
                    pending.append(pool.submit(writer.write_table, rows))
                    if len(pending) > SPILL_AHEAD:
                        pending.popleft().result()
                if progress:
                    progress(chunk.records)
            while pending:
                pending.popleft().result()
        with _bounded(con):
            stored, duplicates, periods, bounds = _write(ws, import_id, stage, staging)
        review_lock.ensure_unlocked(ws, periods, f"usage import of {label}")  # parsed, not yet published
        with ws.transaction():
            con.execute(
                "INSERT INTO imports VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [import_id, ws.next_seq("imports"), "usage", fmt, label, sha, path.stat().st_size, now,
                 records, stored, duplicates, len(errors), bounds[0], bounds[1], dumps(periods)])
            if errors:
                con.executemany("INSERT INTO quarantine VALUES (?,?,?,?,?)",
                                [[import_id, label, e.record, e.field, redact(e.reason)] for e in errors])
            _publish(ws, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(spill, ignore_errors=True)
    if records != stored + duplicates + len(errors):
        raise AssertionError(f"import {import_id}: {records} records != {stored} + {duplicates} + {len(errors)}")
    return summary(ws, import_id)


@contextlib.contextmanager
def _bounded(con: Any) -> Iterator[None]:
    """Cap DuckDB's memory for the import's sorts and joins; what does not fit spills to its temp directory."""
    old = {k: con.execute(f"SELECT current_setting('{k}')").fetchall()[0][0] for k in _MEMORY_SETTINGS}
    con.execute(f"SET memory_limit = '{IMPORT_MEMORY}'")
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        for key, value in old.items():
            con.execute(f"SET {key} = '{str(value).replace(chr(39), chr(39) * 2)}'")


def _write(ws: Workspace, import_id: str, stage: Path, staging: Path) -> tuple[int, int, list[str], tuple[Any, Any]]:
    """Dedupe against the file and the workspace, number retries, write Parquet by period."""
    con = ws.con
    window = int(ws.settings.retry_window_s)
    existing = _existing_files(ws)
    source = f"read_parquet('{stage}')"
    total = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    # Repeats inside the file: the first record keeps its row (small table; usually empty).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE repeats AS
        SELECT record_id, min(source_record) AS keep FROM {source}
        GROUP BY record_id HAVING count(*) > 1
    """)
    where = []
    if con.execute("SELECT count(*) FROM repeats").fetchall()[0][0]:
        where.append("NOT EXISTS (SELECT 1 FROM repeats r WHERE r.record_id = s.record_id "
                     "AND r.keep <> s.source_record)")
    if existing:
        files = ", ".join(f"'{f}'" for f in existing)
        where.append(f"s.record_id NOT IN (SELECT record_id FROM read_parquet([{files}]))")
    fresh = f"(SELECT s.* FROM {source} s WHERE {' AND '.join(where)})" if where else source
    stored = total if not where else con.execute(f"SELECT count(*) FROM {fresh}").fetchall()[0][0]
    staging.mkdir(parents=True, exist_ok=True)
    got = con.execute(f"""SELECT list(DISTINCT strftime(occurred_at, '%Y-%m') ORDER BY strftime(occurred_at, '%Y-%m')),
                                 min(occurred_at), max(occurred_at),
                                 count(*) FILTER (WHERE record_kind = 'error' OR (record_kind = 'consume'
                                                  AND status_class IN ('4xx', '5xx')))
                          FROM {fresh}""").fetchall()[0]
    periods, bounds, failed = list(got[0] or []), (got[1], got[2]), got[3]
    # Retries without a request id: a failed attempt followed within the window by a row of the
    # same key, model and is_stream is the same request; attempts are numbered along the chain.
    # Every consume/error row is numbered; only attempts after the first are kept (few rows).
    # A chain needs a failed attempt; with none among the fresh rows, nothing is numbered (the usual case).
    part = "k1, k2, is_stream"
    empty = "SELECT CAST(NULL AS VARCHAR) AS record_id, CAST(NULL AS BIGINT) AS n WHERE false"
    numbering = empty if not failed else f"""
        WITH ordered AS (
            SELECT record_id, coalesce(api_key_name, '') AS k1, coalesce(model_reported, '') AS k2, is_stream,
                   occurred_at, source_record,
                   lag(status_class IN ('4xx', '5xx') OR record_kind = 'error') OVER w AS prev_failed,
                   lag(occurred_at) OVER w AS prev_at
            FROM {fresh}
            WHERE record_kind IN ('consume', 'error')
            WINDOW w AS (PARTITION BY coalesce(api_key_name, ''), coalesce(model_reported, ''), is_stream
                         ORDER BY occurred_at, source_record)
        ), linked AS (
            SELECT *, coalesce(prev_failed, false) AND epoch(occurred_at) - epoch(prev_at) <= {window} AS link
            FROM ordered
        ), chained AS (
            SELECT *, sum(CASE WHEN link THEN 0 ELSE 1 END)
                      OVER (PARTITION BY {part} ORDER BY occurred_at, source_record ROWS UNBOUNDED PRECEDING) AS chain
            FROM linked
        ), chains AS (
            SELECT {part}, chain FROM chained WHERE link GROUP BY ALL
        )
        SELECT c.record_id,
               row_number() OVER (PARTITION BY {part}, chain ORDER BY occurred_at, source_record) AS n
        FROM chained c SEMI JOIN chains h USING (k1, k2, is_stream, chain)
        QUALIFY n > 1
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE numbered AS {numbering}")
    numbered = "record_kind IN ('consume', 'error')"
    cols = ", ".join(
        f"CASE WHEN {numbered} THEN coalesce(n.n, 1) ELSE f.attempt END AS attempt" if c == "attempt"
        else f"CASE WHEN {numbered} THEN coalesce(n.n, 1) > 1 ELSE f.is_retry END AS is_retry" if c == "is_retry"
        else f"f.{c}"
        for c in USAGE_SCHEMA.names
    )
    if stored:
        query = con.sql(f"""
            SELECT {cols}, strftime(f.occurred_at, '%Y-%m') AS period
            FROM {fresh} f LEFT JOIN numbered n USING (record_id)
            ORDER BY f.occurred_at, f.record_id
        """)
        with contextlib.closing(_fetch_ahead(query.to_arrow_reader(WRITE_BATCH))) as batches:
            _write_periods(batches, staging, import_id)
    con.execute("DROP TABLE IF EXISTS repeats; DROP TABLE IF EXISTS numbered")
    return stored, total - stored, periods, bounds


def _fetch_ahead(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The reader's batches, the next one fetched on a worker thread while the caller writes this one."""
    with ThreadPoolExecutor(1) as pool:
        batches = iter(reader)
        coming = pool.submit(next, batches, None)
        while (batch := coming.result()) is not None:
            coming = pool.submit(next, batches, None)
            yield batch


def _write_periods(reader: Iterable[pa.RecordBatch], staging: Path, import_id: str) -> None:
    """Stream rows sorted by time into one Parquet file per period (`period=YYYY-MM/<import>_0.parquet`).

    Sorted by time, a period's rows are contiguous, so one writer is open at a time.
    """
    writer: pq.ParquetWriter | None = None
    current = None
    try:
        for batch in reader:
            periods = batch.column(batch.num_columns - 1)
            rows = pa.Table.from_batches([batch]).drop_columns(["period"]).cast(USAGE_SCHEMA)
            bounds = _runs(periods)
            for period, lo, hi in bounds:
                if period != current:
                    if writer is not None:
                        writer.close()
                    folder = staging / f"period={period}"
                    folder.mkdir(parents=True, exist_ok=True)
                    writer = pq.ParquetWriter(folder / f"{import_id}_0.parquet", USAGE_SCHEMA, compression="zstd")
                    current = period
                writer.write_table(rows.slice(lo, hi - lo), row_group_size=ROW_GROUP)  # type: ignore[union-attr]
    finally:
        if writer is not None:
            writer.close()


def _runs(values: pa.Array) -> list[tuple[str, int, int]]:
    """(value, start, end) of each run of equal values in a sorted column."""
    first, last = values[0].as_py(), values[len(values) - 1].as_py()
    if first == last:
        return [(first, 0, len(values))]
    out, start = [], 0
    for value in pc.unique(values).to_pylist():
        end = start + pc.sum(pc.equal(values, value)).as_py()
        out.append((value, start, end))
        start = end
    return out


def _existing_files(ws: Workspace) -> list[str]:
    committed = {r["import_id"] for r in ws.rows("SELECT import_id FROM imports WHERE kind = 'usage'")}
    out = []
    for f in sorted((ws.root / "usage").glob("period=*/*.parquet")):
        if f.name.rsplit("_", 1)[0] in committed:
            out.append(str(f))
    return out


def usage_files(ws: Workspace, import_ids: list[str]) -> list[str]:
    wanted = set(import_ids)
    return [str(f) for f in sorted((ws.root / "usage").glob("period=*/*.parquet"))
            if f.name.rsplit("_", 1)[0] in wanted]


def _publish(ws: Workspace, staging: Path) -> None:
    for part in sorted(staging.glob("period=*")):
        target = ws.root / "usage" / part.name
        target.mkdir(exist_ok=True)
        for f in sorted(part.glob("*.parquet")):
            os.replace(f, target / f.name)


def summary(ws: Workspace, import_id: str) -> dict[str, Any]:
    row = ws.one("SELECT * FROM imports WHERE import_id = ?", [import_id])
    assert row is not None
    return {
        "import_id": row["import_id"], "format": row["format"], "file": row["file_name"],
        "sha256": row["sha256"], "records": row["records"], "rows_stored": row["rows_stored"],
        "duplicates": row["duplicates"], "quarantined": row["quarantined"],
        "first_at": iso(row["min_at"]), "last_at": iso(row["max_at"]),
        "periods": json.loads(row["periods"] or "[]"), "imported_at": iso(row["imported_at"]),
    }


def quarantine(ws: Workspace, import_id: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE import_id = ?", [import_id]) if import_id else ("", [])
    return ws.rows(f"SELECT import_id, file_name AS file, record, field, reason FROM quarantine {where} "
                   "ORDER BY import_id, record, field", params)


def list_imports(ws: Workspace) -> list[dict[str, Any]]:
    ids = ws.rows("SELECT import_id FROM imports WHERE kind='usage' ORDER BY seq")
    return [summary(ws, r["import_id"]) for r in ids]
