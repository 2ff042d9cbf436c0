"""The pack's story as one dict (figures, assertions, handoff note), rendered by report.py to Markdown and HTML."""

from __future__ import annotations

import json
from typing import Any

from costproof import __version__
from costproof.model.money import to_str
from costproof.model.variance import BUCKET_OWNERS
from costproof.pack import schema as S
from costproof.pack.collect import REVIEW_TABLES, PackData
from costproof.pack.figures import read_csv, read_json
from costproof.pack.safety import Sanitizer
from costproof.service.common import iso

SUPPORT_PREFIX = "support caveat"


def build(data: PackData, files: dict[str, bytes], figures: dict[str, str], notes: dict[str, Any],
          san: Sanitizer) -> dict[str, Any]:
    report = read_json(files, S.ARTIFACTS["variance_report"][0])
    ledger = read_csv(files, S.LEDGER_LINES)
    contract = read_csv(files, S.CONTRACT_DETAILS)
    probes = read_csv(files, S.PROBES)
    sources = read_csv(files, S.SOURCES) + read_csv(files, S.INTERNAL_SOURCES)
    m = data.manifest
    items = [v for g in report["groups"] for v in g["variances"]]
    return {
        "period": data.period,
        "run_id": data.run["run_id"],
        "workspace_id": data.workspace_id,
        "code_version": m.get("costproof_version"),
        "packed_by": __version__,
        "engine": m.get("engine"),
        "rounding": (m.get("rounding") or {}).get("rule"),
        "snapshots": [s["snapshot_id"] for s in m["inputs"]["snapshots"]],
        "figures": [{"key": k, "label": S.FIGURES[k.partition(".")[0]], "value": v,
                     "currency": k.partition(".")[2] or None} for k, v in figures.items()],
        "buckets": [{"bucket": g["bucket"], "owner": g["owner"], "open": g["open"], "closed": g["closed"],
                     "difference": g["difference"]} for g in report["groups"]],
        "variances": items,
        "matched": report["matched"],
        "ledger": ledger,
        "assertions": _assertions(data, ledger, contract, probes, sources),
        "approval": notes.get("approvals") or [],
        "commands": _commands(data, san),
        "results": _results(data, figures),
        "uncertainty": _uncertainty(data, items, contract, probes, notes, san),
        "missing_tables": [t for t in REVIEW_TABLES if t not in notes["tables"]],
        "approval_state": notes.get("approval_state"),
        "headers_only": notes["headers_only"],
        "withheld": notes["withheld"],
        "pricing": _pricing_summary(files),
        "probes": probes,
    }


def _assertions(data: PackData, ledger: list[dict[str, str]], contract: list[dict[str, str]],
                probes: list[dict[str, str]], sources: list[dict[str, str]]) -> list[dict[str, Any]]:
    snaps = data.snapshots
    urls = [s for s in snaps if s["source_kind"] == "url"]
    files = [s for s in snaps if s["source_kind"] != "url"]
    if not snaps:
        opened = ("missing", "no pricing snapshot was used by the run")
    elif not files:
        opened = ("done", f"{len(urls)} source URL(s) fetched by costproof, each with access time and sha256")
    else:
        opened = ("partial", f"{len(files)} of {len(snaps)} snapshot(s) captured from a local file, not opened "
                             "as a URL by costproof; the file's sha256 is recorded")
    reviewed = [s for s in snaps if s.get("reviewer")]
    latest = max((iso(s["accessed_at"]) or "" for s in snaps), default="")
    basis = (("done", f"every snapshot has a reviewer; latest capture {latest}")
             if snaps and len(reviewed) == len(snaps) else
             ("open", f"{len(snaps) - len(reviewed)} of {len(snaps)} snapshot(s) have no reviewer recorded; "
                      f"latest capture {latest or 'none'}; compare with the current page before relying on it"))
    caveats = [r for r in contract if r["area"].startswith(SUPPORT_PREFIX)]
    verified = [r for r in caveats if r.get("verified_value")]
    support = (("done" if caveats and len(verified) == len(caveats) else "open" if not verified else "partial"),
               f"{len(verified)} of {len(caveats)} support caveats have a verified value, source and verifier")
    counts = {s: sum(1 for r in ledger if r["status"] == s) for s in ("matched", "closed", "open", "not compared")}
    linked = ("done" if ledger and counts["open"] == 0 and counts["not compared"] == 0
              else "missing" if not ledger else "open")
    lines = (linked, f"{len(ledger)} ledger line(s): {counts['matched']} matched within tolerance, "
                     f"{counts['closed']} closed by a disposition, {counts['open']} open"
             + (f", {counts['not compared']} not compared" if counts["not compared"] else ""))
    checks = {r["check"]: r for r in probes}
    happy = checks.get("happy")
    errors = [checks.get("unauthorized"), checks.get("unknown_model")]
    if not probes:
        probed = ("open", "no validation probe recorded for this period (`costproof probe`)")
    else:
        ok = bool(happy and happy["passed"] == "yes" and all(e and e["passed"] == "yes" for e in errors))
        probed = ("done" if ok else "open",
                  f"{sum(1 for r in probes if r['passed'] == 'yes')} of {len(probes)} probe request(s) passed")
    evidence_links = [(S.SOURCES, S.SOURCES)]
    if any(r["classification"] != "public-doc" for r in sources):
        evidence_links.append((S.INTERNAL_SOURCES, S.INTERNAL_SOURCES))
    return [
        {"title": "Source URLs opened", "status": opened[0], "detail": opened[1], "links": evidence_links},
        {"title": "Pricing basis checked against current pages", "status": basis[0], "detail": basis[1],
         "links": [(S.ARTIFACTS["pricing_snapshot"][0], S.ARTIFACTS["pricing_snapshot"][0])]},
        {"title": "Support caveats reviewed", "status": support[0], "detail": support[1],
         "links": [(S.CONTRACT_DETAILS, S.CONTRACT_DETAILS)]},
        {"title": "Each ledger line linked back to reviewed evidence", "status": lines[0], "detail": lines[1],
         "links": [(S.LEDGER_LINES, S.LEDGER_LINES),
                   (S.ARTIFACTS["variance_report"][0], S.ARTIFACTS["variance_report"][0])]},
        {"title": "Happy and error paths probed", "status": probed[0], "detail": probed[1],
         "links": [(S.PROBES, S.PROBES), (S.REVIEW_LOG, S.REVIEW_LOG)]},
    ]


def _commands(data: PackData, san: Sanitizer) -> list[str]:
    out = []
    for s in data.snapshots:
        pages = json.loads(s["headers"] or "[]")
        src = (pages[0].get("url") if pages and pages[0].get("url") else
               str(s["source"]).replace("\\", "/").rsplit("/", 1)[-1])
        cmd = f"costproof pricing capture {san.text(src)} --format {s['format']}"
        if s.get("label"):
            cmd += f" --label {_quote(san.ident(s['label']))}"
        if s.get("effective_explicit"):
            cmd += f" --effective-from {iso(s['effective_from'])}"
        out.append(cmd)
    for i in data.imports:
        out.append(f"costproof usage import {_quote(san.ident(i['file_name']))} --format {i['format']}")
    labels = data.manifest["inputs"].get("labels") or {}
    if labels.get("rules"):
        out.append(f"costproof labels import LABELS.csv   # {labels['rules']} rules, sha256 {labels.get('sha256')}")
    for mp in data.mapping:
        cmd = (f"costproof mapping add {_quote(san.ident(mp['alias']))} {_quote(san.ident(mp['source_model_id']))} "
               f"--approved-by {_quote(san.ident(mp['approved_by']))}")
        out.append(cmd + (f" --effective-from {mp['effective_from']}" if mp["effective_from"] else ""))
    for stm in sorted({(ln["statement"], ln["sha256"]) for ln in data.ledger}):
        out.append(f"costproof ledger import {_quote(san.ident(stm[0]))}")
    m = data.manifest
    cmd = f"costproof run --period {data.period}"
    if m.get("forced_snapshot"):
        cmd += f" --snapshot {m['forced_snapshot']}"
    if (m.get("rounding") or {}).get("rule", "none") != "none":
        cmd += f" --rounding {m['rounding']['rule']}"
    if m.get("engine") != "duckdb":
        cmd += f" --engine {m.get('engine')}"
    out.append(cmd)
    for rec in data.probes:
        rep = rec.get("report", {})
        out.append(f"costproof probe --base-url {san.text(rep.get('base_url'))} --model "
                   f"{_quote(san.ident(rep.get('model')))} --owner {_quote(san.ident(rep.get('request_owner')))} "
                   f"--route {san.ident(rep.get('route'))}")
    out.append(f"costproof pack --period {data.period} --out PACK")
    out.append("costproof pack verify PACK")
    return out


def _quote(text: str) -> str:
    return text if text and all(c.isalnum() or c in "-_.:/@" for c in text) else "'" + text.replace("'", "") + "'"


def _results(data: PackData, figures: dict[str, str]) -> list[str]:
    c = data.manifest["conservation"]
    ex = ", ".join(f"{k} {v}" for k, v in sorted(data.manifest.get("exclusions", {}).items()))
    out = [f"{c['rows_in']} usage rows considered: {c['rows_priced']} priced, {c['rows_excluded']} excluded"
           f"{f' ({ex})' if ex else ''}, {c['rows_quarantined']} quarantined; conservation holds."]
    for key, value in figures.items():
        name, _, cur = key.partition(".")
        if name == "expected":
            out.append(f"Expected {value} {cur} against ledger {figures.get('ledger.' + cur)} {cur} and "
                       f"provider-reported {figures.get('provider_reported.' + cur)} {cur}.")
    out.append(f"{figures['lines']} ledger lines: {figures['matched']} matched within tolerance "
               f"({to_str(data.tolerance)}), {figures['open']} open, {figures['closed']} closed.")
    return out


def _uncertainty(data: PackData, items: list[dict[str, Any]], contract: list[dict[str, str]],
                 probes: list[dict[str, str]], notes: dict[str, Any], san: Sanitizer) -> list[str]:
    out = []
    for v in items:
        if v["status"] == "open":
            out.append(f"Variance {v['id']} ({v['line_id']}) is open: {v['difference']} {v['currency']}, bucket "
                       f"{v['bucket']}, first owner {v['owner'] or BUCKET_OWNERS.get(v['bucket'], '')}: "
                       f"{v['explanation']}.")
    for u in data.manifest.get("unpriced_models", []):
        out.append(f"Model {san.ident(u['model'])} has no price rule or mapping: {u['rows']} rows are unpriced.")
    q = data.manifest["conservation"]["rows_quarantined"]
    if q:
        out.append(f"{q} usage row(s) were quarantined as unreadable (see {S.QUARANTINE}).")
    if notes.get("approval_state") == "reopened":
        out.append(f"{data.period} was approved and then reopened; no approval is in force.")
    elif not notes.get("approvals"):
        out.append(f"No approval recorded for {data.period}.")
    elif notes.get("approval_run_mismatch"):
        out.append("The approval in force was given for another run than the one packed here.")
    unverified = [r["area"] for r in contract if not r.get("verified_value")]
    if unverified:
        out.append(f"{len(unverified)} of {len(contract)} contract areas have no verified value yet.")
    if not probes:
        out.append("No validation probe was recorded for this period.")
    for w in notes["withheld"]:
        out.append(f"Evidence {w['sha256'][:12]}… of {w['snapshot_id']} was withheld: it contains secret-like text.")
    return out


def _pricing_summary(files: dict[str, bytes]) -> list[dict[str, str]]:
    return read_csv(files, S.ARTIFACTS["pricing_snapshot"][0])
