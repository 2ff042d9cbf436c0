"""Explain a run's open variances by re-running its priced rows under each hypothesis."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import ibis

from costproof.engine import hypotheses as hyp
from costproof.engine import rates as rates_mod
from costproof.engine.pricing import COST_TYPE, rate_arrow
from costproof.model.meters import METERS
from costproof.model.money import to_str
from costproof.model.variance import BUCKET_OWNERS
from costproof.reconcile.explain import decide
from costproof.service.common import period_bounds

ZERO = Decimal(0)
PERIOD_DAYS_MIN_ACTIVE = 3  # a gap is only inferred inside a slice with at least this many active days


def _cell_key(keys: tuple[str, ...], row: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    return tuple("" if row[k] is None else str(row[k]) for k in keys), row["currency"]


def _index(table: Any, keys: tuple[str, ...]) -> dict[Any, dict[str, Any]]:
    return {_cell_key(keys, r): r for r in table.to_pyarrow().to_pylist()}


def explain_all(con: Any, rows: Any, results: list[dict[str, Any]], *, period: str, snapshots: list[Any],
                used_snapshots: list[str], rate_rows: list[dict[str, Any]], groups: list[str],
                tolerance: Decimal, arrow_table: Any) -> None:
    """Fill bucket, owner, explanation and details on each open result, in place."""
    start, end = period_bounds(period)
    open_ = [r for r in results if not r["matched"]]
    keysets = sorted({tuple(sorted(r["grain"])) for r in open_})
    # every snapshot is a candidate: re-pricing with the one already in force changes nothing and is skipped
    alternatives = list(snapshots)
    alt_tables = {}
    for snap in alternatives:
        table = rates_mod.build([snap], groups, forced=snap.snapshot_id)
        if table.rows:
            alt_tables[snap.snapshot_id] = arrow_table(con, f"alt_{snap.snapshot_id.replace('-', '_')}",
                                                       rate_arrow(table.rows))
    siblings = _sibling_prices(rate_rows)
    for keys in keysets:
        fig = _index(hyp.figures(rows, list(keys), start, end), keys)
        day = _index(hyp.day_rounded(rows, list(keys), start, end), keys)
        alt = {sid: _index(hyp.repriced(rows, t, list(keys), start, end), keys) for sid, t in alt_tables.items()}
        daily: dict[Any, list[dict[str, Any]]] = {}
        for r in hyp.daily_counts(rows, list(keys), start, end).to_pyarrow().to_pylist():
            daily.setdefault(_cell_key(keys, r), []).append(r)
        meters: dict[Any, list[dict[str, Any]]] = {}
        if "model" in keys:
            for r in hyp.meter_sums(rows, list(keys), start, end).to_pyarrow().to_pylist():
                meters.setdefault(_cell_key(keys, r), []).append(r)
        for res in open_:
            if tuple(sorted(res["grain"])) != keys:
                continue
            cell = (tuple(res["grain"][k] for k in keys), res["currency"])
            reruns = _reruns(res, fig.get(cell), day.get(cell), {s: a.get(cell) for s, a in alt.items()},
                             daily.get(cell, []), meters.get(cell, []), siblings, start, end)
            verdict = decide(res["actual"], res["expected"], reruns, tolerance)
            res["bucket"], res["owner"] = verdict["bucket"], verdict["owner"]
            res["explanation"] = verdict["explanation"]
            res["details"] = {k: verdict[k] for k in ("ambiguous", "candidates", "hypothesis", "runner_up", "reruns")}
            res["details"]["gap"] = to_str(verdict["gap"])
            if verdict["hypothesis"]:
                res["evidence"] = [*res["evidence"], {"kind": "rerun", **verdict["hypothesis"]}]


def _reruns(res: dict[str, Any], f: dict[str, Any] | None, day: dict[str, Any] | None,
            alt: dict[str, dict[str, Any] | None], daily: list[dict[str, Any]], meters: list[dict[str, Any]],
            siblings: dict[str, dict[str, Decimal]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, figure: Decimal, evidence: dict[str, Any], *, bucket: str | None = None,
            title: str | None = None, estimate: bool = False) -> None:
        h = hyp.CATALOG.get(name)
        out.append({"name": name, "bucket": bucket or h.bucket, "title": title or h.title,  # type: ignore[union-attr]
                    "figure": figure, "evidence": evidence, "order": len(out), "estimate": estimate})

    if f is None:
        return out
    base = f["base"] or ZERO
    if f["retry_rows"]:
        add("retries_counted", base + f["retry_cost"], {"retry_rows": f["retry_rows"]})
    if f["test_rows"]:
        add("test_traffic_counted", base + f["test_cost"], {"test_rows": f["test_rows"]})
    if f["staging_rows"]:
        add("staging_left_out", base - f["staging_cost"], {"staging_rows": f["staging_rows"]})
    if f["error_rows"] and f["error_cost"]:
        add("errors_billed", base + f["error_cost"], {"error_rows": f["error_rows"]})
    if f["partial_rows"]:
        add("partial_unbilled", base - f["partial_cost"], {"partial_rows": f["partial_rows"]})
    if f["cache_delta"]:
        add("cache_full_price", base + f["cache_delta"], {"rows": f["rows"]})
    if f["reasoning_cost"]:
        add("reasoning_unbilled", base - f["reasoning_cost"], {"rows": f["rows"]})
    if base:
        add("unit_per_1k", base * 1000, {"factor": "1000"})
        add("unit_per_1m", base / 1000, {"factor": "0.001"})
    for h in hyp.SHIFTS:
        figure = f[f"tz_{h}"] or ZERO
        if figure != base:
            sign = "+" if h > 0 else "-"
            lo = (start - _hours(h)).isoformat().replace("+00:00", "Z")
            hi = (end - _hours(h)).isoformat().replace("+00:00", "Z")
            add(f"timezone_{sign}{abs(h):02d}", figure, {"window": [lo, hi]})
    for mode, scale in hyp.ROW_ROUNDINGS:
        places = f"{10 ** -scale:.{scale}f}"
        for grain, source in (("row", f), ("line", f), ("day", day or {})):
            figure = source.get(f"{grain}_{mode}_{scale}")
            if figure is not None and figure != base:
                add(f"{grain}_{mode}_{places}", figure, {"rule": f"{grain}-{mode}-{places}"})
    for sid, a in sorted(alt.items()):
        if a and a["covered"] and a["figure"] != base:
            add(f"snapshot_{sid}", a["figure"], {"snapshot_id": sid, "rows_repriced": a["covered"]},
                bucket="source", title=f"priced with snapshot {sid} instead")
    quantity = res.get("quantity") or {}
    unit = (quantity.get("unit") or "").lower()
    if quantity and unit.startswith("request") and f["requests"]:
        stmt = Decimal(quantity["statement"])
        if stmt != f["requests"]:
            add("rows_missing_requests", base * stmt / Decimal(f["requests"]),
                {"statement_requests": str(stmt), "log_requests": f["requests"]}, estimate=True)
    gap = _gap(daily)
    if gap:
        add("rows_missing_gap", base + gap["estimate"], {k: v for k, v in gap.items() if k != "estimate"},
            estimate=True)
    for m in meters:
        for other, prices in sorted(siblings.items()):
            if other == m["model"]:
                continue
            figure = base - (m["cost"] or ZERO) + sum((Decimal(m[meter] or 0) * p for meter, p in prices.items()),
                                                      ZERO)
            add(f"alias_{other}", figure, {"model": m["model"], "priced_as": other}, bucket="source",
                title=f"alias mapped to {other} instead of {m['model']}")
    return out


def _hours(h: int) -> Any:
    from datetime import timedelta

    return timedelta(hours=h)


def _gap(daily: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Days inside the slice's active range without any row: estimate them at the mean daily cost."""
    if len(daily) < PERIOD_DAYS_MIN_ACTIVE:
        return None
    from datetime import date, timedelta

    days = sorted(date.fromisoformat(d["day"]) for d in daily)
    have = set(days)
    missing = [days[0] + timedelta(n) for n in range((days[-1] - days[0]).days + 1)
               if days[0] + timedelta(n) not in have]
    if not missing:
        return None
    mean = sum((d["cost"] or ZERO for d in daily), ZERO) / len(daily)
    return {"estimate": mean * len(missing), "missing_days": [d.isoformat() for d in missing][:31],
            "active_days": len(daily)}


def _sibling_prices(rate_rows: list[dict[str, Any]]) -> dict[str, dict[str, Decimal]]:
    """Base-tier, no-group prices per model from the run's rate table (the latest band wins)."""
    out: dict[str, dict[str, Decimal]] = {}
    for r in sorted(rate_rows, key=lambda r: (r["model"], r["valid_from"])):
        if r["tier_lo"] == 0 and r["grp"] == "":
            out[str(r["model"])] = {m: r[f"p_{m}"] for m in METERS if r[f"p_{m}"] is not None}
    return out


def provider_findings(rows: Any, tolerance: Decimal) -> list[dict[str, Any]]:
    """Provider-reported vs expected per model over the same priced rows; tests the log's group ratio."""
    priced = rows.filter(rows.exclusion.isnull() & rows.provider_reported_cost.notnull())
    ratio = priced.provider_ratios.re_extract(r'"group_ratio": "([0-9.]+)"', 1)
    ratio = ibis.ifelse(ratio.isnull() | (ratio == ""), "1", ratio).cast("decimal(20, 10)")
    cost = priced.cost.fill_null(Decimal(0))
    t = priced.mutate(ratio_cost=(cost * ratio).cast(COST_TYPE), ratio_text=ratio.cast("string"))
    agg = t.group_by(["model", "currency"]).aggregate(
        expected=t.cost.sum(), provider=t.provider_reported_cost.sum(), with_ratio=t.ratio_cost.sum(),
        rows=t.count(), ratios=t.ratio_text.collect(distinct=True))
    out = []
    for r in agg.order_by(["model", "currency"]).to_pyarrow().to_pylist():
        diff = (r["provider"] or ZERO) - (r["expected"] or ZERO)
        if abs(diff) <= tolerance:
            continue
        ratios = sorted({Decimal(x).normalize() for x in r["ratios"] or []} - {Decimal(1)})
        finding = {"model": r["model"], "currency": r["currency"], "rows": r["rows"],
                   "expected": to_str(r["expected"]), "provider_reported": to_str(r["provider"]),
                   "difference": to_str(diff), "bucket": "unknown", "owner": BUCKET_OWNERS["unknown"],
                   "explanation": "provider-reported cost differs from the recomputed expected cost"}
        if ratios and abs((r["provider"] or ZERO) - (r["with_ratio"] or ZERO)) <= max(tolerance, abs(diff) / 100):
            finding.update(bucket="source", owner=BUCKET_OWNERS["source"],
                           explanation=f"the provider applied group_ratio {', '.join(map(str, ratios))} from its "
                                       "usage log, which no captured pricing source documents; re-run with it gives "
                                       f"{to_str(r['with_ratio'])}")
        out.append(finding)
    return out


__all__ = ["explain_all", "json", "provider_findings"]
