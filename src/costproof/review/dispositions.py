"""Dispositions: append-only records that close a variance or an escalation; the latest one counts."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import to_str
from costproof.model.review import DISPOSITIONS, LEGS, disposition_applies
from costproof.model.sanitize import compile_patterns, redact
from costproof.review.fields import MAX_SHORT, check_text, check_url
from costproof.workspace import Workspace, dumps


def evidence_ref(ws: Workspace, value: str, *, now: datetime) -> str:
    """A URL kept as given (no credentials), or a local file copied into the evidence store by sha256."""
    pattern = compile_patterns(ws.settings.secret_patterns)
    text = (value or "").strip()
    if text.startswith(("http://", "https://")):
        return check_url("--evidence", text, pattern=pattern)
    if text.startswith("evidence:sha256:"):
        sha = text.split(":", 2)[2].split()[0]
        try:
            ws.evidence.path(sha)
        except ValueError:
            raise InputError("not a sha256 reference", field="--evidence") from None
        if not ws.evidence.path(sha).exists():
            raise InputError(f"no evidence {sha} in this workspace", field="--evidence")
        return f"evidence:sha256:{sha}"
    path = Path(text)
    if not path.is_file():
        raise InputError("evidence must be an http(s) URL, an evidence:sha256:… reference or an existing file",
                         field="--evidence")
    data = path.read_bytes()
    sha = ws.evidence.put(data)
    ws.con.execute("INSERT OR IGNORE INTO evidence VALUES (?, ?, ?, ?)", [sha, len(data), None, now])
    return f"evidence:sha256:{sha} ({redact(path.name)})"


def record(ws: Workspace, *, target: str, target_kind: str, period: str, run_id: str | None, disposition: str,
           owner: str, reason: str, evidence: list[str], amount: Decimal | None, leg: str | None,
           currency: str | None, difference_at: Decimal | None, now: datetime) -> dict[str, Any]:
    """Append one disposition (validated); earlier ones stay as history."""
    pattern = compile_patterns(ws.settings.secret_patterns)
    if disposition not in DISPOSITIONS:
        raise InputError(f"must be one of {', '.join(DISPOSITIONS)}", field="--disposition")
    owner = check_text("--owner", owner, pattern=pattern, max_len=MAX_SHORT, required=True)
    reason = check_text("--reason", reason, pattern=pattern, required=True)
    if disposition == "corrected" and target_kind == "variance":
        if amount is None or leg is None:
            raise InputError("a correction records an adjustment: pass --amount and --leg "
                             f"({'|'.join(LEGS)})", field="--amount")
    if leg is not None and leg not in LEGS:
        raise InputError(f"must be one of {', '.join(LEGS)}", field="--leg")
    if disposition != "corrected" and (amount is not None or leg is not None):
        raise InputError("--amount and --leg go with --disposition corrected", field="--amount")
    refs = [evidence_ref(ws, e, now=now) for e in evidence]
    seq = ws.next_seq("dispositions")
    disposition_id = "disp-" + hashlib.sha256(dumps([target, seq, disposition, owner, reason, refs,
                                                     str(amount) if amount is not None else None,
                                                     leg]).encode()).hexdigest()[:12]
    with ws.transaction() as con:
        con.execute("INSERT INTO dispositions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [seq, disposition_id, target, target_kind, period, run_id, disposition, owner, reason,
                     dumps(refs), amount, leg, currency, difference_at, now])
    row = ws.one("SELECT * FROM dispositions WHERE disposition_id = ?", [disposition_id])
    assert row is not None
    return as_dict(row)


def latest(ws: Workspace, period: str | None = None) -> dict[str, dict[str, Any]]:
    """The latest disposition per target (optionally of one period)."""
    where, params = ("WHERE period = ?", [period]) if period else ("", [])
    rows = ws.rows(f"""SELECT * FROM dispositions {where}
                       QUALIFY row_number() OVER (PARTITION BY target ORDER BY seq DESC) = 1""", params)
    return {r["target"]: r for r in rows}


def history(ws: Workspace, target: str | None = None, period: str | None = None) -> list[dict[str, Any]]:
    clauses, params = [], []
    if target:
        clauses.append("target = ?")
        params.append(target)
    if period:
        clauses.append("period = ?")
        params.append(period)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    return [as_dict(r) for r in ws.rows(f"SELECT * FROM dispositions {where} ORDER BY seq", params)]


def applies(row: dict[str, Any] | None, difference: Decimal | None, tolerance: Decimal) -> bool:
    return disposition_applies(row, difference, tolerance)


def as_dict(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["disposition_id"],
        "seq": row["seq"],
        "target": row["target"],
        "target_kind": row["target_kind"],
        "period": row["period"],
        "run_id": row["run_id"],
        "disposition": row["disposition"],
        "owner": row["owner"],
        "reason": row["reason"],
        "evidence": json.loads(row["evidence"] or "[]"),
        "recorded_at": row["recorded_at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if row["difference_at"] is not None:
        out["difference_at"] = to_str(row["difference_at"])
    if row["disposition"] == "corrected" and row["amount"] is not None:
        out["adjustment"] = {"leg": row["leg"], "amount": to_str(row["amount"]), "currency": row["currency"]}
    return out


def adjusted_difference(difference: Decimal, row: dict[str, Any] | None) -> Decimal | None:
    """difference = statement − expected, after a correction to one leg (the raw figures are untouched)."""
    if not row or row["disposition"] != "corrected" or row["amount"] is None:
        return None
    amount = Decimal(row["amount"])
    if row["leg"] == "statement":
        return difference + amount
    if row["leg"] == "expected":
        return difference - amount
    return difference  # the provider leg is evidence, not part of statement − expected
