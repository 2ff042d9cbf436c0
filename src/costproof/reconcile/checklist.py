"""The 13-item operator checklist: one small pure function per item over the period's review facts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from costproof.model.money import to_str
from costproof.model.review import (
    ATTESTABLE,
    CHECKLIST_ITEMS,
    CONTRACT_ITEMS,
    Escalation,
    Facts,
    ItemResult,
    disposition_applies,
)
from costproof.model.variance import RoundingRule

Check = Callable[[Facts], ItemResult]
_TITLES = {ident: (n, title) for n, ident, title in CHECKLIST_ITEMS}


def _result(ident: str, passed: bool, detail: str, evidence: str | None, subjects: list[str] | tuple[str, ...] = (),
            **data: Any) -> ItemResult:
    n, title = _TITLES[ident]
    return ItemResult(n, ident, title, passed, detail, evidence, tuple(subjects), data)


def _no_run(ident: str, f: Facts) -> ItemResult:
    return _result(ident, False, f"no run for {f.period} yet (costproof run --period {f.period})", None)


def _manifest_link(f: Facts, pointer: str = "") -> str | None:
    return f"runs/{f.run['run_id']}/manifest.json{pointer}" if f.run else None


def closing(f: Facts, variance: dict[str, Any]) -> dict[str, Any] | None:
    """The disposition that closes a variance in its current figures, if any."""
    row = f.dispositions.get(variance["variance_id"])
    return row if disposition_applies(row, variance["difference"], f.tolerance) else None


# ---------------------------------------------------------------------------------------------- items
def pricing_captured(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("pricing_captured", f)
    if not f.used_snapshots:
        return _result("pricing_captured", False, "the run priced nothing: no snapshot in force for the period",
                       _manifest_link(f))
    bad, files, lines = [], [], []
    for sid in f.used_snapshots:
        s = f.snapshots.get(sid)
        if s is None or not s["evidence_ok"] or not s["accessed_at"]:
            bad.append(f"{sid}: evidence missing or failing its sha256")
            continue
        if s["source_kind"] != "url":
            files.append(sid)
        lines.append(f"{sid} {s['source']} accessed {s['accessed_at']}")
    if bad:
        return _result("pricing_captured", False, "; ".join(bad), _manifest_link(f, "#/inputs/snapshots"), bad)
    if files:
        return _result("pricing_captured", False,
                       f"captured from a local file, source URL not recorded: {', '.join(files)} "
                       "(re-capture from the URL, or attest where the file was downloaded from)",
                       _manifest_link(f, "#/inputs/snapshots"), files, sources=lines)
    first = f.snapshots[f.used_snapshots[0]]
    return _result("pricing_captured", True, "; ".join(lines), first["source"], sources=lines)


def pricing_crosschecked(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("pricing_crosschecked", f)
    checked = {c["a"] for c in f.crosschecks if c["kind"] == "cometapi" and c["recorded"] and c["compared"]}
    missing = [s for s in f.used_snapshots if s not in checked]
    pairs = [f"{c['a']} vs {c['b']} ({c['kind']}{', ' + c['recorded'] if c['recorded'] else ', automatic'}): "
             f"{c['compared']} models compared, {len(c['disagreements'])} price(s) used in the period differ"
             for c in f.crosschecks]
    if missing:
        return _result("pricing_crosschecked", False,
                       f"no recorded cross-check against a second CometAPI source for {', '.join(missing)} "
                       "(capture the pricing documentation and the public pricing page or /api/models, then "
                       "`costproof pricing crosscheck A B`; or attest a manual comparison)"
                       + (f"; {'; '.join(pairs)}" if pairs else ""), None, missing, comparisons=pairs)
    first = next(c for c in f.crosschecks if c["recorded"])
    return _result("pricing_crosschecked", True, "; ".join(pairs), f"costproof pricing crosscheck {first['a']} "
                   f"{first['b']} ({first['recorded']})", comparisons=pairs)


def contract_verified(f: Facts) -> ItemResult:
    oldest = f.end - timedelta(days=int(f.review.contract_max_age_days))
    missing, stale, done = [], [], []
    for c in f.contract:
        if not c["verified"]:
            missing.append(c["item"])
        elif c["verified_at"] < oldest.isoformat().replace("+00:00", "Z"):
            stale.append(c["item"])
        else:
            done.append(f"{c['item']} by {c['operator']} ({c['source']})")
    if missing or stale:
        parts = []
        if missing:
            parts.append(f"not verified: {', '.join(missing)}")
        if stale:
            parts.append(f"verified more than {f.review.contract_max_age_days} days before the period end: "
                         f"{', '.join(stale)}")
        return _result("contract_verified", False, "; ".join(parts) + " (costproof contract verify ITEM --value V "
                       "--source URL --operator NAME)", "costproof contract list", [*missing, *stale])
    sources = sorted({c["source"] for c in f.contract})
    return _result("contract_verified", True, f"{len(CONTRACT_ITEMS)} contract details verified: "
                   + "; ".join(done), sources[0] if sources else None)


def usage_coverage(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("usage_coverage", f)
    by_day = f.usage.get("requests_by_day", {})
    last = min(f.end, f.as_of) if f.as_of > f.start else f.end
    days, day = [], f.start
    while day < last:
        days.append(day.strftime("%Y-%m-%d"))
        day += timedelta(days=1)
    missing = [d for d in days if not by_day.get(d)]
    data = {"requests_by_day": by_day, "rows_by_model": f.usage.get("rows_by_model", {}),
            "first_at": f.usage.get("first_at"), "last_at": f.usage.get("last_at")}
    span = f"rows from {data['first_at']} to {data['last_at']}, {sum(by_day.values())} requests on " \
           f"{len(days) - len(missing)}/{len(days)} days, {len(data['rows_by_model'])} models"
    link = f"runs/{f.run['run_id']}/rows.parquet"
    if missing:
        return _result("usage_coverage", False, f"{span}; no rows on {', '.join(missing)} (import the missing "
                       "export, or attest that no traffic ran)", link, missing, **data)
    return _result("usage_coverage", True, span, link, **data)


def environments_separated(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("environments_separated", f)
    envs = f.usage.get("environments", {})
    shown = ", ".join(f"{k or '(none)'} {v}" for k, v in sorted(envs.items()))
    excluded = ", ".join(f.exclude_environments) or "nothing"
    unlabeled = f.usage.get("missing_environment", [])
    link = f"runs/{f.run['run_id']}/rows.parquet"
    if unlabeled:
        keys = [f"{u['api_key_name']} ({u['rows']} rows)" for u in unlabeled]
        return _result("environments_separated", False, f"rows by environment: {shown}; no environment for "
                       f"{', '.join(keys)} (add a label rule: costproof labels import FILE, then re-run)", link,
                       [u["api_key_name"] for u in unlabeled], environments=envs)
    return _result("environments_separated", True, f"rows by environment: {shown}; excluded from expected: "
                   f"{excluded}", link, environments=envs)


def failures_classified(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("failures_classified", f)
    parts, timed_out = [], 0
    for b in f.billing:
        exposure = ", ".join(f"{to_str(v)} {c}" for c, v in sorted(b["exposure"].items())) or "0"
        parts.append(f"{b['class']} {b['rows']} (policy {b['policy']}, priced exposure {exposure})")
        timed_out += b["timed_out"]
    return _result("failures_classified", True, "; ".join(parts) + f"; timed out {timed_out}",
                   f"runs/{f.run['run_id']}/rows.parquet", billing=[b["class"] for b in f.billing])


def models_priced(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("models_priced", f)
    problems = []
    priced = f.usage.get("priced_models", {})
    for model, snaps in sorted(priced.items()):
        for sid in snaps:
            s = f.snapshots.get(sid)
            if s is None or not s["evidence_ok"] or s["crosscheck_only"]:
                problems.append(f"{model}: priced by {sid}, which is not verified evidence")
    for m in f.mapping:
        if not m["target_priced"]:
            problems.append(f"mapping {m['alias']} -> {m['source_model_id']}: no captured price for the target")
    detail = ", ".join(f"{m} ({'+'.join(s)})" for m, s in sorted(priced.items()))
    if problems:
        return _result("models_priced", False, "; ".join(problems), _manifest_link(f, "#/inputs/snapshots"),
                       problems)
    return _result("models_priced", True, f"{len(priced)} models priced from verified snapshots: {detail}; "
                   f"{len(f.mapping)} mapping rows all target priced models", _manifest_link(f, "#/inputs"))


def unmapped_handled(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("unmapped_handled", f)
    unpriced = f.run["manifest"].get("unpriced_models", [])
    if not unpriced:
        return _result("unmapped_handled", True, "no unmapped models in the period", _manifest_link(f))
    shown = ", ".join(f"{u['model']} ({u['rows']} rows)" for u in unpriced)
    return _result("unmapped_handled", True, f"excluded from expected cost (unpriced_model): {shown}",
                   _manifest_link(f, "#/unpriced_models"), models=[u["model"] for u in unpriced])


def code_version(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("code_version", f)
    m, integrity = f.run["manifest"], f.run["integrity"]
    problems = []
    if not m.get("costproof_version"):
        problems.append("the manifest has no costproof_version")
    if not integrity["sha_ok"]:
        problems.append("the stored manifest does not hash to its recorded sha256")
    if not integrity["file_ok"]:
        problems.append(f"{integrity['path']} is missing or differs from the catalog copy")
    if problems:
        return _result("code_version", False, "; ".join(problems), integrity["path"], problems)
    return _result("code_version", True, f"costproof {m['costproof_version']}, manifest {m.get('schema')} "
                   f"sha256 {f.run['manifest_sha256']} (recomputed, matches)", integrity["path"])


def rounding_documented(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("rounding_documented", f)
    m = f.run["manifest"]
    r = m.get("rounding") or {}
    try:
        RoundingRule.parse(str(r.get("rule")))
        ok = bool(r.get("grain"))
    except ValueError:
        ok = False
    aggregation = [k for k in ("window", "pricing") if m.get(k)]
    if not ok or len(aggregation) < 2:
        return _result("rounding_documented", False, "the manifest lacks its rounding rule, window or pricing "
                       "notes", _manifest_link(f, "#/rounding"), ["rounding"])
    w = m["window"]
    return _result("rounding_documented", True,
                   f"rounding {r['rule']} at grain {r['grain']}; window {w['start']}..{w['end']} "
                   f"({w.get('timezone', 'UTC')}, end exclusive); tier basis: {m['pricing'].get('tier_basis')}; "
                   "expected aggregated to each statement line's own grain", _manifest_link(f, "#/rounding"))


def variances_bucketed(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("variances_bucketed", f)
    beyond = [v for v in f.variances if not v["matched"]]
    counts: dict[str, int] = {}
    uncaused = []
    for v in beyond:
        bucket = v["bucket"] or "unknown"
        counts[bucket] = counts.get(bucket, 0) + 1
        if bucket == "unknown" and closing(f, v) is None:
            uncaused.append(v["variance_id"])
    shown = ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"
    link = f"costproof variances --period {f.period} --all"
    if uncaused:
        return _result("variances_bucketed", False, f"{len(beyond)} variance(s) beyond tolerance by bucket: "
                       f"{shown}; no cause named yet for {', '.join(uncaused)}", link, uncaused, buckets=counts)
    return _result("variances_bucketed", True, f"{len(beyond)} variance(s) beyond tolerance by bucket: {shown}"
                   + ("; unknown ones closed by a disposition naming the cause" if counts.get("unknown") else ""),
                   link, buckets=counts)


def adjustments_evidenced(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("adjustments_evidenced", f)
    open_, incomplete = [], []
    for v in f.variances:
        if v["matched"]:
            continue
        d = closing(f, v)
        if d is None:
            open_.append(v["variance_id"])
    for target, d in sorted(f.dispositions.items()):
        missing = [k for k in ("owner", "reason") if not d[k]]
        if d["evidence"] in (None, "", "[]"):
            missing.append("evidence")
        if d["disposition"] == "corrected" and d["target_kind"] == "variance" and (d["amount"] is None or not d["leg"]):
            missing.append("amount and leg")
        if missing:
            incomplete.append(f"{target} ({d['disposition']}) lacks {', '.join(missing)}")
    closed = sum(1 for v in f.variances if not v["matched"]) - len(open_)
    link = f"costproof resolve --help; {len(f.dispositions)} disposition(s) for {f.period}"
    if open_ or incomplete:
        parts = []
        if open_:
            parts.append(f"{len(open_)} variance(s) without a disposition: {', '.join(open_)}")
        if incomplete:
            parts.append("; ".join(incomplete))
        return _result("adjustments_evidenced", False, "; ".join(parts), link, [*open_, *incomplete])
    corrected = [d for d in f.dispositions.values() if d["disposition"] == "corrected" and d["amount"] is not None]
    total = sum((Decimal(d["amount"]) for d in corrected), Decimal(0))
    return _result("adjustments_evidenced", True, f"{closed} variance(s) closed by dispositions with owner, reason "
                   f"and evidence; {len(corrected)} adjustment(s) totalling {to_str(total)} kept apart from the raw "
                   "figures", link)


def report_links(f: Facts) -> ItemResult:
    if not f.run:
        return _no_run("report_links", f)
    inputs = f.inputs
    broken = [f"snapshot {s['snapshot_id']}" for s in inputs.get("snapshots", []) if not s["ok"]]
    broken += [f"usage {u['import_id']} ({u['file']})" for u in inputs.get("usage", []) if not u["ok"]]
    broken += [f"statement {s['statement']}" for s in inputs.get("statements", []) if not s["ok"]]
    if not inputs.get("snapshots"):
        broken.append("no pricing snapshot in the run")
    if not inputs.get("usage"):
        broken.append("no usage export in the run")
    if broken:
        return _result("report_links", False, f"unresolvable links: {', '.join(broken)}",
                       _manifest_link(f, "#/inputs"), broken)
    snaps = ", ".join(s["snapshot_id"] for s in inputs["snapshots"])
    usage = ", ".join(f"{u['file']} (sha256 {u['sha256'][:12]}…)" for u in inputs["usage"])
    return _result("report_links", True, f"the run manifest links pricing snapshot(s) {snaps} and usage "
                   f"export(s) {usage}; every link resolves to checksummed content", _manifest_link(f, "#/inputs"))


ITEMS: tuple[Check, ...] = (pricing_captured, pricing_crosschecked, contract_verified, usage_coverage,
                            environments_separated, failures_classified, models_priced, unmapped_handled,
                            code_version, rounding_documented, variances_bucketed, adjustments_evidenced,
                            report_links)
assert tuple(c.__name__ for c in ITEMS) == tuple(i for _, i, _ in CHECKLIST_ITEMS)


def attested(item: ItemResult, attestations: list[dict[str, Any]]) -> tuple[ItemResult, dict[str, Any] | None]:
    """An attestable item passes when every failing subject is covered by an attestation."""
    if item.passed or item.id not in ATTESTABLE or not item.subjects or not attestations:
        return item, None
    covered = {s for a in attestations for s in a["covers"]}
    if not set(item.subjects) <= covered:
        return item, None
    last = attestations[-1]
    detail = f"{item.detail} — attested by {last['operator']} at {last['recorded_at']}" + \
             (f": {last['note']}" if last.get("note") else "")
    return ItemResult(item.n, item.id, item.title, True, detail, last["evidence"], item.subjects, item.data), last


def evaluate(f: Facts, escalations: list[tuple[Escalation, str]]) -> list[dict[str, Any]]:
    """All 13 items: computed, then attested where allowed, then failed by any open escalation they gate."""
    out = []
    for check in ITEMS:
        item, attestation = attested(check(f), f.attestations.get(check.__name__, []))
        blocking = [e.id for e, status in escalations if e.item == item.id and status == "open"]
        passed = item.passed and not blocking
        detail = item.detail
        if blocking:
            detail += f"; open escalation(s): {', '.join(blocking)}"
        out.append({"n": item.n, "id": item.id, "title": item.title, "passed": passed, "detail": detail,
                    "evidence": item.evidence, "attestable": item.id in ATTESTABLE,
                    "attestation": attestation, "failing": list(item.subjects) if not item.passed else [],
                    "escalations": blocking, **({"data": item.data} if item.data else {})})
    return out
