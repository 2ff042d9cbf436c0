"""Import a usage file: parse, quarantine, dedupe, number retries, write period Parquet atomically."""

from __future__ import annotations

import glob as globmod
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from costproof.model.errors import InputError
from costproof.model.sanitize import compile_patterns, redact
from costproof.review import lock as review_lock
from costproof.service.common import iso
from costproof.sources import usage as adapters
from costproof.sources.usage.base import USAGE_SCHEMA, ParseContext
from costproof.workspace import Workspace, dumps

Progress = Callable[[int], None]


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
    shutil.rmtree(staging, ignore_errors=True)
    con = ws.con
    errors: list[Any] = []
    records = 0
    con.register("empty_stage", USAGE_SCHEMA.empty_table())
    con.execute("CREATE OR REPLACE TEMP TABLE stage AS SELECT * FROM empty_stage")
    con.unregister("empty_stage")
    try:
        for chunk in adapter.parse(path, ctx):
            records += chunk.records
            errors.extend(chunk.errors)
            if chunk.table.num_rows:
                table = chunk.table.set_column(
                    chunk.table.schema.get_field_index("import_id"), "import_id",
                    pa.array([import_id] * chunk.table.num_rows, pa.string()))
                con.register("stage_chunk", table)
                con.execute("INSERT INTO stage SELECT * FROM stage_chunk")
                con.unregister("stage_chunk")
            if progress:
                progress(chunk.records)
        stored, duplicates, periods, bounds = _write(ws, import_id, staging)
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
        con.execute("DROP TABLE IF EXISTS stage")
    if records != stored + duplicates + len(errors):
        raise AssertionError(f"import {import_id}: {records} records != {stored} + {duplicates} + {len(errors)}")
    return summary(ws, import_id)


def _write(ws: Workspace, import_id: str, staging: Path) -> tuple[int, int, list[str], tuple[Any, Any]]:
    """Dedupe against the file and the workspace, number retries, write Parquet by period."""
    con = ws.con
    window = int(ws.settings.retry_window_s)
    existing = _existing_files(ws)
    anti = ""
    if existing:
        files = ", ".join(f"'{f}'" for f in existing)
        anti = f"AND record_id NOT IN (SELECT record_id FROM read_parquet([{files}]))"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fresh AS
        SELECT * FROM stage
        WHERE true {anti}
        QUALIFY row_number() OVER (PARTITION BY record_id ORDER BY source_record) = 1
    """)
    total = con.execute("SELECT count(*) FROM stage").fetchone()[0]
    stored = con.execute("SELECT count(*) FROM fresh").fetchone()[0]
    # Retries without a request id: a failed attempt followed within the window by a row of the
    # same key, model and is_stream is the same request; attempts are numbered along the chain.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE numbered AS
        WITH ordered AS (
            SELECT *,
                   (status_class IN ('4xx', '5xx') OR record_kind = 'error') AS failed,
                   lag(status_class IN ('4xx', '5xx') OR record_kind = 'error')
                       OVER w AS prev_failed,
                   lag(occurred_at) OVER w AS prev_at
            FROM fresh
            WHERE record_kind IN ('consume', 'error')
            WINDOW w AS (PARTITION BY coalesce(api_key_name, ''), coalesce(model_reported, ''), is_stream
                         ORDER BY occurred_at, source_record)
        ), chained AS (
            SELECT *, sum(CASE WHEN coalesce(prev_failed, false)
                               AND epoch(occurred_at) - epoch(prev_at) <= {window} THEN 0 ELSE 1 END)
                      OVER (PARTITION BY coalesce(api_key_name, ''), coalesce(model_reported, ''), is_stream
                            ORDER BY occurred_at, source_record ROWS UNBOUNDED PRECEDING) AS chain
            FROM ordered
        )
        SELECT record_id,
               row_number() OVER (PARTITION BY coalesce(api_key_name, ''), coalesce(model_reported, ''),
                                  is_stream, chain ORDER BY occurred_at, source_record) AS n
        FROM chained
    """)
    cols = ", ".join(
        "CASE WHEN n.n IS NULL THEN f.attempt ELSE n.n END AS attempt" if c == "attempt"
        else "CASE WHEN n.n IS NULL THEN f.is_retry ELSE n.n > 1 END AS is_retry" if c == "is_retry"
        else f"f.{c}"
        for c in USAGE_SCHEMA.names
    )
    staging.mkdir(parents=True, exist_ok=True)
    periods = [r[0] for r in con.execute(
        "SELECT DISTINCT strftime(occurred_at, '%Y-%m') FROM fresh ORDER BY 1").fetchall()]
    bounds = con.execute("SELECT min(occurred_at), max(occurred_at) FROM fresh").fetchone()
    if stored:
        con.execute(f"""
            COPY (SELECT {cols}, strftime(f.occurred_at, '%Y-%m') AS period
                  FROM fresh f LEFT JOIN numbered n USING (record_id)
                  ORDER BY f.occurred_at, f.record_id)
            TO '{staging}' (FORMAT PARQUET, PARTITION_BY (period), FILENAME_PATTERN '{import_id}_{{i}}',
                            COMPRESSION ZSTD, ROW_GROUP_SIZE 500000)
        """)
    con.execute("DROP TABLE IF EXISTS fresh; DROP TABLE IF EXISTS numbered")
    return stored, total - stored, periods, (bounds[0], bounds[1])


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
    return [summary(ws, r["import_id"]) for r in ws.rows("SELECT import_id FROM imports WHERE kind='usage' ORDER BY seq")]
