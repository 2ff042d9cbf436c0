"""The row-level pricing expression: labels, mapping, price join, exclusions, cost per row."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from costproof.model.meters import METERS
from costproof.model.usage import LABEL_COLUMNS
from costproof.model.variance import RoundingRule

PRICE_TYPE = "decimal(25, 18)"
METER_TYPE = "decimal(12, 0)"
COST_TYPE = "decimal(38, 18)"
KIND_REASONS = {"refund": "refund", "topup": "topup", "manage": "manage", "system": "system",
                "login": "system", "unknown": "system", "error": "error"}
# per-unit prices kept on each priced row, so contract hypotheses re-price without a new join
KEPT_PRICES = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
EXCLUSION_REASONS = ("outside_period", "duplicate", "error", "refund", "topup", "manage", "system",
                     "test_environment", "unpriced_model")


@dataclass(frozen=True)
class LabelRule:
    match_key: str  # api_key_name | project
    pattern: str  # exact name or glob
    values: dict[str, str]


@dataclass(frozen=True)
class Alias:
    alias: str
    model: str
    valid_from: datetime
    valid_to: datetime


def rate_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    price = pa.decimal128(25, 18)
    ts = pa.timestamp("us", tz="UTC")
    fields = [("model", pa.string()), ("grp", pa.string()), ("snapshot_id", pa.string()),
              ("currency", pa.string()), ("valid_from", ts), ("valid_to", ts),
              ("tier_lo", pa.int64()), ("tier_hi", pa.int64()),
              *((f"p_{m}", price) for m in METERS)]
    schema = pa.schema(fields)
    return pa.table({name: [r.get(name) for r in rows] for name, _ in fields}, schema=schema)


def glob_regex(pattern: str) -> str:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return "^" + "".join(out) + "$"


def apply_labels(t: ir.Table, rules: list[LabelRule]) -> ir.Table:
    """Explicit labels win; otherwise the first matching rule gives every label column."""
    if not rules:
        return t
    # match each rule once per row (regexes are the costly part), then read labels by rule number
    branches = []
    for n, rule in enumerate(rules, start=1):
        source = t.api_key_name if rule.match_key == "api_key_name" else t.project
        branches.append((source.re_search(glob_regex(rule.pattern)).fill_null(False), ibis.literal(n)))
    t = t.mutate(_label_rule=ibis.cases(*branches, else_=ibis.literal(0)))
    updates = {}
    for col in LABEL_COLUMNS:
        values = [(t._label_rule == n, ibis.literal(rule.values[col], type="string"))
                  for n, rule in enumerate(rules, start=1) if rule.values.get(col)]
        if values:
            updates[col] = t[col].coalesce(ibis.cases(*values, else_=ibis.null("string")))
    return t.mutate(**updates).drop("_label_rule")


def apply_mapping(t: ir.Table, aliases: list[Alias]) -> ir.Table:
    if not aliases:
        return t.mutate(model=t.model_reported)
    branches = [
        ((t.model_reported == a.alias) & (t.occurred_at >= a.valid_from) & (t.occurred_at < a.valid_to),
         ibis.literal(a.model))
        for a in aliases
    ]
    return t.mutate(model=ibis.cases(*branches, else_=t.model_reported))


def tier_basis(t: ir.Table) -> ir.Value:
    return (t.input_tokens.fill_null(0) + t.cached_input_tokens.fill_null(0)
            + t.cache_write_tokens.fill_null(0) + t.audio_input_tokens.fill_null(0))


def round_expr(x: ir.DecimalValue, scale: int, mode: str) -> ir.DecimalValue:
    """Round a decimal exactly in SQL: half-up is half away from zero, half-even is banker's."""
    factor = ibis.literal(Decimal(10) ** scale, type="decimal(20, 0)")
    unit = ibis.literal(Decimal(10) ** -scale, type=f"decimal({scale + 1}, {scale})")
    q = x * factor
    f = q.floor()
    r = q - f
    half = ibis.literal(Decimal("0.5"), type="decimal(2, 1)")
    if mode == "half-up":
        up = ibis.cases((r > half, f + 1), (r < half, f), else_=ibis.ifelse(x >= 0, f + 1, f))
    else:
        up = ibis.cases((r > half, f + 1), (r < half, f), else_=ibis.ifelse(f % 2 == 0, f, f + 1))
    return (up * unit).cast(COST_TYPE)


def priced(
    usage: ir.Table,
    rates: ir.Table,
    *,
    start: datetime,
    end: datetime,
    aliases: list[Alias],
    labels: list[LabelRule],
    exclude_environments: tuple[str, ...],
    rounding: RoundingRule,
) -> ir.Table:
    """Every usage row with its resolved model, price band, cost and exclusion reason (or null)."""
    t = apply_labels(usage, labels)
    t = apply_mapping(t, aliases)
    t = t.mutate(grp=t.pricing_group.fill_null(""), tier_basis=tier_basis(t))
    joined = t.left_join(
        rates,
        [
            t.model == rates.model,
            t.grp == rates.grp,
            t.occurred_at >= rates.valid_from,
            t.occurred_at < rates.valid_to,
            t.tier_basis >= rates.tier_lo,
            t.tier_basis < rates.tier_hi,
        ],
    )
    keep = [c for c in t.columns if c not in ("grp", "tier_basis")]
    j = joined.select(*[joined[c] for c in keep], joined.snapshot_id, joined.currency,
                      *[joined[f"p_{m}"] for m in METERS])
    zero = ibis.literal(Decimal(0), type=COST_TYPE)
    cost = zero
    for m in METERS:
        cost = cost + (j[m].fill_null(0).cast(METER_TYPE) * j[f"p_{m}"].fill_null(Decimal(0)))
    unpriced_meters = ibis.literal(0)
    for m in METERS:
        unpriced_meters = unpriced_meters + ibis.ifelse((j[m].fill_null(0) > 0) & j[f"p_{m}"].isnull(), 1, 0)
    in_period = (j.occurred_at >= start) & (j.occurred_at < end)
    kind_branches = [(j.record_kind == k, ibis.literal(v)) for k, v in KIND_REASONS.items()]
    envs = list(exclude_environments) or ["\x00none"]
    # the reason a row would be excluded whatever the window: timing hypotheses shift the window
    base_reason = ibis.cases(
        *kind_branches,
        (j.status_class.isin(["4xx", "5xx"]), ibis.literal("error")),
        (j.environment.isin(envs).fill_null(False), ibis.literal("test_environment")),
        (j.snapshot_id.isnull(), ibis.literal("unpriced_model")),
        else_=ibis.null("string"),
    )
    reason = ibis.ifelse(~in_period, ibis.literal("outside_period"), base_reason)
    cost = ibis.ifelse(j.snapshot_id.isnull(), ibis.null(COST_TYPE), cost.cast(COST_TYPE))
    if rounding.grain == "row":
        cost = round_expr(cost, rounding.scale, rounding.mode)
    return j.mutate(
        day=j.occurred_at.strftime("%Y-%m-%d"),
        exclusion=reason,
        base_exclusion=base_reason,
        cost=cost,
        unpriced_meters=unpriced_meters,
    ).drop(*[f"p_{m}" for m in METERS if m not in KEPT_PRICES])
