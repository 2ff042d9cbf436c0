"""Build the pack's data files (artifacts, evidence tables, public/internal evidence) as bytes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

from costproof import __version__
from costproof.model.money import to_str
from costproof.model.variance import BUCKET_OWNERS
from costproof.pack import schema as S
from costproof.pack.collect import PackData
from costproof.pack.safety import Sanitizer, amount
from costproof.service.common import iso
from costproof.workspace import dumps as catalog_dumps

Files = dict[str, bytes]
CLOSING = ("accepted", "corrected", "escalated")
EXTENSIONS = {"cometapi-models": ".json", "newapi-pricing": ".json", "genai-prices": ".json",
              "html-table": ".html", "price-csv": ".csv"}


def csv_bytes(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else str(r.get(c)) for c in columns])
    return buf.getvalue().encode("utf-8")


def json_bytes(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def build(data: PackData, san: Sanitizer) -> tuple[Files, dict[str, Any]]:
    """Every data file of the pack, and notes for the README (what is missing, what was withheld)."""
    files: Files = {}
    notes: dict[str, Any] = {"withheld": [], "headers_only": [], "tables": sorted(data.tables)}
    evidence_paths = _evidence(data, san, files, notes)
    files[S.ARTIFACTS["pricing_snapshot"][0]] = _pricing(data, san, evidence_paths)
    files[S.ARTIFACTS["usage_export"][0]] = _usage(data, san)
    files[S.ARTIFACTS["model_mapping"][0]] = _mapping(data, san)
    files[S.ARTIFACTS["calculation_manifest"][0]] = _manifest(data, san)
    dispositions = _dispositions(data)
    ledger_rows = _ledger_rows(data, san, dispositions)
    files[S.LEDGER_LINES] = csv_bytes(S.TABLES[S.LEDGER_LINES], ledger_rows)
    files[S.ARTIFACTS["variance_report"][0]] = _variances(data, san, dispositions)
    files[S.ARTIFACTS["approval_record"][0]] = _approval(data, san, notes)
    files[S.USAGE_IMPORTS] = csv_bytes(S.TABLES[S.USAGE_IMPORTS], [
        {"import_id": i["import_id"], "file": san.ident(i["file_name"]), "format": i["format"],
         "sha256": i["sha256"], "records": i["records"], "rows_stored": i["rows_stored"],
         "duplicates": i["duplicates"], "quarantined": i["quarantined"]} for i in data.imports])
    files[S.USAGE_BY_MODEL] = _by_model(data, san)
    files[S.QUARANTINE] = csv_bytes(S.TABLES[S.QUARANTINE], [
        {"import_id": q["import_id"], "field": san.ident(q["field"]), "records": q["records"]}
        for q in data.quarantine])
    files[S.PROBES] = _probes(data, san)
    attachments(data, san, files)
    files[S.REVIEW_LOG] = _review_log(data, san, notes)
    files[S.CONTRACT_DETAILS] = _contract(data, san, notes)
    files[S.SCHEMAS] = json_bytes({
        "schema": S.ARTIFACTS_SCHEMA,
        "artifacts": {name: {"path": path, "schema": sid, "columns": list(cols), "format": path.rsplit(".", 1)[1]}
                      for name, (path, sid, cols) in S.ARTIFACTS.items()},
        "tables": {path: list(cols) for path, cols in S.TABLES.items()},
    })
    return files, notes


# ------------------------------------------------------------------ evidence
def _evidence(data: PackData, san: Sanitizer, files: Files, notes: dict[str, Any]) -> dict[str, list[str]]:
    """Captured pages into public/ (public-doc) or internal/ (internal-evidence); sources.csv for each side."""
    snaps = {s["snapshot_id"]: s for s in data.snapshots}
    rows: dict[str, list[dict[str, Any]]] = {S.SOURCES: [], S.INTERNAL_SOURCES: []}
    paths: dict[str, list[str]] = defaultdict(list)
    for ev in data.evidence:
        snap = snaps[ev.snapshot_id]
        public = snap["classification"] == "public-doc"
        side = "public" if public else "internal"
        path = f"{side}/evidence/{ev.sha256}{EXTENSIONS.get(snap['format'], '.bin')}"
        included = not san.found(ev.data)
        if included:
            files[path] = ev.data
            paths[ev.snapshot_id].append(path)
        else:
            notes["withheld"].append({"sha256": ev.sha256, "snapshot_id": ev.snapshot_id})
        rows[S.SOURCES if public else S.INTERNAL_SOURCES].append({
            "snapshot_id": ev.snapshot_id, "page": ev.page, "url": _source_url(snap, ev.url, san),
            "accessed_at": iso(snap["accessed_at"]), "http_status": ev.status,
            "content_type": san.ident(ev.content_type), "classification": snap["classification"],
            "sha256": ev.sha256, "size": len(ev.data), "path": path if included else "",
            "included": "yes" if included else "no",
            "note": "" if included else "withheld: the captured bytes contain secret-like text; sha256 kept",
        })
    for path, items in rows.items():
        files[path] = csv_bytes(S.TABLES[path], items)
    return paths


def _source_url(snap: dict[str, Any], page_url: str | None, san: Sanitizer) -> str:
    if page_url:
        return san.text(page_url)
    if snap["source_kind"] == "file":
        # Local paths name a person's machine; the file name is what a reviewer needs.
        name = str(snap["source"]).replace("\\", "/").rsplit("/", 1)[-1]
        return "file:" + san.ident(name)
    return san.text(snap["source"])


def _pricing(data: PackData, san: Sanitizer, evidence: dict[str, list[str]]) -> bytes:
    snaps = {s["snapshot_id"]: s for s in data.snapshots}
    out = []
    for r in data.rules:
        s = snaps[r["snapshot_id"]]
        multiplier = r["multiplier"] if r["multiplier"] is not None else Decimal(1)
        pages = json.loads(s["headers"] or "[]")
        out.append({
            "snapshot_id": r["snapshot_id"],
            "source_url": _source_url(s, pages[0].get("url") if pages else None, san),
            "source_kind": s["source_kind"], "classification": s["classification"],
            "accessed_at": iso(s["accessed_at"]), "effective_from": iso(r["effective_from"] or s["effective_from"]),
            "model_id": san.ident(r["model"]), "meter": r["meter"],
            "unit": f"{r['currency']} per {r['per_quantity']} {r['meter']}",
            "unit_price": amount(r["unit_price"]), "per_quantity": r["per_quantity"],
            "multiplier": amount(multiplier), "verified_price": amount(r["unit_price"] * multiplier),
            "currency": r["currency"], "tier_min": r["tier_min"] or 0, "group": san.ident(r["grp"]),
            "reviewer": san.ident(s["reviewer"]), "reviewed_at": iso(s["reviewed_at"]) or "",
            "evidence": " ".join(evidence.get(r["snapshot_id"], [])),
        })
    return csv_bytes(S.ARTIFACTS["pricing_snapshot"][2], out)


def _usage(data: PackData, san: Sanitizer) -> bytes:
    cols = S.ARTIFACTS["usage_export"][2]
    rows = []
    for u in data.usage:
        row = {c: u.get(c) for c in cols}
        for c in ("model", "model_reported", "cost_center", "environment"):
            row[c] = san.ident(u[c])
        row["expected_cost"] = amount(u["expected_cost"]) if u["expected_cost"] is not None else ""
        row["provider_reported_cost"] = (amount(u["provider_reported_cost"])
                                         if u["provider_reported_cost"] is not None else "")
        for c in cols:
            if row[c] is None:
                row[c] = 0 if c not in ("expected_cost", "provider_reported_cost") else ""
        rows.append(row)
    return csv_bytes(cols, rows)


def _by_model(data: PackData, san: Sanitizer) -> bytes:
    acc: dict[tuple[str, ...], dict[str, Any]] = {}
    for u in data.usage:
        key = (san.ident(u["model"]), u["status_class"], u["outcome"], u["currency"])
        a = acc.setdefault(key, {"rows": 0, "requests": 0, "input_tokens": 0, "output_tokens": 0,
                                 "expected_cost": Decimal(0)})
        a["rows"] += int(u["rows"] or 0)
        a["requests"] += int(u["requests"] or 0)
        a["input_tokens"] += int(u["input_tokens"] or 0) + int(u["cached_input_tokens"] or 0)
        a["output_tokens"] += int(u["output_tokens"] or 0) + int(u["reasoning_tokens"] or 0)
        a["expected_cost"] += u["expected_cost"] or 0
    rows = [{"model": k[0], "status_class": k[1], "outcome": k[2], "currency": k[3], **v,
             "expected_cost": amount(v["expected_cost"]) if k[2] == "priced" else ""}
            for k, v in sorted(acc.items())]
    return csv_bytes(S.TABLES[S.USAGE_BY_MODEL], rows)


def _mapping(data: PackData, san: Sanitizer) -> bytes:
    return csv_bytes(S.ARTIFACTS["model_mapping"][2], [
        {"internal_model_alias": san.ident(m["alias"]), "source_model_id": san.ident(m["source_model_id"]),
         "pricing_unit": san.ident(m["pricing_unit"]), "effective_from": m["effective_from"] or "",
         "approved_by": san.ident(m["approved_by"]), "version": m["version"]} for m in data.mapping])


def _manifest(data: PackData, san: Sanitizer) -> bytes:
    m = data.manifest
    clean = _scrub(m, san)
    # Names that came from input files: free text there is replaced by its hash, like everywhere in the pack.
    for u in clean.get("unpriced_models", []):
        u["model"] = san.ident(u.get("model"))
    for u in clean.get("inputs", {}).get("usage", []):
        u["file"] = san.ident(u.get("file"))
    clean["statements"] = [san.ident(s.rsplit("@", 1)[0]) + "@" + s.rsplit("@", 1)[1]
                           for s in clean.get("statements", [])]
    body = {k: v for k, v in m.items() if k != "generated_at"}
    inputs = [{"kind": "pricing_snapshot", "id": s["snapshot_id"], "sha256": s["sha256"],
               "evidence": s["evidence"]} for s in m["inputs"]["snapshots"]]
    inputs += [{"kind": "usage_import", "id": u["import_id"], "sha256": u["sha256"], "evidence": []}
               for u in m["inputs"]["usage"]]
    inputs += [{"kind": "statement", "id": san.ident(s.rsplit("@", 1)[0]), "sha256": s.rsplit("@", 1)[1],
                "evidence": []} for s in m.get("statements", [])]
    inputs.append({"kind": "model_mapping", "id": f"v{m['inputs']['mapping'].get('version')}",
                   "sha256": m["inputs"]["mapping"].get("sha256"), "evidence": []})
    return json_bytes({
        "schema": S.ARTIFACTS["calculation_manifest"][1],
        "run_id": data.run["run_id"],
        "period": data.period,
        "code_version": m.get("costproof_version"),
        "packed_by": __version__,
        "engine": m.get("engine"),
        "rounding": m.get("rounding"),
        "exclusions": m.get("exclusions"),
        "conservation": m.get("conservation"),
        "expected": m.get("expected"),
        "provider_reported": m.get("provider_reported"),
        "inputs": inputs,
        "manifest_sha256": data.run["manifest_sha256"],
        "manifest_sha256_recomputed": hashlib.sha256(catalog_dumps(body).encode()).hexdigest(),
        "redacted": clean != m,
        "manifest": clean,
    })


def _scrub(value: Any, san: Sanitizer) -> Any:
    if isinstance(value, dict):
        return {san.text(k): _scrub(v, san) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, san) for v in value]
    return san.text(value) if isinstance(value, str) else value


# ------------------------------------------------------------------ variances and ledger
def _dispositions(data: PackData) -> dict[str, dict[str, Any]]:
    """The latest disposition per variance (by seq), when the workflow's table exists."""
    out: dict[str, dict[str, Any]] = {}
    for r in data.tables.get("dispositions", []):
        if r.get("target_kind") in (None, "variance"):
            out[str(r.get("target"))] = r
    return out


def _first(row: dict[str, Any], *names: str) -> Any:
    for n in names:
        if row.get(n) not in (None, ""):
            return row[n]
    return None


def _status(v: dict[str, Any], dispositions: dict[str, dict[str, Any]], tolerance: Decimal) -> tuple[str, str]:
    """matched, closed (by a disposition still valid for the figures) or open."""
    if v["matched"]:
        return "matched", ""
    d = dispositions.get(v["variance_id"])
    if not d or d.get("disposition") not in CLOSING:
        return "open", ""
    at = d.get("difference_at")
    if at is not None and v["difference"] is not None and abs(v["difference"] - Decimal(at)) > tolerance:
        return "open", ""  # the difference moved since the disposition: open again (issue 7's rule)
    return "closed", str(d["disposition"])


def _ledger_rows(data: PackData, san: Sanitizer, dispositions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    by_key = {(v["statement"], v["line_id"]): v for v in data.variances}
    rows = []
    for ln in data.ledger:
        key = ln["line_id"] or f"{ln['file_name']}:{ln['line_no']}"
        v = by_key.get((ln["statement"], key))
        status = _status(v, dispositions, data.tolerance)[0] if v else "not compared"
        grain = json.loads(ln["grain"] or "{}")
        rows.append({
            "line_key": san.ident(key), "statement": san.ident(ln["statement"]), "statement_sha256": ln["sha256"],
            "line_no": ln["line_no"], "period": ln["period"],
            "grain": json.dumps({k: san.ident(x) for k, x in sorted(grain.items())}, sort_keys=True,
                                ensure_ascii=False),
            "amount": amount(ln["amount"]), "currency": ln["currency"],
            "quantity": amount(ln["quantity"]) if ln["quantity"] is not None else "", "unit": san.ident(ln["unit"]),
            "variance_id": v["variance_id"] if v else "", "status": status,
        })
    return rows


def _variances(data: PackData, san: Sanitizer, dispositions: dict[str, dict[str, Any]]) -> bytes:
    groups: dict[str, dict[str, Any]] = {}
    matched = []
    for v in data.variances:
        status, disposition = _status(v, dispositions, data.tolerance)
        d = dispositions.get(v["variance_id"], {}) if disposition else {}
        item = {
            "id": v["variance_id"], "statement": san.ident(v["statement"]), "line_id": san.ident(v["line_id"]),
            "grain": {k: san.ident(x) for k, x in sorted(json.loads(v["grain"] or "{}").items())},
            "expected": to_str(v["expected"]), "actual": to_str(v["actual"]), "difference": to_str(v["difference"]),
            "provider_reported": to_str(v["provider"]), "currency": v["currency"],
            "bucket": v["bucket"], "owner": v["owner"], "status": status, "disposition": disposition or None,
            "disposition_owner": san.ident(_first(d, "owner", "operator")) or None,
            "disposition_reason": san.text(_first(d, "reason", "notes")) or None,
            "disposition_evidence": _refs(d.get("evidence"), san),
            "explanation": san.text(v["explanation"]),
            "evidence": [f"{S.LEDGER_LINES}#{san.ident(v['line_id'])}",
                         *(p for p in _attachment_links(d.get("evidence"), data))],
        }
        if status == "matched":
            matched.append(item)
            continue
        bucket = v["bucket"] or "unknown"
        g = groups.setdefault(bucket, {"bucket": bucket, "owner": BUCKET_OWNERS.get(bucket, ""), "open": 0,
                                       "closed": 0, "difference": {}, "variances": []})
        g[status] += 1
        g["difference"][v["currency"]] = to_str(Decimal(g["difference"].get(v["currency"], "0")) + v["difference"])
        g["variances"].append(item)
    return json_bytes({
        "schema": S.ARTIFACTS["variance_report"][1],
        "period": data.period, "run_id": data.run["run_id"], "tolerance": to_str(data.tolerance),
        "groups": [groups[b] for b in sorted(groups)],
        "matched": matched,
    })


def _approval(data: PackData, san: Sanitizer, notes: dict[str, Any]) -> bytes:
    """Approve / reopen events of the period (period_events), oldest first; exceptions are what was let through."""
    cols = S.ARTIFACTS["approval_record"][2]
    rows = []
    if "period_events" not in data.tables:
        notes["headers_only"].append(S.ARTIFACTS["approval_record"][0])
    exceptions = [f"{d.get('target')} {d.get('disposition')}" for d in _dispositions(data).values()
                  if d.get("disposition") in ("accepted", "escalated")]
    exceptions += [f"attested {a.get('item')}" for a in data.tables.get("attestations", [])]
    for e in data.tables.get("period_events", []):
        approved = e.get("event") == "approved"
        rows.append({"period": data.period, "run_id": san.ident(e.get("run_id")),
                     "decision": san.ident(e.get("event")), "reviewer": san.ident(e.get("actor")),
                     "approved_at": e.get("recorded_at") or "",
                     "exceptions": san.text("; ".join(sorted(set(exceptions)))) if approved else "",
                     "notes": san.text(e.get("reason"))})
    if not rows and "period_events" in data.tables:
        notes["headers_only"].append(S.ARTIFACTS["approval_record"][0])
    latest = rows[-1] if rows else None
    notes["approvals"] = [latest] if latest and latest["decision"] == "approved" else []
    notes["approval_state"] = latest["decision"] if latest else None
    notes["approval_run_mismatch"] = bool(latest and latest["run_id"] and latest["run_id"] != data.run["run_id"])
    return csv_bytes(cols, rows)


def _refs(value: Any, san: Sanitizer) -> list[str] | None:
    if value in (None, ""):
        return None
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        items = [value]
    if not isinstance(items, list):
        items = [items]
    return [san.text(x) for x in items] or None


def _attachment_links(value: Any, data: PackData) -> list[str]:
    from costproof.pack.collect import EVIDENCE_REF

    return [f"internal/attachments/{sha}" for sha in EVIDENCE_REF.findall(str(value or ""))
            if sha in data.attachments]


def attachments(data: PackData, san: Sanitizer, files: Files) -> None:
    """Files operators attached to dispositions and attestations: internal/attachments/<sha256>."""
    rows = []
    for sha, blob in sorted(data.attachments.items()):
        ok = not san.found(blob)
        if ok:
            files[f"internal/attachments/{sha}"] = blob
        rows.append({"sha256": sha, "size": len(blob), "referenced_by": "review records",
                     "path": f"internal/attachments/{sha}" if ok else "", "included": "yes" if ok else "no",
                     "note": "" if ok else "withheld: contains secret-like text; sha256 kept"})
    files[S.ATTACHMENTS] = csv_bytes(S.TABLES[S.ATTACHMENTS], rows)


def _probes(data: PackData, san: Sanitizer) -> bytes:
    rows = []
    for rec in data.probes:
        rep = rec.get("report", {})
        for p in rep.get("probes", []):
            rows.append({"probe_id": san.ident(p.get("id")), "timestamp": p.get("timestamp"),
                         "check": san.ident(p.get("check")), "route_family": san.ident(p.get("route_family")),
                         "base_url": san.text(rep.get("base_url")), "model": san.ident(rep.get("model")),
                         "request_owner": san.ident(p.get("request_owner")),
                         "status_class": san.ident(p.get("status_class")),
                         "expected_class": san.ident(p.get("expected_class")),
                         "passed": "yes" if p.get("passed") else "no", "usage_seen": "yes" if p.get("usage_seen")
                         else "no", "response_id_hash": san.ident(p.get("response_id_hash")),
                         "latency_class": san.ident(p.get("latency_class")),
                         "error_class": san.ident(p.get("error_class"))})
    rows.sort(key=lambda r: (str(r["timestamp"]), r["probe_id"]))
    return csv_bytes(S.TABLES[S.PROBES], rows)


def _review_log(data: PackData, san: Sanitizer, notes: dict[str, Any]) -> bytes:
    cols = S.TABLES[S.REVIEW_LOG]
    rows: list[dict[str, str]] = []
    for r in data.tables.get("review_log", []):
        rows.append({c: san.text(r.get(c)) for c in cols})
    if "review_log" not in data.tables:
        # `costproof probe` stores its records in the review log when the workspace has one.
        for rec in data.probes:
            for r in rec.get("review_log", []):
                rows.append({c: san.text(r.get(c)) for c in cols})
    unique = {tuple(r[c] for c in cols): r for r in rows}
    ordered = [unique[k] for k in sorted(unique)]
    if not ordered:
        notes["headers_only"].append(S.REVIEW_LOG)
    notes["review_log_rows"] = len(ordered)
    return csv_bytes(cols, ordered)


def _contract(data: PackData, san: Sanitizer, notes: dict[str, Any]) -> bytes:
    """The checklist's contract areas, prefilled from verified contract checks, else from this period's probes."""
    cols = S.TABLES[S.CONTRACT_DETAILS]
    rows = {area: {"area": area, "what_to_verify": what, "safe_candidate_wording": wording}
            for area, _, what, wording in S.CONTRACT_AREAS}
    for rec in data.probes:
        rep = rec.get("report", {})
        operator = (rec.get("review_log") or [{}])[0].get("operator") or rep.get("request_owner")
        for p in rep.get("probes", []):
            filled = _probe_fact(p, rep)
            if filled and filled[0] in rows and not rows[filled[0]].get("verified_value"):
                area, value = filled
                rows[area].update({"source_url": san.text(_endpoint(rep, p)), "accessed": p.get("timestamp"),
                                   "verified_value": f"probe: {value}", "verifier": san.ident(operator)})
    by_item = {item: area for area, item, _, _ in S.CONTRACT_AREAS if item}
    for r in data.tables.get("contract_checks", []):  # in seq order: the latest per item wins
        area = by_item.get(str(r.get("item")))
        if area:
            rows[area].update({"source_url": san.text(r.get("source")), "accessed": r.get("verified_at") or "",
                               "verified_value": san.text(r.get("value")), "verifier": san.ident(r.get("operator"))})
    notes["contract_verified"] = sum(1 for r in rows.values() if r.get("verified_value"))
    return csv_bytes(cols, [rows[a] for a, _, _, _ in S.CONTRACT_AREAS])


def _endpoint(rep: dict[str, Any], p: dict[str, Any]) -> str:
    path = {"models": "models", "chat.completions": "chat/completions"}.get(p.get("route_family"),
                                                                          p.get("route_family", ""))
    return f"{rep.get('base_url', '')}/{path}"


def _probe_fact(p: dict[str, Any], rep: dict[str, Any]) -> tuple[str, str] | None:
    code = p.get("status_code")
    if p.get("check") == "happy" and p.get("passed"):
        return "endpoint paths", f"{rep.get('route')} answered {code} for model {rep.get('model')}"
    if p.get("check") == "unauthorized" and p.get("matched"):
        return "auth headers", f"an invalid key was rejected with {code}"
    if p.get("check") == "unknown_model" and p.get("matched"):
        return "error behavior", f"an unknown model was rejected with {code}"
    if p.get("check") == "stream" and p.get("usage_seen"):
        return "response fields", "a usage block was present in the streamed response"
    return None
