"""Match each statement line with expected and provider-reported cost at exactly its grain."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from costproof.model.variance import BUCKET_OWNERS

ZERO = Decimal(0)
Cells = dict[tuple[tuple[str, ...], tuple[str, ...], str], dict[str, Any]]


def variance_id(period: str, statement_sha: str, line_key: str) -> str:
    digest = hashlib.sha256(f"{period}\x1f{statement_sha}\x1f{line_key}".encode()).hexdigest()
    return "v-" + digest[:12]


def compare(period: str, lines: list[dict[str, Any]], expected: Cells, provider: Cells,
            tolerance: Decimal) -> list[dict[str, Any]]:
    """One result per line; `matched` lines are within tolerance. Pure: no I/O, no clock."""
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
        quantity = {}
        if line.get("quantity") is not None and cell:
            quantity = {"statement": str(line["quantity"]), "unit": line.get("unit"),
                        "requests": str(cell.get("requests") or 0),
                        "input_tokens": str(cell.get("input_tokens") or 0),
                        "output_tokens": str(cell.get("output_tokens") or 0)}
        bucket = None if matched else "unknown"
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
            "owner": BUCKET_OWNERS[bucket] if bucket else None,
            "explanation": "within tolerance" if matched else
            "; ".join(notes) if notes else "no evidence-backed explanation yet",
            "evidence": [{"kind": "statement_line", "file": line["file_name"], "sha256": line["sha256"],
                          "line": line["line_no"]}],
            "quantity": quantity,
        })
    return out
