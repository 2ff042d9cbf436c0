"""The sanitized review log: exactly the seed's ten fields, append-only, secrets and prompts refused."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from typing import Any

from costproof.model.errors import InputError
from costproof.model.review import REVIEW_LOG_FIELDS
from costproof.model.sanitize import compile_patterns
from costproof.review.fields import MAX_SHORT, MAX_TEXT, check_text, check_url
from costproof.workspace import Workspace, dumps

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_STATUS = re.compile(r"^([1-5]xx|[1-5]\d\d|n/a|mixed)(\s*[,/;]\s*([1-5]xx|[1-5]\d\d))*$")
URL_SPLIT = re.compile(r"[\s,;]+")


def validate(values: dict[str, str | None], *, pattern: re.Pattern[str] | None = None) -> dict[str, str]:
    """Check every field (pure). InputError names the first bad field and never echoes its value."""
    unknown = sorted(set(values) - set(REVIEW_LOG_FIELDS))
    if unknown:
        raise InputError(f"unknown review-log field(s): {', '.join(unknown)}", field=unknown[0])
    pat = pattern or compile_patterns()
    out: dict[str, str] = {}
    for name in REVIEW_LOG_FIELDS:
        raw = values.get(name)
        if name == "source_urls_checked":
            urls = [u for u in URL_SPLIT.split((raw or "").strip()) if u]
            out[name] = " ".join(check_url(name, u, pattern=pat) for u in urls)
            continue
        limit = MAX_TEXT if name in ("notes", "evidence_attached", "result") else MAX_SHORT
        out[name] = check_text(name, raw, pattern=pat, max_len=limit, required=name in ("review_date", "operator"))
    try:
        date.fromisoformat(out["review_date"])
    except ValueError:
        raise InputError("must be a date, YYYY-MM-DD", field="review_date") from None
    if out["ledger_period"] and not _PERIOD.match(out["ledger_period"]):
        raise InputError("must be a period, YYYY-MM", field="ledger_period")
    if out["status_class"] and not _STATUS.match(out["status_class"]):
        raise InputError("must be a status class such as 2xx, 4xx, 429, n/a (comma-separated for several)",
                         field="status_class")
    return out


def add(ws: Workspace, values: dict[str, str | None], *, now: datetime) -> dict[str, Any]:
    record = validate(values, pattern=compile_patterns(ws.settings.secret_patterns))
    seq = ws.next_seq("review_log")
    entry_id = "rl-" + hashlib.sha256(dumps([seq, record]).encode()).hexdigest()[:12]
    with ws.transaction() as con:
        con.execute("INSERT INTO review_log VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [seq, entry_id, *(record[f] for f in REVIEW_LOG_FIELDS), now])
    return entries(ws, entry_id=entry_id)[0]


def entries(ws: Workspace, *, period: str | None = None, entry_id: str | None = None) -> list[dict[str, Any]]:
    clauses, params = [], []
    if period:
        clauses.append("ledger_period = ?")
        params.append(period)
    if entry_id:
        clauses.append("entry_id = ?")
        params.append(entry_id)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = ws.rows(f"SELECT * FROM review_log {where} ORDER BY seq", params)
    return [{"id": r["entry_id"], **{f: r[f] for f in REVIEW_LOG_FIELDS},
             "recorded_at": r["recorded_at"].astimezone(UTC).isoformat().replace("+00:00", "Z")} for r in rows]
