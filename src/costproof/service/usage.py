"""Import a usage file: parse, quarantine, dedupe, number retries, write period Parquet atomically."""

from __future__ import annotations

import contextlib
import glob as globmod
import hashlib
import json
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from costproof.model.errors import InputError
from costproof.model.sanitize import compile_patterns, redact
from costproof.review import lock as review_lock
from costproof.service.common import iso
from costproof.service.usage_parts import SPILL_AHEAD, Direct, Spill, failed_attempts, write_parts
from costproof.sources import usage as adapters
from costproof.sources.usage.base import ParseContext
from costproof.workspace import Workspace, dumps

Progress = Callable[[int], None]
# DuckDB memory for an import's dedupe, retry numbering and sorted write; the rest spills to disk
IMPORT_MEMORY = "768MB"
_MEMORY_SETTINGS = ("memory_limit", "preserve_insertion_order")


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


# files smaller than this are hashed before anything else; bigger ones while they parse
HASH_AHEAD_BYTES = 64 << 20


class _AlreadyImported(Exception):
    def __init__(self, import_id: str) -> None:
        self.import_id = import_id


def import_file(ws: Workspace, path: Path, *, fmt: str | None, now: datetime,
                progress: Progress | None = None) -> dict[str, Any]:
    """Import one usage file in one transaction; a file already imported (same sha256) adds nothing.

    A big file is hashed on a worker thread while it parses (hashlib releases the GIL), and the parse stops as soon
    as the hash names a file the workspace already has.
    """
    with ThreadPoolExecutor(1) as hasher:
        hashing = hasher.submit(file_sha256, path)
        if path.stat().st_size < HASH_AHEAD_BYTES:
            hashing.result()
        try:
            try:
                return _import(ws, path, fmt, now, progress, hashing)
            except InputError:
                _check_prior(ws, hashing.result())  # a file imported before is not an error now
                raise
        except _AlreadyImported as done:
            return {**summary(ws, done.import_id), "already_imported": True}


def _check_prior(ws: Workspace, sha: str) -> None:
    prior = ws.one("SELECT import_id FROM imports WHERE sha256 = ? AND kind = 'usage'", [sha])
    if prior:
        raise _AlreadyImported(prior["import_id"])


def _import(ws: Workspace, path: Path, fmt: str | None, now: datetime, progress: Progress | None,
            hashing: Future[str]) -> dict[str, Any]:
    label = redact(path.name)
    checked = hashing.done()
    if checked:
        _check_prior(ws, hashing.result())
    fmt = fmt or adapters.detect(path, label)
    adapter = adapters.get(fmt)
    ctx = ParseContext(file_label=label, secret_pattern=compile_patterns(ws.settings.secret_patterns))
    (ws.root / "usage").mkdir(parents=True, exist_ok=True)
    spill = Path(tempfile.mkdtemp(prefix=".stage-", dir=ws.root / "usage"))
    staging = spill.with_name(spill.name.replace(".stage-", ".staging-"))
    stage = Spill(spill)
    direct = Direct(staging)
    con = ws.con
    errors: list[Any] = []
    records = 0
    failing = False
    try:
        # Parsed chunks are spilled to one file as they come (memory stays at one chunk); DuckDB then reads it
        # back for the set-based steps under a memory limit that spills to disk.
        # The spill writes on a worker thread (pyarrow releases the GIL) while the next chunk parses; one
        # thread keeps the chunks in order, and at most SPILL_AHEAD chunks wait for it.
        # Once the import id is known (the file's hash), each new part is written to its period files as it
        # parses instead of to the spill (whose facts still note every row): those files are final unless the
        # set-based steps find a duplicate or a retry. Parts that start after a failed attempt are spilled.
        with direct:
            with stage as writer, ThreadPoolExecutor(1) as pool:
                pending: deque[Future[None]] = deque()
                for chunk in adapter.parse(path, ctx):
                    records += chunk.records
                    errors.extend(chunk.errors)
                    if not checked and hashing.done():
                        checked = True
                        _check_prior(ws, hashing.result())
                    if chunk.table.num_rows:
                        # after a failed attempt a retry is likely, and retries mean writing the parts again
                        failed = failed_attempts(chunk.table)
                        failing = failing or failed > 0
                        final = checked and not failing
                        written = direct.add(chunk.table, "imp-" + hashing.result()[:12] if final else None)
                        pending.append(pool.submit(writer.write_table, chunk.table, not written, failed))
                        if len(pending) > SPILL_AHEAD:
                            pending.popleft().result()
                    if progress:
                        progress(chunk.records)
                while pending:
                    pending.popleft().result()
            sha = hashing.result()
            if not checked:
                _check_prior(ws, sha)
            import_id = "imp-" + sha[:12]
            with _bounded(con):
                stored, duplicates, periods, bounds = _write(ws, import_id, stage, staging, direct)
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


def _write(ws: Workspace, import_id: str, stage: Spill, staging: Path, direct: Direct
           ) -> tuple[int, int, list[str], tuple[Any, Any]]:
    """Dedupe against the file and the workspace, number retries, write Parquet by period.

    DuckDB reads the spill's facts file only for the set-based facts (repeats, workspace duplicates, retry chains),
    each answered as positions in the spill file; the rows themselves are copied once, in file order, by
    `write_parts`. No sort: the period files keep the source's record order, which is as deterministic as a
    sort and costs nothing. The parts `direct` wrote while the file parsed (they may still be finishing while
    DuckDB works here) stand when no row is dropped or renumbered (the usual case), else every part is written
    again (those from the files they were written to).
    """
    con = ws.con
    window = int(ws.settings.retry_window_s)
    existing = _existing_files(ws)
    source = f"read_parquet('{stage.facts}', file_row_number = true)"
    total = stage.rows
    # Repeats inside the file: the first record keeps its row (small table; usually empty). Grouping 64-bit hashes
    # first is much lighter than grouping every id string; only ids whose hash repeats are then compared exactly.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE repeats AS
        WITH twice AS (SELECT hash(record_id) AS h FROM {source} GROUP BY h HAVING count(*) > 1)
        SELECT record_id, min(source_record) AS keep FROM {source}
        WHERE hash(record_id) IN (SELECT h FROM twice)
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
    dropped = _positions(con, f"SELECT file_row_number FROM {source} s WHERE NOT ({' AND '.join(where)})"
                         ) if where else _positions(con, None)
    stored = total - len(dropped)
    staging.mkdir(parents=True, exist_ok=True)
    if len(dropped):
        month = "strftime(occurred_at, '%Y-%m')"
        got = con.execute(f"""SELECT list(DISTINCT {month} ORDER BY {month}), min(occurred_at), max(occurred_at),
                                     count(*) FILTER (WHERE record_kind = 'error' OR (record_kind = 'consume'
                                                      AND status_class IN ('4xx', '5xx')))
                              FROM {fresh}""").fetchall()[0]
        periods, bounds, failed = list(got[0] or []), (got[1], got[2]), got[3]
    else:  # every row is fresh: what the spill noted as it wrote them
        periods, bounds, failed = stage.periods(), stage.bounds, stage.failed
    # Retries without a request id: a failed attempt followed within the window by a row of the
    # same key, model and is_stream is the same request; attempts are numbered along the chain.
    # A chain needs a failed attempt; with none among the fresh rows, nothing is numbered (the usual case).
    # Only rows that follow a failed attempt of their key/model/stream within the window can be in a chain, so the
    # chains are found among those (the failed rows and their neighbours, found by an equi-join on time buckets)
    # instead of ordering every row: each such row's predecessor in the full order is either in that set too or
    # neither failed nor within the window, so links and attempt numbers come out the same.
    part = "k1, k2, k3"
    numbering = None if not failed else f"""
        WITH base AS (
            SELECT file_row_number, coalesce(api_key_name, '') AS k1, coalesce(model_reported, '') AS k2,
                   CASE WHEN is_stream IS NULL THEN 2 WHEN is_stream THEN 1 ELSE 0 END AS k3,
                   occurred_at, source_record,
                   status_class IN ('4xx', '5xx') OR record_kind = 'error' AS failed,
                   CAST(floor(epoch(occurred_at) / {max(window, 1)}) AS BIGINT) AS bucket
            FROM {fresh}
            WHERE record_kind IN ('consume', 'error')
        ), fails AS (
            SELECT k1, k2, k3, occurred_at AS failed_at, bucket + d AS bucket
            FROM base, (VALUES (0), (1)) AS v(d) WHERE failed
        ), near AS (
            SELECT DISTINCT b.* FROM base b JOIN fails f USING (k1, k2, k3, bucket)
            WHERE b.occurred_at >= f.failed_at AND epoch(b.occurred_at) - epoch(f.failed_at) <= {window}
        ), ordered AS (
            SELECT *, lag(failed) OVER w AS prev_failed, lag(occurred_at) OVER w AS prev_at
            FROM near
            WINDOW w AS (PARTITION BY {part} ORDER BY occurred_at, source_record)
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
        SELECT c.file_row_number,
               row_number() OVER (PARTITION BY {part}, chain ORDER BY occurred_at, source_record) AS n
        FROM chained c SEMI JOIN chains h USING (k1, k2, k3, chain)
        QUALIFY n > 1
        ORDER BY c.file_row_number
    """
    retries = (np.empty(0, np.int64), np.empty(0, np.int64))
    if numbering:
        got_n = con.sql(numbering).to_arrow_table()
        retries = (got_n.column(0).to_numpy(), got_n.column(1).to_numpy())
    written = direct.finish()
    if len(dropped) or len(retries[0]):  # the parts written while parsing are read back and written again
        again = staging.with_name(staging.name + "-again")
        if staging.exists():
            staging.rename(again)
        staging.mkdir(parents=True)
        try:
            if stored:
                write_parts(stage, staging, import_id, dropped, retries, set(), (again, written))
        finally:
            shutil.rmtree(again, ignore_errors=True)
    elif stored:
        write_parts(stage, staging, import_id, dropped, retries, written)
    con.execute("DROP TABLE IF EXISTS repeats")
    return stored, total - stored, periods, bounds


def _positions(con: Any, query: str | None) -> np.ndarray:
    """Sorted spill-file row positions a query selects (none without a query)."""
    if query is None:
        return np.empty(0, np.int64)
    got = con.sql(f"SELECT * FROM ({query}) ORDER BY 1").to_arrow_table().column(0)
    return got.to_numpy() if len(got) else np.empty(0, np.int64)


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
