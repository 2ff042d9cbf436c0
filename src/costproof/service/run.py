"""Run a period: price every usage row, prove conservation, compare with statements, record it all."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis

from costproof import __version__
from costproof.engine import aggregate, pricing, rates
from costproof.model.errors import InputError
from costproof.model.meters import METER_FALLBACK
from costproof.model.money import to_str
from costproof.model.usage import USAGE_COLUMN_NAMES
from costproof.model.variance import RoundingRule
from costproof.reconcile.compare import compare
from costproof.review import lock as review_lock
from costproof.service import explain, statements
from costproof.service import mapping as mapping_svc
from costproof.service import pricing as pricing_svc
from costproof.service.common import iso, period_bounds, short_hash
from costproof.service.usage import usage_files
from costproof.workspace import Workspace, dumps

MANIFEST_SCHEMA = "costproof.manifest/1"
TIER_BASIS = "input_tokens + cached_input_tokens + cache_write_tokens + audio_input_tokens per request"
WINDOW = timedelta(days=1)  # rows this close to the period are kept with the run for timing checks


ENGINE_MEMORY = "2GB"  # the run's DuckDB spills past this to the workspace's tmp/ (10M rows fit in bounded RSS)


def connect(engine: str, spill: Path | None = None) -> Any:
    if engine == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        con.raw_sql(f"SET memory_limit = '{ENGINE_MEMORY}'")
        con.raw_sql("SET preserve_insertion_order = false")
        if spill is not None:
            spill.mkdir(parents=True, exist_ok=True)
            con.raw_sql(f"SET temp_directory = '{spill}'")
        return con
    if engine == "spark":
        raise InputError("the Spark engine is not available in this build; use --engine duckdb", field="--engine")
    raise InputError(f"unknown engine {engine!r}; use duckdb", field="--engine")


def run_period(ws: Workspace, period: str, *, snapshot: str | None = None, rounding: str | None = None,
               engine: str = "duckdb", now: datetime) -> dict[str, Any]:
    start, end = period_bounds(period)
    review_lock.ensure_unlocked(ws, [period], "a run")  # an approved period keeps its approved run
    rule = RoundingRule.parse(rounding or ws.settings.rounding)
    imports = ws.rows("SELECT * FROM imports WHERE kind = 'usage' ORDER BY seq")
    touching = [i for i in imports if period in json.loads(i["periods"] or "[]")]
    snaps = pricing_svc.load_snapshots(ws, include_crosscheck=snapshot is not None)
    if snapshot and snapshot not in {s.snapshot_id for s in snaps}:
        raise InputError(f"no snapshot {snapshot!r} (see `costproof pricing list`)", field="--snapshot")
    aliases, mapping_info = mapping_svc.aliases(ws)
    labels, labels_info = mapping_svc.label_rules(ws)
    files = usage_files(ws, [i["import_id"] for i in touching])
    con = connect(engine, ws.root / "tmp")
    groups = _groups(con, files)
    table = rates.build(snaps, groups, forced=snapshot)
    seq = ws.next_seq("runs", "WHERE period = ?", [period])
    inputs = {
        "usage": [{"import_id": i["import_id"], "file": i["file_name"], "sha256": i["sha256"],
                   "format": i["format"], "records": i["records"], "rows_stored": i["rows_stored"],
                   "duplicates": i["duplicates"], "quarantined": i["quarantined"]} for i in touching],
        # every snapshot in the rate table feeds the run id; the manifest lists the ones that priced rows
        "snapshots": _snapshot_inputs(ws, table.snapshot_ids),
        "mapping": mapping_info,
        "labels": labels_info,
    }
    settings = {**ws.settings.as_dict(), "rounding": rule.name}
    run_id = "run-" + short_hash(period, seq, engine, inputs, settings, snapshot, __version__)
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)

    if files:
        usage = con.read_parquet(files).select(*USAGE_COLUMN_NAMES)
    else:
        from costproof.sources.usage.base import USAGE_SCHEMA

        usage = _arrow_table(con, "usage_empty", USAGE_SCHEMA.empty_table())
    rate_t = _arrow_table(con, "rates", pricing.rate_arrow(table.rows))
    expr = pricing.priced(usage, rate_t, start=start, end=end, aliases=aliases, labels=labels,
                          exclude_environments=ws.settings.exclude_environments, rounding=rule)
    rows = _materialize(con, expr, f"priced_{run_id.replace('-', '_')}")
    near = rows.filter((rows.occurred_at >= start - WINDOW) & (rows.occurred_at < end + WINDOW))
    con.to_parquet(near.order_by("record_id"), run_dir / "rows.parquet")

    counts = {r["reason"]: int(r["rows"]) for r in aggregate.exclusion_counts(rows).to_pyarrow().to_pylist()}
    duplicates = sum(int(i["duplicates"]) for i in touching)
    quarantined = sum(int(i["quarantined"]) for i in touching)
    if duplicates:
        counts["duplicate"] = duplicates
    rows_priced = counts.pop("priced", 0)
    rows_excluded = sum(counts.values())
    rows_in = sum(int(i["records"]) for i in touching)
    if rows_in != rows_priced + rows_excluded + quarantined:
        raise AssertionError(f"conservation fails: {rows_in} in != {rows_priced} priced + {rows_excluded} "
                             f"excluded + {quarantined} quarantined")
    used = sorted(r["snapshot_id"] for r in rows.filter(rows.exclusion.isnull() & rows.snapshot_id.notnull())
                  .select("snapshot_id").distinct().to_pyarrow().to_pylist())
    inputs["snapshots"] = _snapshot_inputs(ws, used)
    exp_t, prov_t = aggregate.totals(rows, rule)
    expected = {r["currency"]: r["amount"] for r in exp_t.to_pyarrow().to_pylist()}
    provider = {r["currency"]: r["amount"] for r in prov_t.to_pyarrow().to_pylist()}
    unpriced = aggregate.unpriced_models(rows).to_pyarrow().to_pylist()

    lines = statements.lines_for(ws, period)
    results, unledgered = _compare(ws, period, lines, rows, rule, labels)
    every_snapshot = snaps if snapshot else pricing_svc.load_snapshots(ws, include_crosscheck=True)
    explain.explain_all(con, rows, results, period=period, snapshots=every_snapshot, used_snapshots=used,
                        rate_rows=table.rows, groups=groups, tolerance=ws.settings.tolerance,
                        arrow_table=_arrow_table)
    findings = explain.provider_findings(rows, ws.settings.tolerance)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "costproof_version": __version__,
        "run_id": run_id,
        "period": period,
        "window": {"start": iso(start), "end": iso(end), "timezone": "UTC", "end_exclusive": True},
        "engine": engine,
        "seq": seq,
        "inputs": inputs,
        "settings": settings,
        "forced_snapshot": snapshot,
        "rounding": {"rule": rule.name, "grain": rule.grain, "mode": rule.mode or None,
                     "places": rule.places or None},
        "pricing": {
            "meter_fallback": {k: v for k, v in sorted(METER_FALLBACK.items())},
            "tier_basis": TIER_BASIS,
            "rate_rows": len(table.rows),
            "rate_notes": table.notes,
            "inexact_unit_prices": table.inexact,
            "per_unit_precision": "DECIMAL(25,18) resolved in Python Decimal; meter cast to DECIMAL(12,0)",
            "group_ratio_source": "newapi-pricing snapshot group_ratio only (usage-log ratios are evidence)",
        },
        "conservation": {"rows_in": rows_in, "rows_priced": rows_priced, "rows_excluded": rows_excluded,
                         "rows_quarantined": quarantined, "holds": True},
        "exclusions": dict(sorted(counts.items())),
        "unpriced_models": [{"model": u["model"], "rows": int(u["rows"])} for u in unpriced],
        "expected": {c: to_str(v) for c, v in sorted(expected.items())},
        "provider_reported": {c: to_str(v) for c, v in sorted(provider.items())},
        "statements": sorted({ln["statement"] + "@" + ln["sha256"] for ln in lines}),
        "unledgered": unledgered,
        "provider_findings": findings,
        "rows_file": {"path": "rows.parquet", "window_days": WINDOW.days},
    }
    manifest_sha = hashlib.sha256(dumps(manifest).encode()).hexdigest()
    manifest_doc = {**manifest, "generated_at": iso(now)}
    (run_dir / "manifest.json").write_text(json.dumps(manifest_doc, indent=2, sort_keys=True) + "\n", "utf-8")
    with ws.transaction() as c:
        c.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  [run_id, period, seq, engine, dumps(used), rule.name, rows_in, rows_priced,
                   rows_excluded, quarantined, dumps({k: to_str(v) for k, v in expected.items()}),
                   dumps({k: to_str(v) for k, v in provider.items()}), dumps(manifest_doc), manifest_sha, now])
        if results:
            c.executemany("INSERT INTO variances VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          [[run_id, v["id"], period, v["statement"], v["line_id"], dumps(v["grain"]),
                            v["expected"], v["actual"], v["difference"], v["provider"], v["currency"],
                            v["matched"], v["bucket"], v["owner"], v["explanation"], dumps(v["evidence"]),
                            dumps({"quantity": v["quantity"], **v.get("details", {})})] for v in results])
    return summary(ws, run_id)


def _arrow_table(con: Any, name: str, arrow: Any) -> Any:
    if con.name == "duckdb":
        con.con.register(name, arrow)
        return con.table(name)
    return ibis.memtable(arrow)


def _materialize(con: Any, expr: Any, name: str) -> Any:
    """Compute the priced rows once; every count, total and comparison reads the result."""
    if con.name == "duckdb":
        # ibis 12's create_table(temp=True) emits a broken DROP on DuckDB 2; plain SQL is equivalent
        con.raw_sql(f"CREATE OR REPLACE TEMP TABLE {name} AS {ibis.to_sql(expr, dialect='duckdb')}")
        return con.table(name)
    return expr.cache()


def _groups(con: Any, files: list[str]) -> list[str]:
    if not files:
        return [""]
    t = con.read_parquet(files)
    got = t.select(grp=t.pricing_group.fill_null("")).distinct().to_pyarrow().column("grp").to_pylist()
    return sorted(set(got) | {""})


def _snapshot_inputs(ws: Workspace, ids: list[str]) -> list[dict[str, Any]]:
    out = []
    for sid in ids:
        s = ws.one("SELECT snapshot_id, format, sha256, evidence, effective_from, classification "
                   "FROM snapshots WHERE snapshot_id = ?", [sid])
        if s:
            out.append({"snapshot_id": sid, "format": s["format"], "sha256": s["sha256"],
                        "evidence": json.loads(s["evidence"]), "effective_from": iso(s["effective_from"]),
                        "classification": s["classification"]})
    return out


def _compare(ws: Workspace, period: str, lines: list[dict[str, Any]], rows: Any,
             rule: RoundingRule, labels: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    keysets = sorted({tuple(sorted(json.loads(ln["grain"]))) for ln in lines})
    expected: dict[Any, dict[str, Any]] = {}
    provider: dict[Any, dict[str, Any]] = {}
    for keys in keysets:
        for r in aggregate.expected_at(rows, list(keys), rule).to_pyarrow().to_pylist():
            values = tuple("" if r[k] is None else str(r[k]) for k in keys)
            expected[(keys, values, r["currency"])] = r
        for r in aggregate.provider_at(rows, list(keys)).to_pyarrow().to_pylist():
            values = tuple("" if r[k] is None else str(r[k]) for k in keys)
            provider[(keys, values, r["provider_reported_currency"])] = r
    results = compare(period, lines, expected, provider, ws.settings.tolerance, labels=labels)
    return results, _unledgered(lines, expected)


def _unledgered(lines: list[dict[str, Any]], expected: dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    """Expected cost at a statement's grain that none of its lines claims."""
    out = []
    by_statement: dict[str, set[Any]] = {}
    for ln in lines:
        grain = json.loads(ln["grain"])
        keys = tuple(sorted(grain))
        by_statement.setdefault(ln["statement"], set()).add((keys, tuple(grain[k] for k in keys), ln["currency"]))
    for statement, claimed in sorted(by_statement.items()):
        keysets = {k for k, _, _ in claimed}
        for (keys, values, currency), cell in sorted(expected.items()):
            if keys in keysets and (keys, values, currency) not in claimed and cell.get("expected"):
                out.append({"statement": statement, "grain": dict(zip(keys, values, strict=True)),
                            "currency": currency, "expected": to_str(cell["expected"])})
    return out


def latest_run(ws: Workspace, period: str) -> dict[str, Any] | None:
    return ws.one("SELECT * FROM runs WHERE period = ? ORDER BY seq DESC LIMIT 1", [period])


def summary(ws: Workspace, run_id: str) -> dict[str, Any]:
    r = ws.one("SELECT * FROM runs WHERE run_id = ?", [run_id])
    if r is None:
        raise InputError(f"no run {run_id!r}")
    manifest = json.loads(r["manifest"])
    counts = ws.one("""SELECT count(*) FILTER (WHERE matched) AS matched,
                              count(*) FILTER (WHERE NOT matched) AS open FROM variances WHERE run_id = ?""",
                    [run_id]) or {}
    return {
        "run_id": r["run_id"],
        "period": r["period"],
        "engine": r["engine"],
        "snapshot_ids": json.loads(r["snapshot_ids"]),
        "rounding": r["rounding"],
        "rows_in": r["rows_in"],
        "rows_priced": r["rows_priced"],
        "rows_excluded": r["rows_excluded"],
        "rows_quarantined": r["rows_quarantined"],
        "exclusions": manifest["exclusions"],
        "unpriced_models": manifest["unpriced_models"],
        "expected": json.loads(r["expected"]),
        "provider_reported": json.loads(r["provider"]),
        "lines_matched": counts.get("matched", 0),
        "variances_open": _open_after_dispositions(ws, run_id, counts.get("open", 0)),
        "manifest_sha256": r["manifest_sha256"],
        "created_at": iso(r["created_at"]),
    }


def _open_after_dispositions(ws: Workspace, run_id: str, unmatched: int) -> int:
    """Lines beyond tolerance that no disposition in force closes (the review workflow's view)."""
    if not unmatched:
        return 0
    from costproof.service import variances as var_svc

    rows = ws.rows("SELECT * FROM variances WHERE run_id = ? AND NOT matched", [run_id])
    closing = var_svc.closing_dispositions(ws, rows)
    return sum(1 for v in rows if var_svc.status_of(v, closing.get(v["variance_id"])) == "open")


def manifest_path(ws: Workspace, run_id: str) -> Path:
    return ws.run_dir(run_id) / "manifest.json"


__all__ = ["Decimal", "latest_run", "run_period", "summary"]
