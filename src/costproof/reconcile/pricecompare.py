"""Pure price comparisons between two rate cards: a snapshot diff and a cross-source check."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from costproof.model.meters import METERS, TOKEN_METERS
from costproof.model.pricing import PriceRule
from costproof.model.variance import BUCKET_OWNERS

PER_M = Decimal(1_000_000)
PCT_PLACES = Decimal("0.01")
# A price that moved by exactly one of these factors is almost surely a per-1K / per-1M / per-token
# mix-up, not a price change (FORMATS.md pitfall 22).
UNIT_ERROR_FACTORS = (Decimal(1000), Decimal(1_000_000))

SINGULAR = {"images": "image", "requests": "request", "seconds": "second"}
Key = tuple[str, str, int, str]  # model, meter, tier_min, group ("" = any group)


def normalized_price(rule: PriceRule) -> Decimal:
    """Price per 1M tokens for token meters, per one unit otherwise, multiplier applied."""
    with localcontext() as ctx:
        ctx.prec = 50
        per_unit = rule.unit_price * rule.multiplier / Decimal(rule.per_quantity)
        return per_unit * PER_M if rule.meter in TOKEN_METERS else per_unit


def unit_label(rule: PriceRule) -> str:
    if rule.meter in TOKEN_METERS:
        return f"{rule.currency} per 1M {rule.meter}"
    return f"{rule.currency} per {SINGULAR.get(rule.meter, rule.meter)}"


def select_rules(rules: Iterable[PriceRule], *, at: datetime | None = None) -> tuple[dict[Key, PriceRule], list[str]]:
    """One rule per (model, meter, tier, group): the one in force at `at` ([from, to) windows),
    or without `at` the one with the latest effective_from (undated rules count as earliest)."""
    chosen: dict[Key, PriceRule] = {}
    warnings: list[str] = []
    floor = datetime.min.replace(tzinfo=UTC)
    # A total order over every field, so duplicates resolve the same way whatever the input order.
    ordered = sorted(
        rules,
        key=lambda r: (
            _key(r),
            r.effective_from or floor,
            r.source_ref,
            r.unit_price,
            r.per_quantity,
            r.multiplier,
            r.currency,
            r.effective_to or floor,
            r.multiplier_source,
            r.notes,
        ),
    )
    for rule in ordered:
        if at is not None and not _in_force(rule, at):
            continue
        key = _key(rule)
        previous = chosen.get(key)
        if previous is not None and previous.effective_from == rule.effective_from:
            warnings.append(
                f"{rule.model} {rule.meter} tier {rule.tier_min}: two rules from the same date "
                f"({previous.source_ref}; {rule.source_ref}); the first is compared"
            )
            continue
        chosen[key] = rule
    return chosen, warnings


def diff(rules_a: Iterable[PriceRule], rules_b: Iterable[PriceRule], *, at: datetime | None = None) -> dict[str, Any]:
    """What changed from rate card A (old) to B (new), per model and meter."""
    a, warn_a = select_rules(rules_a, at=at)
    b, warn_b = select_rules(rules_b, at=at)
    models_a = {k[0] for k in a}
    models_b = {k[0] for k in b}
    rows: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    for key in sorted(set(a) | set(b), key=_sort_key):
        old, new = a.get(key), b.get(key)
        row: dict[str, Any] = {
            "model": key[0],
            "meter": key[1],
            "tier_min": key[2],
            "group": key[3] or None,
            "old_price": _s(normalized_price(old)) if old else None,
            "new_price": _s(normalized_price(new)) if new else None,
            "old_unit": unit_label(old) if old else None,
            "new_unit": unit_label(new) if new else None,
            "change_pct": None,
            "flags": [],
        }
        if old is None:
            row["status"] = "added"
        elif new is None:
            row["status"] = "removed"
        else:
            row.update(_compare(old, new, row["flags"]))
            for flag in row["flags"]:
                flags.append(_flag(key, flag, old, new))
        rows.append(row)
    statuses = [r["status"] for r in rows]
    return {
        "at": _ts(at),
        "models_added": sorted(models_b - models_a),
        "models_removed": sorted(models_a - models_b),
        "rules": rows,
        "flags": flags,
        "summary": {
            "models_a": len(models_a),
            "models_b": len(models_b),
            "added": statuses.count("added"),
            "removed": statuses.count("removed"),
            "changed": statuses.count("changed"),
            "unchanged": statuses.count("unchanged"),
            "flagged": len(flags),
        },
        "warnings": [f"A: {w}" for w in warn_a] + [f"B: {w}" for w in warn_b],
    }


def crosscheck(
    rules_a: Iterable[PriceRule],
    rules_b: Iterable[PriceRule],
    *,
    tolerance: Decimal = Decimal("0.01"),
    aliases: dict[str, str] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Do two sources agree? Models are matched (alias, exact, case-insensitive, then provider
    prefix and date suffix stripped); prices whose relative difference exceeds `tolerance` are
    findings for FinOps in the `source` bucket."""
    if not isinstance(tolerance, Decimal):
        raise TypeError("tolerance must be Decimal")
    a, warn_a = select_rules(rules_a, at=at)
    b, warn_b = select_rules(rules_b, at=at)
    by_model_a = _group(a)
    by_model_b = _group(b)
    mapping, match_warnings = match_models(sorted(by_model_a), sorted(by_model_b), aliases or {})
    matched: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for model_a in sorted(mapping):
        model_b, how = mapping[model_a]
        side_a, side_b = by_model_a[model_a], by_model_b[model_b]
        compared = 0
        model_findings: list[dict[str, Any]] = []
        for sub in sorted(set(side_a) & set(side_b), key=_sub_sort):
            compared += 1
            finding = _disagreement(side_a[sub], side_b[sub], tolerance)
            if finding is not None:
                finding.update(model_a=model_a, model_b=model_b, mapping=how)
                model_findings.append(finding)
        findings.extend(model_findings)
        matched.append(
            {
                "model_a": model_a,
                "model_b": model_b,
                "mapping": how,
                "compared": compared,
                "agree": not model_findings,
                "only_in_a": [_sub_label(s) for s in sorted(set(side_a) - set(side_b), key=_sub_sort)],
                "only_in_b": [_sub_label(s) for s in sorted(set(side_b) - set(side_a), key=_sub_sort)],
            }
        )
    used_b = {m for m, _ in mapping.values()}
    only_a = sorted(set(by_model_a) - set(mapping))
    only_b = sorted(set(by_model_b) - used_b)
    return {
        "tolerance": _s(tolerance),
        "at": _ts(at),
        "matched": matched,
        "disagreements": findings,
        "only_in_a": only_a,
        "only_in_b": only_b,
        "summary": {
            "models_a": len(by_model_a),
            "models_b": len(by_model_b),
            "matched": len(matched),
            "agree": sum(1 for m in matched if m["agree"]),
            "disagreements": len(findings),
            "only_in_a": len(only_a),
            "only_in_b": len(only_b),
        },
        "warnings": [f"A: {w}" for w in warn_a] + [f"B: {w}" for w in warn_b] + match_warnings,
    }


def base_model_id(model: str) -> str:
    """Lowercase id without provider prefix ("openai/"), version pin ("@20241022") or date
    suffix ("-2024-07-18", "-20241022", "-0613"), for matching ids across catalogs."""
    out = model.strip().lower().rsplit("/", 1)[-1]
    out = re.sub(r"@[\w.-]*$", "", out)
    out = re.sub(r"[-_](\d{4}-\d{2}-\d{2}|20\d{6})$", "", out)
    out = re.sub(r"-(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$", "", out)
    return re.sub(r"-latest$", "", out)


def match_models(
    models_a: list[str], models_b: list[str], aliases: dict[str, str]
) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Map each model of A to one of B, with the rule used; ambiguity is reported, not guessed."""
    stages = (
        ("exact", lambda m: m),
        ("case-insensitive", lambda m: m.strip().lower()),
        ("normalized", base_model_id),
    )
    set_b = set(models_b)
    mapping: dict[str, tuple[str, str]] = {}
    warnings: list[str] = []
    pending = []
    for model in models_a:
        if model in aliases:
            target = aliases[model]
            if target in set_b:
                mapping[model] = (target, "alias")
            else:
                warnings.append(f"alias {model} -> {target}: {target} is not in B; not matched")
        else:
            pending.append(model)
    for name, key in stages:
        index: dict[str, list[str]] = {}
        for model in models_b:
            index.setdefault(key(model), []).append(model)
        still = []
        for model in pending:
            candidates = index.get(key(model), [])
            if len(candidates) == 1:
                mapping[model] = (candidates[0], name)
            elif len(candidates) > 1:
                warnings.append(f"{model} could be any of {', '.join(sorted(candidates))} in B ({name}); add an alias")
            else:
                still.append(model)
        pending = [m for m in still if m not in mapping]
    return mapping, warnings


def _disagreement(ra: PriceRule, rb: PriceRule, tolerance: Decimal) -> dict[str, Any] | None:
    pa, pb = normalized_price(ra), normalized_price(rb)
    base = {
        "bucket": "source",
        "owner": BUCKET_OWNERS["source"],
        "meter": ra.meter,
        "tier_min": ra.tier_min,
        "group": ra.group,
        "price_a": _s(pa),
        "price_b": _s(pb),
        "unit_a": unit_label(ra),
        "unit_b": unit_label(rb),
        "source_ref_a": ra.source_ref,
        "source_ref_b": rb.source_ref,
    }
    if ra.currency != rb.currency:
        return base | {
            "id": _finding_id(ra),
            "kind": "currency_mismatch",
            "relative_difference": None,
            "message": f"{ra.model} {ra.meter}: priced in {ra.currency} by A and {rb.currency} "
            "by B; not comparable without an agreed exchange rate",
        }
    top = max(abs(pa), abs(pb))
    rel = Decimal(0) if top == 0 else abs(pa - pb) / top
    if rel <= tolerance:
        return None
    rel_s = _s(rel.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))
    return base | {
        "id": _finding_id(ra),
        "kind": "price_mismatch",
        "relative_difference": rel_s,
        "message": f"{ra.model} {ra.meter}: A {_s(pa)} vs B {_s(pb)} {unit_label(ra)} "
        f"(relative difference {rel_s} > tolerance {_s(tolerance)})",
    }


def _compare(old: PriceRule, new: PriceRule, flags: list[str]) -> dict[str, Any]:
    po, pn = normalized_price(old), normalized_price(new)
    if old.currency != new.currency:
        flags.append("CURRENCY_CHANGED")
        return {"status": "changed", "change_pct": None}
    if old.per_quantity != new.per_quantity:
        flags.append("UNIT_CHANGED")
    if old.multiplier != new.multiplier:
        flags.append("MULTIPLIER_CHANGED")
    if po != 0 and pn != 0:
        ratio = max(po, pn) / min(po, pn)
        if ratio in UNIT_ERROR_FACTORS:
            flags.append("SUSPECTED_UNIT_ERROR")
    if po == pn:
        return {"status": "unchanged", "change_pct": "0.00"}
    if po == 0:
        flags.append("FROM_ZERO")
        return {"status": "changed", "change_pct": None}
    with localcontext() as ctx:
        ctx.prec = 50
        pct = ((pn - po) / po * 100).quantize(PCT_PLACES, rounding=ROUND_HALF_EVEN)
    return {"status": "changed", "change_pct": f"{pct:f}"}


def _flag(key: Key, flag: str, old: PriceRule, new: PriceRule) -> dict[str, Any]:
    messages = {
        "CURRENCY_CHANGED": f"currency changed from {old.currency} to {new.currency}; prices are not comparable",
        "UNIT_CHANGED": f"unit changed from per {old.per_quantity:,} to per {new.per_quantity:,} "
        f"{old.meter}; check the new figure is not off by the unit",
        "MULTIPLIER_CHANGED": f"multiplier changed from {old.multiplier} "
        f"({old.multiplier_source or 'none'}) to {new.multiplier} "
        f"({new.multiplier_source or 'none'})",
        "SUSPECTED_UNIT_ERROR": "price moved by exactly a factor of 1,000 or 1,000,000: "
        "probably a per-1K / per-1M / per-token mix-up",
        "FROM_ZERO": "price was zero and is now charged",
    }
    return {
        "model": key[0],
        "meter": key[1],
        "tier_min": key[2],
        "group": key[3] or None,
        "flag": flag,
        "old": f"{old.unit_price} {old.currency} per {old.per_quantity} x {old.multiplier}",
        "new": f"{new.unit_price} {new.currency} per {new.per_quantity} x {new.multiplier}",
        "message": messages[flag],
    }


def _key(rule: PriceRule) -> Key:
    return (rule.model, rule.meter, rule.tier_min, rule.group or "")


def _in_force(rule: PriceRule, at: datetime) -> bool:
    if rule.effective_from is not None and at < rule.effective_from:
        return False
    return rule.effective_to is None or at < rule.effective_to


def _group(rules: dict[Key, PriceRule]) -> dict[str, dict[tuple[str, int, str], PriceRule]]:
    out: dict[str, dict[tuple[str, int, str], PriceRule]] = {}
    for (model, meter, tier, group), rule in rules.items():
        out.setdefault(model, {})[(meter, tier, group)] = rule
    return out


def _meter_order(meter: str) -> int:
    return METERS.index(meter) if meter in METERS else len(METERS)


def _sort_key(key: Key) -> tuple[str, int, int, str]:
    return (key[0], _meter_order(key[1]), key[2], key[3])


def _sub_sort(sub: tuple[str, int, str]) -> tuple[int, int, str]:
    return (_meter_order(sub[0]), sub[1], sub[2])


def _sub_label(sub: tuple[str, int, str]) -> str:
    meter, tier, group = sub
    label = meter if not tier else f"{meter} (tier from {tier:,} input tokens)"
    return f"{label} [group {group}]" if group else label


def _finding_id(rule: PriceRule) -> str:
    parts = ["crosscheck", rule.model, rule.meter, str(rule.tier_min)]
    if rule.group:
        parts.append(rule.group)
    return ":".join(parts)


def _s(value: Decimal) -> str:
    """A Decimal as a plain string: no exponent, no trailing zeros beyond what it states."""
    if value == value.to_integral_value():
        return f"{value.quantize(Decimal(1)):f}"
    return f"{value.normalize():f}"


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
