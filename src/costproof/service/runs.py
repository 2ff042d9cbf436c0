"""Run history: every run of a period is kept; list them and explain what changed between two."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import to_str
from costproof.review import lock
from costproof.service.common import iso
from costproof.workspace import Workspace


def list_runs(ws: Workspace, period: str | None = None) -> dict[str, Any]:
    where, params = ("WHERE period = ?", [period]) if period else ("", [])
    rows = ws.rows(f"SELECT * FROM runs {where} ORDER BY period, seq", params)
    approved = {(e["period"], e["run_id"]) for e in lock.events(ws) if e["event"] == "approved"}
    latest = {}
    for r in rows:
        latest[r["period"]] = r["run_id"]
    out = []
    for r in rows:
        counts = ws.one("""SELECT count(*) FILTER (WHERE matched) AS matched, count(*) FILTER (WHERE NOT matched)
                           AS beyond FROM variances WHERE run_id = ?""", [r["run_id"]]) or {}
        m = json.loads(r["manifest"])
        out.append({
            "run_id": r["run_id"], "period": r["period"], "seq": r["seq"], "engine": r["engine"],
            "created_at": iso(r["created_at"]), "snapshot_ids": json.loads(r["snapshot_ids"]),
            "rounding": r["rounding"], "rows_in": r["rows_in"], "expected": json.loads(r["expected"]),
            "costproof_version": m.get("costproof_version"), "manifest_sha256": r["manifest_sha256"],
            "lines_matched": counts.get("matched", 0), "variances": counts.get("beyond", 0),
            "latest": latest[r["period"]] == r["run_id"], "approved": (r["period"], r["run_id"]) in approved,
        })
    return {"period": period, "runs": out, "locked": lock.locked_periods(ws)}


def _run(ws: Workspace, run_id: str) -> dict[str, Any]:
    r = ws.one("SELECT * FROM runs WHERE run_id = ?", [run_id])
    if r is None:
        raise InputError(f"no run {run_id!r} (see `costproof runs`)")
    return {**r, "manifest": json.loads(r["manifest"])}


def _change(what: str, a: Any, b: Any, why: str) -> dict[str, Any]:
    return {"what": what, "a": a, "b": b, "why": why}


def diff(ws: Workspace, run_a: str, run_b: str) -> dict[str, Any]:
    """What changed from run A to run B and why: snapshots, mapping and label versions, code version, input
    hashes, settings; then the figures that moved (totals, exclusions, each variance)."""
    a, b = _run(ws, run_a), _run(ws, run_b)
    ma, mb = a["manifest"], b["manifest"]
    changes: list[dict[str, Any]] = []
    if a["period"] != b["period"]:
        changes.append(_change("period", a["period"], b["period"], "the runs are of different periods"))
    sa = {s["snapshot_id"]: s for s in ma["inputs"]["snapshots"]}
    sb = {s["snapshot_id"]: s for s in mb["inputs"]["snapshots"]}
    for sid in sorted(set(sb) - set(sa)):
        changes.append(_change("snapshot", None, sid, f"snapshot {sid} ({sb[sid]['format']}, effective "
                               f"{sb[sid]['effective_from']}) prices rows in B"))
    for sid in sorted(set(sa) - set(sb)):
        changes.append(_change("snapshot", sid, None, f"snapshot {sid} no longer prices any row"))
    if ma.get("forced_snapshot") != mb.get("forced_snapshot"):
        changes.append(_change("forced_snapshot", ma.get("forced_snapshot"), mb.get("forced_snapshot"),
                               "run --snapshot differs"))
    for key in ("mapping", "labels"):
        ia, ib = ma["inputs"][key], mb["inputs"][key]
        if ia != ib:
            content = "content changed" if ia.get("sha256") != ib.get("sha256") else "same content"
            changes.append(_change(f"{key}_version", ia, ib,
                                   f"{key} version {ia.get('version')} -> {ib.get('version')} ({content})"))
    if ma.get("costproof_version") != mb.get("costproof_version"):
        changes.append(_change("code_version", ma.get("costproof_version"), mb.get("costproof_version"),
                               "a different costproof computed the figures"))
    ua = {u["import_id"]: u for u in ma["inputs"]["usage"]}
    ub = {u["import_id"]: u for u in mb["inputs"]["usage"]}
    for iid in sorted(set(ub) - set(ua)):
        changes.append(_change("usage_input", None, iid, f"usage import {ub[iid]['file']} (sha256 "
                               f"{ub[iid]['sha256'][:12]}…, {ub[iid]['records']} records) added"))
    for iid in sorted(set(ua) - set(ub)):
        changes.append(_change("usage_input", iid, None, f"usage import {ua[iid]['file']} no longer in the run"))
    st_a, st_b = set(ma.get("statements", [])), set(mb.get("statements", []))
    for s in sorted(st_b - st_a):
        changes.append(_change("statement_input", None, s, "statement added"))
    for s in sorted(st_a - st_b):
        changes.append(_change("statement_input", s, None, "statement no longer in the run"))
    set_a, set_b = ma.get("settings", {}), mb.get("settings", {})
    for k in sorted(set(set_a) | set(set_b)):
        if set_a.get(k) != set_b.get(k):
            changes.append(_change(f"setting:{k}", set_a.get(k), set_b.get(k), "costproof.toml or run option"))
    if a["engine"] != b["engine"]:
        changes.append(_change("engine", a["engine"], b["engine"], "another engine (results must be identical)"))
    figures = _figures(ma, mb)
    variances = _variances(ws, run_a, run_b)
    if not changes and (figures or variances):
        changes.append(_change("unexplained", None, None, "figures moved but no recorded input changed"))
    return {"a": run_a, "b": run_b, "period": b["period"], "changes": changes, "figures": figures,
            "variances": variances, "same_inputs": not changes}


def _figures(ma: dict[str, Any], mb: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key in ("expected", "provider_reported"):
        for cur in sorted(set(ma.get(key, {})) | set(mb.get(key, {}))):
            va, vb = Decimal(ma.get(key, {}).get(cur, "0")), Decimal(mb.get(key, {}).get(cur, "0"))
            if va != vb:
                out.append({"figure": f"{key} {cur}", "a": to_str(va), "b": to_str(vb), "change": to_str(vb - va)})
    for key in ("rows_in", "rows_priced", "rows_excluded", "rows_quarantined"):
        va, vb = ma["conservation"][key], mb["conservation"][key]
        if va != vb:
            out.append({"figure": key, "a": va, "b": vb, "change": vb - va})
    ea, eb = ma.get("exclusions", {}), mb.get("exclusions", {})
    for reason in sorted(set(ea) | set(eb)):
        if ea.get(reason, 0) != eb.get(reason, 0):
            out.append({"figure": f"excluded:{reason}", "a": ea.get(reason, 0), "b": eb.get(reason, 0),
                        "change": eb.get(reason, 0) - ea.get(reason, 0)})
    return out


def _variances(ws: Workspace, run_a: str, run_b: str) -> list[dict[str, Any]]:
    va = {r["variance_id"]: r for r in ws.rows("SELECT * FROM variances WHERE run_id = ?", [run_a])}
    vb = {r["variance_id"]: r for r in ws.rows("SELECT * FROM variances WHERE run_id = ?", [run_b])}
    out = []
    for vid in sorted(set(va) | set(vb)):
        ra, rb = va.get(vid), vb.get(vid)
        da = ra["difference"] if ra else None
        db = rb["difference"] if rb else None
        if ra and rb and da == db and ra["matched"] == rb["matched"]:
            continue
        line = (rb or ra)["line_id"]
        if da is not None and db is not None:
            note = "grew" if abs(db) > abs(da) else "shrank" if abs(db) < abs(da) else "changed sign"
        else:
            note = "new line" if ra is None else "line gone"
        out.append({"id": vid, "line_id": line, "a": to_str(da), "b": to_str(db),
                    "matched_a": ra["matched"] if ra else None, "matched_b": rb["matched"] if rb else None,
                    "note": note})
    return out
