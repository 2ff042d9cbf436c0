"""Read variances of a period's latest run, with their status."""

from __future__ import annotations

import json
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import to_str
from costproof.service.run import latest_run
from costproof.workspace import Workspace


def status_of(v: dict[str, Any], disposition: dict[str, Any] | None = None) -> str:
    """matched; else the latest disposition that still fits the figures (accepted/corrected/escalated); else open."""
    if v["matched"]:
        return "matched"
    return disposition["disposition"] if disposition else "open"


def closing_dispositions(ws: Workspace, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Review workflow (issue 7): per variance, the latest disposition if the difference has not moved since."""
    from costproof.review import dispositions

    latest = dispositions.latest(ws)
    return {v["variance_id"]: latest[v["variance_id"]] for v in rows
            if dispositions.applies(latest.get(v["variance_id"]), v["difference"], ws.settings.tolerance)}


def as_dict(v: dict[str, Any], disposition: dict[str, Any] | None = None) -> dict[str, Any]:
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
        "status": status_of(v, disposition),
    }
    if disposition and not v["matched"]:
        from costproof.review import dispositions

        out["disposition"] = dispositions.as_dict(disposition)
        adjusted = dispositions.adjusted_difference(v["difference"], disposition)
        if adjusted is not None:
            out["adjusted_difference"] = to_str(adjusted)  # raw figures above stay as computed
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
    closed = closing_dispositions(ws, rows)
    items = [as_dict(v, closed.get(v["variance_id"])) for v in rows if include_matched or not v["matched"]]
    items.sort(key=lambda v: (v["statement"], v["line_id"]))
    manifest = json.loads(run["manifest"])
    return {"period": period, "run_id": run["run_id"], "variances": items,
            "unledgered": manifest.get("unledgered", []),
            "provider_findings": manifest.get("provider_findings", [])}


def explain(ws: Workspace, variance_id: str) -> dict[str, Any]:
    """A variance with the work behind its bucket: every hypothesis re-run with its figures."""
    v = _latest(ws, variance_id)
    details = json.loads(v["details"] or "{}")
    closed = closing_dispositions(ws, [v]).get(variance_id)
    return {"period": v["period"], "run_id": v["run_id"], **as_dict(v, closed), "gap": details.get("gap"),
            "reruns": details.get("reruns", [])}


def _latest(ws: Workspace, variance_id: str) -> dict[str, Any]:
    v = ws.one("""SELECT v.* FROM variances v JOIN runs r USING (run_id)
                  WHERE v.variance_id = ? ORDER BY r.created_at DESC, r.seq DESC LIMIT 1""", [variance_id])
    if v is None:
        raise InputError(f"no variance {variance_id!r} (see `costproof variances --period P`)")
    return v


def get(ws: Workspace, variance_id: str) -> dict[str, Any]:
    v = _latest(ws, variance_id)
    return {"period": v["period"], "run_id": v["run_id"], **as_dict(v, closing_dispositions(ws, [v]).get(variance_id))}
