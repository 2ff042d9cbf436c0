"""Match each statement line with expected and provider-reported cost at exactly its grain."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from costproof.model.money import to_str
from costproof.model.variance import BUCKET_OWNERS

ZERO = Decimal(0)
Cells = dict[tuple[tuple[str, ...], tuple[str, ...], str], dict[str, Any]]
# a statement unit -> the usage count it is compared with; other units are kept but not compared
MEASURES = {
    "request": "requests", "requests": "requests", "call": "requests", "calls": "requests", "api calls": "requests",
    "token": "tokens", "tokens": "tokens", "total_tokens": "tokens",
    "input_tokens": "input_tokens", "prompt_tokens": "input_tokens",
    "output_tokens": "output_tokens", "completion_tokens": "output_tokens",
}
SCALES = {k: Decimal(v) for k, v in (("1k", 1000), ("k", 1000), ("1000", 1000), ("thousand", 1000),
                                     ("1m", 1_000_000), ("m", 1_000_000), ("1000000", 1_000_000),
                                     ("million", 1_000_000))}


def variance_id(period: str, statement_sha: str, line_key: str) -> str:
    digest = hashlib.sha256(f"{period}\x1f{statement_sha}\x1f{line_key}".encode()).hexdigest()
    return "v-" + digest[:12]


def compare(period: str, lines: list[dict[str, Any]], expected: Cells, provider: Cells,
            tolerance: Decimal, *, labels: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """One result per line; `matched` lines are within tolerance. Pure: no I/O, no clock.

    `labels` (rules with match_key, pattern, values) only annotate: a line naming a key or project the
    rules label gets the cost center in its evidence and explanation; its grain never changes.
    """
    out = []
    for line in lines:
        grain: dict[str, str] = json.loads(line["grain"]) if isinstance(line["grain"], str) else line["grain"]
        keys = tuple(sorted(grain))
        values = tuple(grain[k] for k in keys)
        currency = line["currency"]
        cell = expected.get((keys, values, currency), {})
        exp = cell.get("expected") or ZERO
        prov_cell = provider.get((keys, values, currency))
        actual = Decimal(line["amount"])
        diff = actual - exp
        matched = abs(diff) <= tolerance
        line_key = line["line_id"] or f"{line['file_name']}:{line['line_no']}"
        other_currencies = sorted(c for (k, v, c) in expected if k == keys and v == values and c != currency)
        notes = []
        if not cell:
            notes.append("no priced usage at this grain")
        if other_currencies:
            notes.append(f"usage at this grain is priced in {', '.join(other_currencies)}, not {currency}")
        quantity = compare_quantity(line.get("quantity"), line.get("unit"), cell)
        evidence: list[dict[str, Any]] = [{"kind": "statement_line", "file": line["file_name"],
                                           "sha256": line["sha256"], "line": line["line_no"]}]
        if quantity.get("note"):
            notes.append(quantity["note"])
            evidence.append({"kind": "quantity", **{k: quantity[k] for k in (
                "measure", "statement", "log", "difference", "quantity_matched", "note")}})
        labelled = label_note(grain, labels)
        if labelled:
            evidence.append({"kind": "labels", **labelled["evidence"]})
        # a line within tolerance differs at most by precision: its bucket is rounding, and it has no open
        # variance (status matched); a line beyond it is unknown until the explainer names a cause
        bucket = "rounding" if matched else "unknown"
        out.append({
            "id": variance_id(period, line["sha256"], line_key),
            "statement": line["statement"],
            "line_id": line_key,
            "grain": {k: grain[k] for k in keys},
            "expected": exp,
            "actual": actual,
            "difference": diff,
            "provider": prov_cell.get("provider") if prov_cell else None,
            "currency": currency,
            "matched": matched,
            "bucket": bucket,
            "owner": BUCKET_OWNERS[bucket],
            "explanation": "; ".join(
                (["within tolerance"] if matched else []) + notes
                + ([] if matched or notes else ["no evidence-backed explanation yet"])
                + ([labelled["note"]] if labelled else [])),
            "evidence": evidence,
            "quantity": quantity,
        })
    return out


def compare_quantity(statement: Any, unit: str | None, cell: dict[str, Any]) -> dict[str, Any]:
    """The statement's count against the usage at its grain: requests, input, output or total tokens.

    Empty when the line has no quantity. `quantity_matched` is None when the unit is not one we count or
    the run has no counts at this grain (day rounding aggregates cost only); counts match exactly or not at all.
    """
    if statement is None:
        return {}
    measure, scale = measure_of(unit)
    stmt = Decimal(statement) * scale
    counts = {k: Decimal(cell[k]) if cell.get(k) is not None else None
              for k in ("requests", "input_tokens", "output_tokens")}
    if cell and counts["requests"] is None:
        counts = {k: None for k in counts}
    elif not cell:
        counts = {k: ZERO for k in counts}
    counts["tokens"] = (counts["input_tokens"] + counts["output_tokens"]
                        if counts["input_tokens"] is not None and counts["output_tokens"] is not None else None)
    out: dict[str, Any] = {"statement": _num(Decimal(statement)), "unit": unit,
                           **{k: _num(counts[k]) for k in ("requests", "input_tokens", "output_tokens")}}
    out.update(measure=measure, log=None, difference=None, quantity_matched=None, note=None)
    if measure is None:
        return out
    log = counts[measure]
    if log is None:
        return out
    words = measure.replace("_", " ")
    diff = stmt - log
    out.update(log=_num(log), difference=_num(diff), quantity_matched=diff == 0)
    if diff:
        out["note"] = (f"count differs: the statement says {_num(stmt)} {words}, the usage log has {_num(log)} "
                       f"({'+' if diff > 0 else ''}{_num(diff)})")
    return out


def measure_of(unit: str | None) -> tuple[str | None, Decimal]:
    """`requests` -> (requests, 1); `1M tokens` -> (tokens, 1000000); `1k input_tokens` -> (input_tokens, 1000)."""
    words = (unit or "").strip().lower().split()
    scale = Decimal(1)
    if len(words) > 1 and words[0] in SCALES:
        scale, words = SCALES[words[0]], words[1:]
    return MEASURES.get(" ".join(words)), scale


def label_note(grain: dict[str, str], labels: Sequence[Any]) -> dict[str, Any] | None:
    """The cost center (and other labels) the first matching label rule gives a line's key name or project."""
    if "cost_center" in grain:
        return None
    for key in ("api_key_name", "project"):
        name = grain.get(key)
        if not name:
            continue
        for rule in labels:
            if rule.match_key == key and re.fullmatch(_glob(rule.pattern), name):
                values = {k: v for k, v in sorted(rule.values.items()) if v}
                if not values.get("cost_center"):
                    return None
                shown = key.replace("_", " ")
                return {"note": f"{shown} {name} is cost center {values['cost_center']} by the label rule "
                                f"{rule.pattern!r}",
                        "evidence": {key: name, "rule": rule.pattern, **values}}
        return None
    return None


def _glob(pattern: str) -> str:
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)


def _num(value: Decimal | None) -> str | None:
    """A count as a plain string: whole numbers without places, others as written."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return to_str(value) if value.as_tuple().exponent < -6 else f"{value.normalize():f}"
