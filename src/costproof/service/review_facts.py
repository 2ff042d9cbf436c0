"""Gather the review facts of a period from the workspace: run, manifest, rows.parquet, snapshots, records."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from costproof.model.meters import TOKEN_METERS
from costproof.model.review import Facts
from costproof.reconcile import pricecompare
from costproof.review import attest, contract, dispositions
from costproof.service import pricing as pricing_svc
from costproof.service.common import iso, period_bounds
from costproof.service.run import latest_run
from costproof.service.usage import usage_files
from costproof.workspace import Workspace, dumps

COMETAPI_FORMATS = ("cometapi-models", "newapi-pricing")
TIMEOUT_CODES = (408, 504, 524)
BILLABLE_KINDS = "('consume', 'error')"


def gather(ws: Workspace, period: str, *, now: datetime) -> Facts:
    start, end = period_bounds(period)
    facts = Facts(period=period, start=start, end=end, as_of=now, tolerance=ws.settings.tolerance,
                  review=ws.settings.review, exclude_environments=ws.settings.exclude_environments)
    facts.snapshots = _snapshots(ws)
    facts.contract = contract.listing(ws)
    facts.dispositions = dispositions.latest(ws, period)
    facts.attestations = attest.for_period(ws, period)
    run = latest_run(ws, period)
    if run is None:
        return facts
    manifest = json.loads(run["manifest"])
    facts.run = {**run, "manifest": manifest, "integrity": _integrity(ws, run, manifest)}
    facts.used_snapshots = json.loads(run["snapshot_ids"] or "[]")
    prev = ws.one("SELECT run_id FROM runs WHERE period = ? AND seq < ? ORDER BY seq DESC LIMIT 1",
                  [period, run["seq"]])
    facts.previous_run_id = prev["run_id"] if prev else None
    facts.variances = ws.rows("SELECT * FROM variances WHERE run_id = ? ORDER BY statement, line_id, variance_id",
                              [run["run_id"]])
    if prev:
        facts.previous_differences = {
            r["variance_id"]: r["difference"]
            for r in ws.rows("SELECT variance_id, difference FROM variances WHERE run_id = ?", [prev["run_id"]])}
    rows_file = ws.run_dir(run["run_id"]) / "rows.parquet"
    if rows_file.exists():
        facts.usage = _usage(ws, rows_file, facts)
        facts.billing = _billing(ws, rows_file, facts)
    facts.mapping = _mapping(ws, facts)
    facts.crosschecks = _crosschecks(ws, facts)
    facts.ledger_rates = _ledger_rates(ws, facts)
    facts.inputs = _inputs(ws, manifest)
    return facts


def is_cometapi(snap: dict[str, Any]) -> bool:
    text = f"{snap.get('source') or ''} {snap.get('label') or ''}".lower()
    return snap["format"] in COMETAPI_FORMATS or "cometapi" in text


def _snapshots(ws: Workspace) -> dict[str, dict[str, Any]]:
    out = {}
    for s in ws.rows("SELECT * FROM snapshots ORDER BY seq"):
        shas = json.loads(s["evidence"] or "[]")
        ok = bool(shas)
        for sha in shas:
            try:
                ws.evidence.get(sha)
            except (OSError, ValueError):
                ok = False
        out[s["snapshot_id"]] = {
            "snapshot_id": s["snapshot_id"], "format": s["format"], "source": s["source"],
            "source_kind": s["source_kind"], "label": s["label"], "operator": s["operator"],
            "accessed_at": iso(s["accessed_at"]), "effective_from": iso(s["effective_from"]),
            "effective_day": iso(s["effective_from"])[:10] if s["effective_from"] else None,
            "crosscheck_only": bool(s["crosscheck_only"]), "evidence": shas, "evidence_ok": ok,
            "classification": s["classification"], "cometapi": False,
        }
        out[s["snapshot_id"]]["cometapi"] = is_cometapi(out[s["snapshot_id"]])
    return out


def _integrity(ws: Workspace, run: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in manifest.items() if k != "generated_at"}
    recomputed = hashlib.sha256(dumps(body).encode()).hexdigest()
    path = ws.run_dir(run["run_id"]) / "manifest.json"
    file_ok = False
    if path.exists():
        try:
            file_ok = json.loads(path.read_text("utf-8")) == manifest
        except ValueError:
            file_ok = False
    return {"sha_ok": recomputed == run["manifest_sha256"], "file_ok": file_ok,
            "path": f"runs/{run['run_id']}/manifest.json"}


def _in_period(rows_file: Path) -> str:
    return f"(SELECT * FROM read_parquet('{rows_file}') WHERE coalesce(exclusion, '') <> 'outside_period')"


def _usage(ws: Workspace, rows_file: Path, facts: Facts) -> dict[str, Any]:
    src = _in_period(rows_file)
    con = ws.con
    by_day = dict(con.execute(f"SELECT day, count(*) FROM {src} WHERE record_kind IN {BILLABLE_KINDS} "
                              "GROUP BY day ORDER BY day").fetchall())
    by_model = dict(con.execute(f"SELECT coalesce(model, model_reported, ''), count(*) FROM {src} "
                                f"WHERE record_kind IN {BILLABLE_KINDS} GROUP BY 1 ORDER BY 1").fetchall())
    first, last = con.execute(f"SELECT min(occurred_at), max(occurred_at) FROM {src}").fetchone()
    envs = {(k or ""): v for k, v in con.execute(
        f"SELECT environment, count(*) FROM {src} WHERE record_kind IN {BILLABLE_KINDS} GROUP BY 1 ORDER BY 1"
    ).fetchall()}
    missing_env = con.execute(
        f"""SELECT coalesce(api_key_name, '(no key name)'), count(*) FROM {src}
            WHERE record_kind IN {BILLABLE_KINDS} AND coalesce(environment, '') = '' GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    excluded = list(facts.exclude_environments) or ["\x00"]
    marks = ", ".join("?" for _ in excluded)
    missing_fields = con.execute(
        f"""SELECT coalesce(nullif(model_reported, ''), '(no model)'), count(*) FROM {src}
            WHERE record_kind = 'consume' AND coalesce(status_class, '') NOT IN ('4xx', '5xx')
              AND coalesce(environment, '') NOT IN ({marks})
              AND (coalesce(model_reported, '') = '' OR usage_origin = 'missing')
            GROUP BY 1 ORDER BY 1""", excluded).fetchall()
    priced: dict[str, set[str]] = {}
    for model, snap in con.execute(f"SELECT DISTINCT model, snapshot_id FROM {src} WHERE exclusion IS NULL "
                                   "ORDER BY 1, 2").fetchall():
        priced.setdefault(model, set()).add(snap)
    return {
        "requests_by_day": by_day, "rows_by_model": by_model, "first_at": iso(first), "last_at": iso(last),
        "environments": envs, "missing_environment": [{"api_key_name": k, "rows": n} for k, n in missing_env],
        "missing_fields": [{"model_reported": k, "rows": n} for k, n in missing_fields],
        "priced_models": {m: sorted(s) for m, s in priced.items()},
    }


def _billing(ws: Workspace, rows_file: Path, facts: Facts) -> list[dict[str, Any]]:
    """Failed, retried and partial calls with their priced exposure (the run's own per-row cost)."""
    excluded = list(facts.exclude_environments) or ["\x00"]
    marks = ", ".join("?" for _ in excluded)
    timeout = ", ".join(str(c) for c in TIMEOUT_CODES)
    rows = ws.con.execute(f"""
        WITH r AS (
            SELECT *, (coalesce(status_class, '') IN ('4xx', '5xx') OR record_kind = 'error') AS failed
            FROM read_parquet('{rows_file}') WHERE record_kind IN {BILLABLE_KINDS}
        ), chained AS (
            SELECT *, lead(attempt) OVER (
                PARTITION BY coalesce(api_key_name, ''), coalesce(model_reported, ''), is_stream
                ORDER BY occurred_at, record_id) AS next_attempt
            FROM r
        ), classed AS (
            SELECT *, CASE WHEN failed AND next_attempt = attempt + 1 THEN 'retried'
                           WHEN failed THEN 'failed'
                           WHEN coalesce(is_partial, false) THEN 'partial' END AS billing_class
            FROM chained
            WHERE coalesce(exclusion, '') <> 'outside_period' AND coalesce(environment, '') NOT IN ({marks})
              AND (exclusion IS NULL OR exclusion = 'error')
        )
        SELECT billing_class, coalesce(currency, '') AS currency, count(*) AS rows,
               count(*) FILTER (WHERE status_code IN ({timeout})) AS timed_out,
               count(*) FILTER (WHERE cost IS NULL) AS unpriced,
               coalesce(sum(cost), 0) AS exposure,
               coalesce(sum(cost) FILTER (WHERE exclusion IS NULL), 0) AS in_expected
        FROM classed WHERE billing_class IS NOT NULL GROUP BY ALL ORDER BY ALL
    """, excluded).fetchall()
    out = []
    for cls in ("failed", "retried", "partial"):
        mine = [r for r in rows if r[0] == cls]
        exposure: dict[str, Decimal] = {}
        in_expected: dict[str, Decimal] = {}
        for _, cur, _n, _t, _u, exp, inexp in mine:
            if cur:
                exposure[cur] = exposure.get(cur, Decimal(0)) + Decimal(exp)
                in_expected[cur] = in_expected.get(cur, Decimal(0)) + Decimal(inexp)
        out.append({
            "class": cls, "policy": facts.review.policy(cls),
            "rows": sum(r[2] for r in mine), "timed_out": sum(r[3] for r in mine),
            "unpriced_rows": sum(r[4] for r in mine),
            "exposure": exposure, "in_expected": in_expected,
        })
    return out


def _mapping(ws: Workspace, facts: Facts) -> list[dict[str, Any]]:
    from costproof.service import mapping as mapping_svc

    known = {r["model"] for r in ws.rows("""SELECT DISTINCT p.model FROM price_rules p
                                             JOIN snapshots s USING (snapshot_id) WHERE NOT s.crosscheck_only""")}
    return [{**m, "target_priced": m["source_model_id"] in known} for m in mapping_svc.current(ws)]


def _crosschecks(ws: Workspace, facts: Facts) -> list[dict[str, Any]]:
    """Each snapshot used in the run against the other sources: every recorded `pricing crosscheck` (the
    latest per pair), and, for pairs nobody checked, an automatic comparison with a CometAPI source dated
    the same day or a cross-check catalog (snapshots dated differently are price history, not a check)."""
    used = set(facts.used_snapshots)
    used_models = set(facts.usage.get("priced_models", {}))
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    recorded = ws.rows("""SELECT * FROM crosschecks QUALIFY row_number() OVER (
                            PARTITION BY least(snapshot_a, snapshot_b), greatest(snapshot_a, snapshot_b)
                            ORDER BY seq DESC) = 1 ORDER BY seq""")
    for c in recorded:
        a, b = c["snapshot_a"], c["snapshot_b"]
        if a not in used and b not in used:
            continue
        mine, other = (a, b) if a in used else (b, a)
        so = facts.snapshots.get(other, {})
        findings = [f for f in json.loads(c["findings"] or "[]") if {f.get("model_a"), f.get("model_b")} & used_models]
        summary = json.loads(c["summary"] or "{}")
        out.append({"a": mine, "b": other, "kind": "catalog" if so.get("crosscheck_only") else
                    "cometapi" if so.get("cometapi") else "other", "compared": int(summary.get("matched", 0)),
                    "recorded": c["crosscheck_id"], "disagreements": findings})
        seen.add(tuple(sorted((a, b))))
    snaps = {s.snapshot_id: s for s in pricing_svc.load_snapshots(ws, include_crosscheck=True)}
    by_model = facts.usage.get("priced_models", {})
    for a in facts.used_snapshots:
        sa = facts.snapshots.get(a)
        if sa is None or a not in snaps:
            continue
        rules_a = [r for r in snaps[a].rules if a in by_model.get(r.model, ())]
        for b, sb in facts.snapshots.items():
            if b == a or b not in snaps or sb["evidence"] == sa["evidence"] or tuple(sorted((a, b))) in seen:
                continue
            kind = "catalog" if sb["crosscheck_only"] else "cometapi" if sb["cometapi"] else None
            if kind is None or (kind == "cometapi" and sb["effective_day"] != sa["effective_day"]):
                continue
            result = pricecompare.crosscheck(rules_a, snaps[b].rules,
                                             tolerance=facts.review.price_disagreement_tolerance)
            out.append({"a": a, "b": b, "kind": kind, "compared": len(result["matched"]), "recorded": None,
                        "disagreements": result["disagreements"]})
            seen.add(tuple(sorted((a, b))))
    return out


UNIT_METERS = {"token": None, "tokens": None, **{m: m for m in TOKEN_METERS},
               "request": "requests", "requests": "requests", "image": "images", "images": "images",
               "second": "seconds", "seconds": "seconds"}


def _unit(unit: str | None) -> tuple[str | None, Decimal] | None:
    """A ledger unit as (meter or None for any token meter, scale): 'tokens', '1M tokens', 'requests'."""
    if not unit:
        return None
    words = unit.strip().lower().replace("_", " ").split()
    scale = Decimal(1)
    if words and words[0] in ("1k", "k", "1m", "m", "million", "thousand"):
        scale = Decimal(1000) if words[0] in ("1k", "k", "thousand") else Decimal(1_000_000)
        words = words[1:]
    name = "_".join(words)
    if name not in UNIT_METERS:
        return None
    return UNIT_METERS[name], scale


def _ledger_rates(ws: Workspace, facts: Facts) -> list[dict[str, Any]]:
    """Each statement line with a quantity, a known unit and a model: its implied rate and the captured
    prices it matches (any snapshot, any time)."""
    from costproof.service import statements

    snaps = pricing_svc.load_snapshots(ws, include_crosscheck=True)
    out = []
    for line in statements.lines_for(ws, facts.period):
        grain = json.loads(line["grain"])
        unit = _unit(line["unit"])
        if line["quantity"] is None or not line["quantity"] or "model" not in grain or unit is None:
            continue
        meter, scale = unit
        with localcontext() as ctx:
            ctx.prec = 50
            implied = Decimal(line["amount"]) / (Decimal(line["quantity"]) * scale)
            matches = []
            for s in snaps:
                for r in s.rules:
                    if pricecompare.base_model_id(r.model) != pricecompare.base_model_id(grain["model"]):
                        continue
                    if r.currency != line["currency"] or (meter and r.meter != meter) or \
                            (meter is None and r.meter not in TOKEN_METERS):
                        continue
                    price = r.unit_price * r.multiplier / Decimal(r.per_quantity)
                    top = max(abs(price), abs(implied))
                    if top == 0 or abs(price - implied) / top <= facts.review.ledger_rate_tolerance:
                        matches.append({"snapshot_id": s.snapshot_id, "meter": r.meter})
        out.append({"line_id": line["line_id"] or f"{line['file_name']}:{line['line_no']}",
                    "statement": line["statement"], "model": grain["model"], "unit": line["unit"],
                    "implied_per_unit": format(implied.normalize(), "f"), "currency": line["currency"],
                    "matches": matches})
    return out


def _inputs(ws: Workspace, manifest: dict[str, Any]) -> dict[str, Any]:
    """What the final report links to, and whether each link resolves to checksummed content."""
    snaps = []
    for s in manifest.get("inputs", {}).get("snapshots", []):
        ok = True
        for sha in s.get("evidence", []):
            try:
                ws.evidence.get(sha)
            except (OSError, ValueError):
                ok = False
        snaps.append({"snapshot_id": s["snapshot_id"], "evidence": s.get("evidence", []), "ok": ok})
    usage = []
    for u in manifest.get("inputs", {}).get("usage", []):
        files = usage_files(ws, [u["import_id"]])
        usage.append({"import_id": u["import_id"], "file": u["file"], "sha256": u["sha256"],
                      "parquet_files": len(files), "ok": bool(files) or not u.get("rows_stored")})
    stmts = []
    for ref in manifest.get("statements", []):
        name, _, sha = ref.rpartition("@")
        known = ws.one("SELECT import_id FROM imports WHERE kind = 'statement' AND sha256 = ?", [sha])
        stmts.append({"statement": name, "sha256": sha, "ok": known is not None})
    return {"snapshots": snaps, "usage": usage, "statements": stmts}
