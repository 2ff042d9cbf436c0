"""Import statements (ledger, FOCUS billing, CometAPI quota) as lines that keep file, sha and line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from costproof.model.sanitize import redact
from costproof.review import lock as review_lock
from costproof.service.common import iso
from costproof.service.usage import file_sha256
from costproof.sources import ledger as adapters
from costproof.workspace import Workspace, dumps


def import_statement(ws: Workspace, path: Path, *, fmt: str | None, now: datetime) -> dict[str, Any]:
    label = redact(path.name)
    sha = file_sha256(path)
    prior = ws.one("SELECT import_id FROM imports WHERE sha256 = ? AND kind = 'statement'", [sha])
    if prior:
        return {**summary(ws, prior["import_id"]), "already_imported": True}
    fmt = fmt or adapters.detect(path, label)
    lines = adapters.get(fmt).parse(path, label)
    import_id = "stm-" + sha[:12]
    periods = sorted({ln.period for ln in lines})
    review_lock.ensure_unlocked(ws, periods, f"statement import of {label}")
    with ws.transaction() as con:
        con.execute(
            "INSERT INTO imports VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [import_id, ws.next_seq("imports"), "statement", fmt, label, sha, path.stat().st_size, now,
             len(lines), len(lines), 0, 0, None, None, dumps(periods)])
        con.executemany(
            "INSERT INTO statement_lines VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [[import_id, label, label, sha, ln.line_no, ln.line_id, ln.period, dumps(ln.grain), ln.amount,
              ln.currency, ln.quantity, ln.unit] for ln in lines])
        skipped = list(getattr(lines, "not_compared", []))
        if skipped:  # rows the file holds that no line compares (FOCUS Tax, Credit, corrections): never silent
            (ws.root / "statements").mkdir(exist_ok=True)
            (ws.root / "statements" / f"{import_id}.not_compared.json").write_text(
                json.dumps(skipped, sort_keys=True, indent=1, default=str) + "\n", "utf-8")
    return summary(ws, import_id)


def summary(ws: Workspace, import_id: str) -> dict[str, Any]:
    row = ws.one("SELECT * FROM imports WHERE import_id = ?", [import_id])
    assert row is not None
    skipped = ws.root / "statements" / f"{import_id}.not_compared.json"
    return {"import_id": row["import_id"], "format": row["format"], "file": row["file_name"],
            "sha256": row["sha256"], "lines": row["records"], "periods": json.loads(row["periods"]),
            "imported_at": iso(row["imported_at"]),
            "not_compared": json.loads(skipped.read_text("utf-8")) if skipped.exists() else []}


def lines_for(ws: Workspace, period: str) -> list[dict[str, Any]]:
    return ws.rows("""SELECT l.* FROM statement_lines l JOIN imports i USING (import_id)
                      WHERE l.period = ? ORDER BY i.seq, l.line_no""", [period])
