"""Human attestations for the checklist items the workspace cannot show: operator, time, evidence, what is covered."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from costproof.model.errors import InputError
from costproof.model.review import ATTESTABLE
from costproof.model.sanitize import compile_patterns
from costproof.review.fields import MAX_SHORT, check_text, check_url
from costproof.workspace import Workspace, dumps


def add(ws: Workspace, *, period: str, item: str, operator: str, evidence: str, note: str | None,
        covers: list[str], now: datetime) -> dict[str, Any]:
    if item not in ATTESTABLE:
        raise InputError(f"item {item} is computed from the workspace and cannot be attested; attestable: "
                         f"{', '.join(ATTESTABLE)}", field="ITEM")
    pattern = compile_patterns(ws.settings.secret_patterns)
    operator = check_text("--operator", operator, pattern=pattern, max_len=MAX_SHORT, required=True)
    evidence = check_url("--evidence", evidence, pattern=pattern, required=True)
    note = check_text("--note", note, pattern=pattern)
    with ws.transaction() as con:
        seq = ws.next_seq("attestations")
        con.execute("INSERT INTO attestations VALUES (?,?,?,?,?,?,?,?)",
                    [seq, period, item, operator, evidence, note, dumps(sorted(covers)), now])
    return as_dict(ws.one("SELECT * FROM attestations WHERE seq = ?", [seq]) or {})


def for_period(ws: Workspace, period: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in ws.rows("SELECT * FROM attestations WHERE period = ? ORDER BY seq", [period]):
        out.setdefault(r["item"], []).append(as_dict(r))
    return out


def as_dict(r: dict[str, Any]) -> dict[str, Any]:
    return {"period": r["period"], "item": r["item"], "operator": r["operator"], "evidence": r["evidence"],
            "note": r["note"] or None, "covers": json.loads(r["covers"] or "[]"),
            "recorded_at": r["recorded_at"].astimezone(UTC).isoformat().replace("+00:00", "Z")}
