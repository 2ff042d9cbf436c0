"""Read what a pack needs from a workspace: the period's latest run and everything it rests on."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from costproof.model.errors import InputError
from costproof.service import run as run_svc
from costproof.service import statements as statements_svc
from costproof.service.common import iso
from costproof.workspace import Workspace

# Tables the review workflow adds (issue 7); a pack reads them only when they exist.
# (migration 2: dispositions, attestations, contract_checks, review_log, period_events).
REVIEW_TABLES = ("dispositions", "attestations", "contract_checks", "review_log", "period_events")
PROBES_DIR = "probes"
# How review records point at files an operator attached (review/dispositions.py `evidence_ref`).
EVIDENCE_REF = re.compile(r"evidence:sha256:([0-9a-f]{64})")


@dataclass
class Evidence:
    """One captured pricing page or file as stored in the evidence store."""

    sha256: str
    data: bytes
    snapshot_id: str
    page: int
    url: str | None
    status: int | None
    content_type: str | None


@dataclass
class PackData:
    """Everything a pack shows, read once; the renderers never touch the workspace."""

    period: str
    workspace_id: str
    run: dict[str, Any]
    manifest: dict[str, Any]
    snapshots: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    evidence: list[Evidence]
    usage: list[dict[str, Any]]
    imports: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    ledger: list[dict[str, Any]]
    variances: list[dict[str, Any]]
    mapping: list[dict[str, Any]]
    tolerance: Decimal
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    probes: list[dict[str, Any]] = field(default_factory=list)
    secret_patterns: tuple[str, ...] = ()
    attachments: dict[str, bytes] = field(default_factory=dict)


def existing_tables(ws: Workspace) -> set[str]:
    return {r["table_name"] for r in ws.rows("SELECT table_name FROM information_schema.tables")}


def collect(ws: Workspace, period: str) -> PackData:
    run = run_svc.latest_run(ws, period)
    if run is None:
        raise InputError(f"no run for {period} yet (run `costproof run --period {period}` first)", field="--period")
    manifest = json.loads(run["manifest"])
    snap_ids = [s["snapshot_id"] for s in manifest["inputs"]["snapshots"]]
    snapshots = [ws.one("SELECT * FROM snapshots WHERE snapshot_id = ?", [sid]) for sid in snap_ids]
    snapshots = [s for s in snapshots if s]
    rules = ws.rows("SELECT * FROM price_rules WHERE list_contains(?, snapshot_id) ORDER BY snapshot_id, rule_no",
                    [snap_ids])
    evidence = []
    for s in snapshots:
        pages = json.loads(s["headers"] or "[]")
        for n, sha in enumerate(json.loads(s["evidence"] or "[]"), start=1):
            page = pages[n - 1] if n - 1 < len(pages) else {}
            evidence.append(Evidence(sha, ws.evidence.get(sha), s["snapshot_id"], n, page.get("url"),
                                     page.get("status"), (page.get("headers") or {}).get("content-type")))
    statement_shas = {s.rsplit("@", 1)[1] for s in manifest.get("statements", [])}
    ledger = [ln for ln in statements_svc.lines_for(ws, period) if ln["sha256"] in statement_shas]
    import_ids = [u["import_id"] for u in manifest["inputs"]["usage"]]
    imports = [ws.one("SELECT * FROM imports WHERE import_id = ?", [i]) for i in import_ids]
    quarantine = ws.rows("""SELECT import_id, field, count(*) AS records FROM quarantine
                            WHERE list_contains(?, import_id) GROUP BY ALL ORDER BY import_id, field""",
                         [import_ids])
    variances = ws.rows("SELECT * FROM variances WHERE run_id = ? ORDER BY statement, line_id, variance_id",
                        [run["run_id"]])
    present = existing_tables(ws)
    tables = {name: _table(ws, name, period) for name in REVIEW_TABLES if name in present}
    attachments = {}
    for ref in sorted(set(EVIDENCE_REF.findall(json.dumps(tables, sort_keys=True, default=str)))):
        try:
            attachments[ref] = ws.evidence.get(ref)
        except (OSError, ValueError):
            continue
    return PackData(
        period=period,
        workspace_id=ws.workspace_id,
        run=run,
        manifest=manifest,
        snapshots=snapshots,
        rules=rules,
        evidence=evidence,
        usage=_usage(ws, run["run_id"]),
        imports=[i for i in imports if i],
        quarantine=quarantine,
        ledger=ledger,
        variances=variances,
        mapping=_mapping(ws, int(manifest["inputs"]["mapping"].get("version") or 0)),
        tolerance=ws.settings.tolerance,
        tables=tables,
        probes=load_probes(ws.root, period),
        secret_patterns=ws.settings.secret_patterns,
        attachments=attachments,
    )


def _usage(ws: Workspace, run_id: str) -> list[dict[str, Any]]:
    """Counts and meters by day, model, cost center, environment, status class and outcome; never rows."""
    path = run_svc.manifest_path(ws, run_id).with_name("rows.parquet")
    if not path.exists():
        raise InputError(f"run {run_id} has no rows.parquet; re-run the period", file=str(path))
    return ws.rows(
        """SELECT day, coalesce(model, '') AS model, coalesce(model_reported, '') AS model_reported,
                  coalesce(cost_center, '') AS cost_center, coalesce(environment, '') AS environment,
                  coalesce(status_class, '') AS status_class, coalesce(exclusion, 'priced') AS outcome,
                  coalesce(currency, '') AS currency,
                  coalesce(provider_reported_currency, '') AS provider_reported_currency,
                  count(*) AS rows, sum(requests) AS requests,
                  sum(input_tokens) AS input_tokens, sum(cached_input_tokens) AS cached_input_tokens,
                  sum(cache_write_tokens) AS cache_write_tokens, sum(output_tokens) AS output_tokens,
                  sum(reasoning_tokens) AS reasoning_tokens, sum(audio_input_tokens) AS audio_input_tokens,
                  sum(audio_output_tokens) AS audio_output_tokens, sum(images) AS images,
                  sum(seconds) AS seconds,
                  sum(cost) FILTER (WHERE exclusion IS NULL) AS expected_cost,
                  sum(provider_reported_cost) AS provider_reported_cost
           FROM read_parquet(?)
           WHERE coalesce(exclusion, '') <> 'outside_period'
           GROUP BY ALL ORDER BY ALL""",
        [str(path)],
    )


def _mapping(ws: Workspace, version: int) -> list[dict[str, Any]]:
    """The mapping rows in force for the run (its recorded version), as the run resolved them."""
    rows = ws.rows("""SELECT * FROM mapping WHERE version <= ? QUALIFY row_number() OVER (
                        PARTITION BY alias, effective_from ORDER BY version DESC) = 1
                      ORDER BY alias, effective_from""", [version])
    return [{"alias": r["alias"], "source_model_id": r["source_model_id"], "pricing_unit": r["pricing_unit"],
             "effective_from": iso(r["effective_from"]), "approved_by": r["approved_by"],
             "version": r["version"]} for r in rows]


PERIOD_COLUMNS = {"dispositions": "period", "attestations": "period", "review_log": "ledger_period",
                  "period_events": "period"}


def _table(ws: Workspace, name: str, period: str) -> list[dict[str, Any]]:
    """The table's rows of the period (all rows when it has no period column), in insertion order."""
    cols = {r["column_name"] for r in ws.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name])}
    where = f'WHERE "{PERIOD_COLUMNS[name]}" = ?' if PERIOD_COLUMNS.get(name) in cols else ""
    order = "ORDER BY seq" if "seq" in cols else ""
    rows = ws.rows(f'SELECT * FROM "{name}" {where} {order}', [period] if where else [])
    return [{k: (iso(v) if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]


def load_probes(root: Path, period: str) -> list[dict[str, Any]]:
    """Probe records kept in the workspace's probes/ folder for the period."""
    folder = root / PROBES_DIR / period
    out = []
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out.append(json.loads(f.read_text("utf-8")))
        except (OSError, ValueError):
            continue
    return out


__all__ = ["PackData", "collect", "existing_tables", "load_probes"]
