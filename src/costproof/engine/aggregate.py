"""Aggregations over priced rows: totals, exclusion counts, expected cost at any grain."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from costproof.engine.pricing import COST_TYPE, round_expr
from costproof.model.variance import RoundingRule

GRAIN_COLUMNS = {"model": "model", "cost_center": "cost_center", "project": "project",
                 "customer": "customer", "api_key_name": "api_key_name", "environment": "environment",
                 "day": "day"}


def exclusion_counts(rows: ir.Table) -> ir.Table:
    return rows.group_by(reason=rows.exclusion.fill_null("priced")).aggregate(rows=rows.count()).order_by("reason")


def expected_at(rows: ir.Table, keys: list[str], rounding: RoundingRule) -> ir.Table:
    """Expected cost (priced rows), provider-reported cost, requests and tokens by grain and currency."""
    in_period = rows.filter(rows.exclusion.isnull() | (rows.exclusion != "outside_period"))
    group_cols = [GRAIN_COLUMNS[k] for k in keys]
    priced = in_period.filter(in_period.exclusion.isnull())
    if rounding.grain == "day" and "day" not in keys:
        daily = priced.group_by([*group_cols, "day", "currency"]).aggregate(cost=priced.cost.sum())
        daily = daily.mutate(cost=round_expr(daily.cost, rounding.scale, rounding.mode))
        exp = daily.group_by([*group_cols, "currency"]).aggregate(expected=daily.cost.sum())
    else:
        exp = priced.group_by([*group_cols, "currency"]).aggregate(
            expected=priced.cost.sum(),
            requests=priced.requests.sum(),
            input_tokens=(priced.input_tokens.fill_null(0) + priced.cached_input_tokens.fill_null(0)
                          + priced.cache_write_tokens.fill_null(0) + priced.audio_input_tokens.fill_null(0)).sum(),
            output_tokens=(priced.output_tokens.fill_null(0) + priced.reasoning_tokens.fill_null(0)
                           + priced.audio_output_tokens.fill_null(0)).sum(),
        )
        if rounding.grain in ("line", "day"):
            exp = exp.mutate(expected=round_expr(exp.expected, rounding.scale, rounding.mode))
    return exp.mutate(expected=exp.expected.cast(COST_TYPE))


def provider_at(rows: ir.Table, keys: list[str]) -> ir.Table:
    in_period = rows.filter((rows.exclusion.isnull() | (rows.exclusion != "outside_period"))
                            & rows.provider_reported_cost.notnull())
    group_cols = [GRAIN_COLUMNS[k] for k in keys]
    return in_period.group_by([*group_cols, "provider_reported_currency"]).aggregate(
        provider=in_period.provider_reported_cost.sum())


def totals(rows: ir.Table, rounding: RoundingRule) -> tuple[ir.Table, ir.Table]:
    exp = expected_at(rows, [], rounding)
    exp = exp.select("currency", amount=exp.expected).order_by("currency")
    prov_rows = rows.filter((rows.exclusion.isnull() | (rows.exclusion != "outside_period"))
                            & rows.provider_reported_cost.notnull())
    prov = prov_rows.group_by(currency=prov_rows.provider_reported_currency).aggregate(
        amount=prov_rows.provider_reported_cost.sum()).order_by("currency")
    return exp, prov


def unpriced_models(rows: ir.Table) -> ir.Table:
    un = rows.filter(rows.exclusion == "unpriced_model")
    return un.group_by(model=un.model.fill_null("")).aggregate(rows=un.count()).order_by("model")


def ibis_null_str() -> ir.Value:
    return ibis.null("string")
