"""Read variances of a period's latest run, with their status."""

from __future__ import annotations

import json
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import to_str
from costproof.service.run import latest_run
from costproof.workspace import Workspace


def status_of(v: dict[str, Any]) -> str:
    return "matched" if v["matched"] else "open"


def as_dict(v: dict[str, Any]) -> dict[str, Any]:
    details = json.loads(v["details"] or "{}")
    out = {
        "id": v["variance_id"],
        "statement": v["statement"],
        "line_id": v["line_id"],
        "grain": json.loads(v["grain"]),
        "expected": to_str(v["expected"]),
        "actual": to_str(v["actual"]),
        "difference": to_str(v["difference"]),
        "provider_reported": to_str(v["provider"]),
        "currency": v["currency"],
        "bucket": v["bucket"],
        "owner": v["owner"],
        "explanation": v["explanation"],
        "evidence": json.loads(v["evidence"] or "[]"),
        "status": status_of(v),
    }
    for key in ("ambiguous", "candidates", "hypothesis", "runner_up"):
        if key in details:
            out[key] = details[key]
    if details.get("quantity"):
        out["quantity"] = details["quantity"]
    return out


def list_variances(ws: Workspace, period: str, *, include_matched: bool = False) -> dict[str, Any]:
    run = latest_run(ws, period)
    if run is None:
        raise InputError(f"no run for {period} yet (run `costproof run --period {period}` first)")
    rows = ws.rows("SELECT * FROM variances WHERE run_id = ? ORDER BY statement, variance_id", [run["run_id"]])
    items = [as_dict(v) for v in rows if include_matched or not v["matched"]]
    items.sort(key=lambda v: (v["statement"], v["line_id"]))
    manifest = json.loads(run["manifest"])
    return {"period": period, "run_id": run["run_id"], "variances": items,
            "unledgered": manifest.get("unledgered", []),
            "provider_findings": manifest.get("provider_findings", [])}


def explain(ws: Workspace, variance_id: str) -> dict[str, Any]:
    """A variance with the work behind its bucket: every hypothesis re-run with its figures."""
    v = _latest(ws, variance_id)
    details = json.loads(v["details"] or "{}")
    return {"period": v["period"], "run_id": v["run_id"], **as_dict(v), "gap": details.get("gap"),
            "reruns": details.get("reruns", [])}


def _latest(ws: Workspace, variance_id: str) -> dict[str, Any]:
    v = ws.one("""SELECT v.* FROM variances v JOIN runs r USING (run_id)
                  WHERE v.variance_id = ? ORDER BY r.created_at DESC, r.seq DESC LIMIT 1""", [variance_id])
    if v is None:
        raise InputError(f"no variance {variance_id!r} (see `costproof variances --period P`)")
    return v


def get(ws: Workspace, variance_id: str) -> dict[str, Any]:
    v = _latest(ws, variance_id)
    return {"period": v["period"], "run_id": v["run_id"], **as_dict(v)}
