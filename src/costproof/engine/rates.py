"""Resolve captured price rules into one wide, dated price table, exactly, in Python Decimal."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from costproof.model.meters import METER_FALLBACK, METERS
from costproof.model.pricing import PriceRule

MIN_TS = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TS = datetime(9999, 12, 31, tzinfo=UTC)
MAX_TIER = 10**15
PRICE_PLACES = Decimal(10) ** -18  # DECIMAL(25, 18): exact for every real per-token price
PRICE_MAX = Decimal(10) ** 7


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    seq: int
    effective_from: datetime
    rules: tuple[PriceRule, ...]
    group_ratios: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class RateTable:
    rows: list[dict[str, object]]
    notes: list[str]
    inexact: int = 0  # per-unit prices that needed rounding to 18 places

    @property
    def snapshot_ids(self) -> list[str]:
        return sorted({str(r["snapshot_id"]) for r in self.rows})


def build(snapshots: list[Snapshot], groups: list[str], *, forced: str | None = None) -> RateTable:
    """One row per (model, group, time band, tier band) with a resolved price per meter.

    A row is in force for [valid_from, valid_to) and for per-request input-token totals in
    [tier_lo, tier_hi). Prices are per single unit, group ratio and multipliers applied.
    """
    table = RateTable(rows=[], notes=[])
    chosen = [s for s in snapshots if forced is None or s.snapshot_id == forced]
    by_model: dict[str, list[tuple[datetime, int, Snapshot, list[PriceRule]]]] = defaultdict(list)
    for snap in chosen:
        per_model: dict[str, list[PriceRule]] = defaultdict(list)
        for rule in snap.rules:
            per_model[rule.model].append(rule)
        for model, rules in per_model.items():
            start = MIN_TS if forced else min(r.effective_from or snap.effective_from for r in rules)
            by_model[model].append((start, snap.seq, snap, rules))
    for model in sorted(by_model):
        entries = sorted(by_model[model], key=lambda e: (e[0], e[1]))
        for i, (start, _seq, snap, rules) in enumerate(entries):
            end = entries[i + 1][0] if i + 1 < len(entries) else MAX_TS
            if end <= start:
                continue  # superseded by a later capture with the same start
            _bands(table, model, snap, rules, start, end, groups, forced is not None)
    table.rows.sort(key=lambda r: (r["model"], r["grp"], r["valid_from"], r["tier_lo"]))
    return table


def _bands(table: RateTable, model: str, snap: Snapshot, rules: list[PriceRule], start: datetime,
           end: datetime, groups: list[str], forced: bool) -> None:
    def r_from(r: PriceRule) -> datetime:
        return MIN_TS if forced else (r.effective_from or snap.effective_from)

    def r_to(r: PriceRule) -> datetime:
        return MAX_TS if forced else (r.effective_to or MAX_TS)

    points = {start, end}
    for r in rules:
        for p in (r_from(r), r_to(r)):
            if start < p < end:
                points.add(p)
    edges = sorted(points)
    for a, b in zip(edges, edges[1:], strict=False):
        active = [r for r in rules if r_from(r) <= a < r_to(r)]
        if not active:
            continue
        tiers = sorted({r.tier_min for r in active})
        for j, lo in enumerate(tiers):
            hi = tiers[j + 1] if j + 1 < len(tiers) else MAX_TIER
            for grp in groups:
                row = _row(table, model, snap, active, lo, grp)
                if row is None:
                    continue
                row.update(valid_from=a, valid_to=b, tier_lo=lo, tier_hi=hi)
                table.rows.append(row)


def _row(table: RateTable, model: str, snap: Snapshot, active: list[PriceRule], tier: int,
         grp: str) -> dict[str, object] | None:
    picked: dict[str, PriceRule] = {}
    for meter in METERS:
        candidates = [r for r in active if r.meter == meter and r.tier_min <= tier
                      and (r.group is None or r.group == grp)]
        if candidates:
            # the highest tier reached wins; a group-specific rule beats a general one
            picked[meter] = max(candidates, key=lambda r: (r.tier_min, r.group is not None))
    if not picked:
        return None
    ratio = Decimal(1)
    if snap.group_ratios:
        key = grp or "default"
        if key in snap.group_ratios:
            ratio = snap.group_ratios[key]
        else:
            note = f"group {key!r} is not documented by snapshot {snap.snapshot_id}; ratio 1 used"
            if note not in table.notes:
                table.notes.append(note)
    currencies = {r.currency for r in picked.values()}
    if len(currencies) > 1:
        table.notes.append(f"{model}: rules in {sorted(currencies)} in snapshot {snap.snapshot_id}")
    row: dict[str, object] = {"model": model, "grp": grp, "snapshot_id": snap.snapshot_id,
                              "currency": sorted(currencies)[0], "group_ratio": ratio}
    for meter in METERS:
        rule = picked.get(meter)
        if rule is None and meter in METER_FALLBACK:
            rule = picked.get(METER_FALLBACK[meter])
        row[f"p_{meter}"] = None if rule is None else _exact(table, rule.price_per_unit() * ratio)
    return row


def _exact(table: RateTable, value: Decimal) -> Decimal:
    q = value.quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)
    if q != value:
        table.inexact += 1
    if q >= PRICE_MAX:
        raise ValueError(f"per-unit price {value} does not fit DECIMAL(25,18)")
    return q
