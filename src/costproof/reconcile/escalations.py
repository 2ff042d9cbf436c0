"""Escalation rules: pure functions over a period's review facts; each fired rule names an owner and an item."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal

from costproof.model.money import to_str
from costproof.model.review import Escalation, Facts
from costproof.model.variance import BUCKET_OWNERS

Rule = Callable[[Facts], list[Escalation]]


def escalation_id(period: str, rule: str, *subject: str) -> str:
    digest = hashlib.sha256("\x1f".join((period, rule, *subject)).encode()).hexdigest()[:8]
    return f"esc-{period}-{rule}-{digest}"


def price_disagreement(f: Facts) -> list[Escalation]:
    """Two CometAPI sources (same date), or a snapshot and the cross-check catalog, differ on a used price."""
    out = []
    for c in f.crosschecks:
        if not c["disagreements"]:
            continue
        models = sorted({d["model_a"] for d in c["disagreements"]})
        first = c["disagreements"][0]["message"]
        out.append(Escalation(
            id=escalation_id(f.period, "price", c["a"], c["b"]), rule="price_disagreement",
            owner=BUCKET_OWNERS["source"], item="pricing_crosschecked", subject=f"{c['a']} vs {c['b']}",
            detail=f"{len(c['disagreements'])} price(s) used in {f.period} disagree between {c['a']} and "
                   f"{c['b']} ({c['kind']}) on {', '.join(models)}; e.g. {first}. The period is paused.",
            evidence=(f"crosscheck {c['recorded']}" if c["recorded"] else f"costproof pricing crosscheck {c['a']} "
                      f"{c['b']}",), pauses=True,
            data={"disagreements": c["disagreements"]}))
    return out


def unmapped_model(f: Facts) -> list[Escalation]:
    """A model in usage with no price in the verified snapshots: excluded from expected until reviewed."""
    if not f.run:
        return []
    return [Escalation(
        id=escalation_id(f.period, "unmapped", u["model"]), rule="unmapped_model", owner=BUCKET_OWNERS["source"],
        item="unmapped_handled", subject=u["model"] or "(no model)",
        detail=f"{u['model'] or '(no model)'}: {u['rows']} row(s) in usage with no price rule and no mapping; "
               "excluded from expected cost until FinOps approves the exclusion (accepted) or adds a price or "
               "mapping and re-runs (corrected)",
        evidence=(f"runs/{f.run['run_id']}/manifest.json#/unpriced_models",))
        for u in f.run["manifest"].get("unpriced_models", [])]


def missing_usage_fields(f: Facts) -> list[Escalation]:
    rows = f.usage.get("missing_fields", [])
    total = sum(r["rows"] for r in rows)
    if not f.run or total <= f.review.missing_fields_max_rows:
        return []
    return [Escalation(
        id=escalation_id(f.period, "fields", str(total)), rule="missing_usage_fields", owner=BUCKET_OWNERS["usage"],
        item="usage_coverage", subject=f"{total} row(s)",
        detail=f"{total} successful billable row(s) lack a usage field pricing needs (model or token usage): "
               + ", ".join(f"{r['model_reported']} {r['rows']}" for r in rows),
        evidence=(f"runs/{f.run['run_id']}/rows.parquet",), data={"rows": rows})]


def billing_unverified(f: Facts) -> list[Escalation]:
    """Failed, retried or partial calls whose billing no source confirms (policy `unverified`) with exposure."""
    out = []
    threshold = f.review.billing_exposure_threshold
    for b in f.billing:
        over = {c: v for c, v in b["exposure"].items() if abs(v) > threshold}
        if b["policy"] != "unverified" or not over:
            continue
        amounts = ", ".join(f"{to_str(v)} {c}" for c, v in sorted(over.items()))
        out.append(Escalation(
            id=escalation_id(f.period, "billing", b["class"]), rule="billing_unverified",
            owner=BUCKET_OWNERS["contract"], item="failures_classified", subject=b["class"],
            detail=f"{b['rows']} {b['class']} call(s) with priced exposure {amounts}; billing policy is "
                   "`unverified` (no source confirms whether the provider bills them): kept out of expected, "
                   "shown as their own line. Confirm with the provider, then set [review.billing_policy] "
                   f"{b['class']} = excluded or billable",
            evidence=(f"runs/{f.run['run_id']}/rows.parquet",) if f.run else ()))
    return out


def unexplained_difference(f: Facts) -> list[Escalation]:
    """An `unknown`-bucket variance above the share of its line or the absolute amount."""
    out = []
    share, amount = f.review.unknown_escalation_share, f.review.unknown_escalation_amount
    for v in f.variances:
        if v["matched"] or (v["bucket"] or "unknown") != "unknown":
            continue
        diff, actual = abs(Decimal(v["difference"])), abs(Decimal(v["actual"]))
        if not (diff > share * actual or diff > amount):
            continue
        out.append(Escalation(
            id=escalation_id(f.period, "unknown", v["variance_id"]), rule="unexplained_difference",
            owner=BUCKET_OWNERS["unknown"], item="variances_bucketed", subject=v["variance_id"],
            detail=f"{v['line_id']}: difference {to_str(v['difference'])} {v['currency']} on a line of "
                   f"{to_str(v['actual'])} is above {share * 100:g}% of the line or {to_str(amount)} and no "
                   "timing, rounding or known exclusion explains it",
            evidence=(f"costproof variances --period {f.period} --all",), variance_id=v["variance_id"]))
    return out


def unidentified_price_source(f: Facts) -> list[Escalation]:
    """A ledger rate (amount ÷ quantity) that matches no price in any captured snapshot."""
    return [Escalation(
        id=escalation_id(f.period, "rate", r["statement"], r["line_id"]), rule="unidentified_price_source",
        owner=BUCKET_OWNERS["source"], item="models_priced", subject=r["line_id"],
        detail=f"{r['line_id']} ({r['model']}): the ledger's rate {r['implied_per_unit']} {r['currency']} per "
               f"{r['unit']} matches no captured price; capture the source it came from",
        evidence=(f"statement {r['statement']} line {r['line_id']}",))
        for r in f.ledger_rates if not r["matches"]]


def variance_growth(f: Facts) -> list[Escalation]:
    """A variance whose difference grew since the previous run of the same period."""
    out = []
    for v in f.variances:
        before = f.previous_differences.get(v["variance_id"])
        if before is None or v["matched"]:
            continue
        growth = abs(Decimal(v["difference"])) - abs(Decimal(before))
        if growth <= f.review.variance_growth_tolerance:
            continue
        out.append(Escalation(
            id=escalation_id(f.period, "growth", v["variance_id"], str(before), str(v["difference"])),
            rule="variance_growth", owner=v["owner"] or BUCKET_OWNERS["unknown"], item="variances_bucketed",
            subject=v["variance_id"],
            detail=f"{v['line_id']}: difference grew from {to_str(before)} to {to_str(v['difference'])} "
                   f"{v['currency']} between runs {f.previous_run_id} and {f.run['run_id'] if f.run else ''}",
            evidence=(f"costproof runs diff {f.previous_run_id} {f.run['run_id'] if f.run else ''}",),
            variance_id=v["variance_id"]))
    return out


RULES: tuple[Rule, ...] = (price_disagreement, unmapped_model, missing_usage_fields, billing_unverified,
                           unexplained_difference, unidentified_price_source, variance_growth)


def evaluate(f: Facts) -> list[Escalation]:
    """Every rule that fires, in rule order."""
    return [e for rule in RULES for e in rule(f)]
