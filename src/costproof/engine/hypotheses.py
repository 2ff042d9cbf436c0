"""Re-runs of a period's priced rows under each hypothesis, aggregated at a statement grain.

Every figure is an Ibis expression over the run's priced rows (no re-import, no re-pricing join
except for another snapshot's prices), so all open lines of one grain are explained in a few scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import ibis
import ibis.expr.types as ir

from costproof.engine.aggregate import GRAIN_COLUMNS
from costproof.engine.pricing import COST_TYPE, METER_TYPE, round_expr

SHIFTS = tuple(h for h in range(-12, 13) if h)  # local-time cuts UTC-12 .. UTC+12
ROW_ROUNDINGS = (("half-up", 2), ("half-even", 2), ("half-up", 3), ("half-even", 3))


@dataclass(frozen=True)
class Hypothesis:
    name: str
    bucket: str
    title: str


CATALOG: dict[str, Hypothesis] = {
    h.name: h
    for h in (
        Hypothesis("retries_counted", "usage", "retried requests counted twice (failed attempt billed like its retry)"),
        Hypothesis("test_traffic_counted", "usage", "test-environment traffic counted as billable"),
        Hypothesis("staging_left_out", "usage", "staging traffic left out of the statement"),
        Hypothesis("rows_missing_requests", "usage", "rows missing from the usage log (statement's request count)"),
        Hypothesis("rows_missing_gap", "usage", "rows missing from the usage log (days without rows)"),
        Hypothesis("errors_billed", "contract", "failed requests billed"),
        Hypothesis("partial_unbilled", "contract", "partial (cut) responses not billed"),
        Hypothesis("cache_full_price", "contract", "cached input tokens billed at the full input price"),
        Hypothesis("reasoning_unbilled", "contract", "reasoning tokens not billed"),
        Hypothesis("unit_per_1k", "source", "unit mismatch: prices read per 1K instead of per 1M tokens (x1000)"),
        Hypothesis("unit_per_1m", "source", "unit mismatch: prices read per 1M instead of per 1K tokens (/1000)"),
        *(Hypothesis(f"timezone_{'+' if h > 0 else '-'}{abs(h):02d}", "timing",
                     f"period cut at UTC{'+' if h > 0 else '-'}{abs(h):02d}:00 instead of UTC") for h in SHIFTS),
        *(Hypothesis(f"row_{m}_{10 ** -s:.{s}f}", "rounding", f"each row rounded {m} to {10 ** -s:.{s}f}")
          for m, s in ROW_ROUNDINGS),
        *(Hypothesis(f"day_{m}_{10 ** -s:.{s}f}", "rounding", f"each day rounded {m} to {10 ** -s:.{s}f}")
          for m, s in ROW_ROUNDINGS),
        *(Hypothesis(f"line_{m}_{10 ** -s:.{s}f}", "rounding", f"the line rounded {m} to {10 ** -s:.{s}f}")
          for m, s in ROW_ROUNDINGS),
    )
}


def _dec(x: ir.Value) -> ir.Value:
    return x.cast(COST_TYPE)


def _sum_if(cond: ir.BooleanValue, value: ir.Value) -> ir.Value:
    return ibis.ifelse(cond, value, ibis.literal(Decimal(0), type=COST_TYPE)).sum()


def figures(rows: ir.Table, keys: list[str], start: datetime, end: datetime) -> ir.Table:
    """One row per (grain cell, currency) with the expected cost under every row-level hypothesis."""
    cols = [GRAIN_COLUMNS[k] for k in keys]
    zero = ibis.literal(Decimal(0), type=COST_TYPE)
    cost = rows.cost.fill_null(zero)
    in_period = (rows.occurred_at >= start) & (rows.occurred_at < end)
    ok = rows.base_exclusion.isnull()
    priced = in_period & ok
    cached_delta = (rows.cached_input_tokens.fill_null(0).cast(METER_TYPE)
                    * (rows.p_input_tokens.fill_null(Decimal(0)) - rows.p_cached_input_tokens.fill_null(Decimal(0))))
    reasoning = rows.reasoning_tokens.fill_null(0).cast(METER_TYPE) * rows.p_reasoning_tokens.fill_null(Decimal(0))
    aggs: dict[str, ir.Value] = {
        "base": _sum_if(priced, cost),
        "rows": priced.sum(),
        "requests": ibis.ifelse(priced, rows.requests.fill_null(0), 0).sum(),
        "retry_cost": _sum_if(priced & rows.is_retry.fill_null(False), cost),
        "retry_rows": (priced & rows.is_retry.fill_null(False)).sum(),
        "test_cost": _sum_if(in_period & (rows.base_exclusion == "test_environment"), cost),
        "test_rows": (in_period & (rows.base_exclusion == "test_environment")).sum(),
        "staging_cost": _sum_if(priced & (rows.environment == "staging"), cost),
        "staging_rows": (priced & (rows.environment == "staging")).sum(),
        "error_cost": _sum_if(in_period & (rows.base_exclusion == "error"), cost),
        "error_rows": (in_period & (rows.base_exclusion == "error")).sum(),
        "partial_cost": _sum_if(priced & rows.is_partial.fill_null(False), cost),
        "partial_rows": (priced & rows.is_partial.fill_null(False)).sum(),
        "cache_delta": _sum_if(priced, _dec(cached_delta)),
        "reasoning_cost": _sum_if(priced, _dec(reasoning)),
        "days_with_rows": ibis.ifelse(priced, rows.day, ibis.null("string")).nunique(),
    }
    for h in SHIFTS:
        lo, hi = start - timedelta(hours=h), end - timedelta(hours=h)
        aggs[f"tz_{h}"] = _sum_if(ok & (rows.occurred_at >= lo) & (rows.occurred_at < hi), cost)
    for mode, scale in ROW_ROUNDINGS:
        aggs[f"row_{mode}_{scale}"] = _sum_if(priced, round_expr(cost, scale, mode))
    out = rows.group_by([*cols, "currency"]).aggregate(**aggs)
    for mode, scale in ROW_ROUNDINGS:
        out = out.mutate(**{f"line_{mode}_{scale}": round_expr(out.base, scale, mode)})
    return out


def day_rounded(rows: ir.Table, keys: list[str], start: datetime, end: datetime) -> ir.Table:
    cols = [GRAIN_COLUMNS[k] for k in keys]
    priced = rows.filter((rows.occurred_at >= start) & (rows.occurred_at < end) & rows.base_exclusion.isnull())
    daily = priced.group_by([*cols, *([] if "day" in cols else ["day"]), "currency"]).aggregate(
        cost=priced.cost.sum())
    daily = daily.mutate(**{f"day_{m}_{s}": round_expr(daily.cost, s, m) for m, s in ROW_ROUNDINGS})
    return daily.group_by([*cols, "currency"]).aggregate(
        **{f"day_{m}_{s}": daily[f"day_{m}_{s}"].sum() for m, s in ROW_ROUNDINGS})


def repriced(rows: ir.Table, rates: ir.Table, keys: list[str], start: datetime, end: datetime) -> ir.Table:
    """The cells' cost with another snapshot's prices (rows that snapshot cannot price keep theirs)."""
    cols = [GRAIN_COLUMNS[k] for k in keys]
    from costproof.engine.pricing import tier_basis
    from costproof.model.meters import METERS

    r = rows.filter((rows.occurred_at >= start) & (rows.occurred_at < end) & rows.base_exclusion.isnull())
    r = r.mutate(grp_key=r.pricing_group.fill_null(""), tier_key=tier_basis(r))
    alt_rates = rates.rename("alt_{name}")
    j = r.left_join(alt_rates, [r.model == alt_rates.alt_model, r.grp_key == alt_rates.alt_grp,
                                r.tier_key >= alt_rates.alt_tier_lo, r.tier_key < alt_rates.alt_tier_hi])
    alt = ibis.literal(Decimal(0), type=COST_TYPE)
    for m in METERS:
        alt = alt + j[m].fill_null(0).cast(METER_TYPE) * j[f"alt_p_{m}"].fill_null(Decimal(0))
    missing = j.alt_snapshot_id.isnull()
    alt = ibis.ifelse(missing, j.cost.fill_null(Decimal(0)), alt.cast(COST_TYPE))
    j = j.mutate(alt=alt.cast(COST_TYPE), covered=~missing)
    return j.group_by([*cols, j.currency]).aggregate(figure=j.alt.sum(), covered=j.covered.sum(),
                                                     rows=j.count())


def meter_sums(rows: ir.Table, keys: list[str], start: datetime, end: datetime) -> ir.Table:
    """Token and request totals per cell and model, to price as a sibling model."""
    from costproof.model.meters import METERS

    cols = [GRAIN_COLUMNS[k] for k in keys]
    r = rows.filter((rows.occurred_at >= start) & (rows.occurred_at < end) & rows.base_exclusion.isnull())
    by = [*cols, "currency", *([] if "model" in cols else ["model"])]
    return r.group_by(by).aggregate(
        cost=r.cost.sum(), **{m: r[m].fill_null(0).sum() for m in METERS})


def daily_counts(rows: ir.Table, keys: list[str], start: datetime, end: datetime) -> ir.Table:
    cols = [GRAIN_COLUMNS[k] for k in keys]
    r = rows.filter((rows.occurred_at >= start) & (rows.occurred_at < end) & rows.base_exclusion.isnull())
    return r.group_by([*cols, "currency", *([] if "day" in cols else ["day"])]).aggregate(
        cost=r.cost.sum(), rows=r.count())
