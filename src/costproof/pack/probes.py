"""Keep probe reports in the workspace (probes/<period>/) and their review-log records in the review log."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime
from typing import Any

from costproof.pack.collect import PROBES_DIR, existing_tables
from costproof.probe import REVIEW_LOG_FIELDS, ProbeReport
from costproof.workspace import Workspace, dumps

RECORD_SCHEMA = "costproof.probe-record/1"
_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def store(ws: Workspace, report: ProbeReport, *, operator: str | None, period: str | None,
          follow_up_owner: str | None, now: datetime) -> dict[str, Any]:
    """Write the report (classes and hashes only) for packs, and one review-log entry per probe if the log exists."""
    rows = report.review_log(operator=operator, ledger_period=period, follow_up_owner=follow_up_owner)
    when = report.probes[0].timestamp if report.probes else ""
    ledger_period = period or (rows[0]["ledger_period"] if rows else when[:7])
    if not _PERIOD.fullmatch(ledger_period or ""):
        ledger_period = "unknown"
    doc = {"schema": RECORD_SCHEMA, "period": ledger_period, "report": report.as_dict(), "review_log": rows}
    body = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    record_id = "probes-" + hashlib.sha256(body.encode()).hexdigest()[:16]
    folder = ws.root / PROBES_DIR / ledger_period
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{record_id}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(body, "utf-8")
    os.replace(tmp, target)
    entries = _review_log(ws, rows, now=now) if "review_log" in existing_tables(ws) else []
    return {"record": target.relative_to(ws.root).as_posix(), "period": ledger_period,
            "review_log_entries": entries, "review_log": "review_log" in existing_tables(ws)}


def _review_log(ws: Workspace, rows: list[dict[str, str]], *, now: datetime) -> list[str]:
    """Append through the review workflow's validated writer (issue 7), else straight into its table."""
    try:
        from costproof.review import reviewlog
    except ImportError:
        reviewlog = None  # type: ignore[assignment]
    ids = []
    for r in rows:
        values: dict[str, str | None] = {f: r[f] for f in REVIEW_LOG_FIELDS}
        # The review log takes n/a for "no response"; the probe says none.
        if values["status_class"] in ("none", ""):
            values["status_class"] = "n/a"
        if reviewlog is not None:
            ids.append(reviewlog.add(ws, values, now=now)["id"])
            continue
        seq = ws.next_seq("review_log")
        entry_id = "rl-" + hashlib.sha256(dumps([seq, values]).encode()).hexdigest()[:12]
        with ws.transaction() as con:
            con.execute("INSERT INTO review_log VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [seq, entry_id, *(values[f] for f in REVIEW_LOG_FIELDS), now])
        ids.append(entry_id)
    return ids
