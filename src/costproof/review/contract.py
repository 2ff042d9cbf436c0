"""The API contract-details table: each assumption with a verified value, its source and its verifier."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from costproof.model.errors import InputError
from costproof.model.review import CONTRACT_ITEMS
from costproof.model.sanitize import compile_patterns
from costproof.review.fields import MAX_SHORT, check_text, check_url
from costproof.workspace import Workspace


def verify(ws: Workspace, item: str, *, value: str, source: str, operator: str, now: datetime) -> dict[str, Any]:
    """Record a verification (append-only; the latest per item is in force)."""
    if item not in CONTRACT_ITEMS:
        raise InputError(f"unknown contract item {item!r}; one of {', '.join(CONTRACT_ITEMS)}", field="ITEM")
    pattern = compile_patterns(ws.settings.secret_patterns)
    value = check_text("--value", value, pattern=pattern, required=True)
    source = check_url("--source", source, pattern=pattern, required=True)
    operator = check_text("--operator", operator, pattern=pattern, max_len=MAX_SHORT, required=True)
    with ws.transaction() as con:
        seq = ws.next_seq("contract_checks")
        con.execute("INSERT INTO contract_checks VALUES (?,?,?,?,?,?)", [seq, item, value, source, operator, now])
    return next(r for r in listing(ws) if r["item"] == item)


def listing(ws: Workspace) -> list[dict[str, Any]]:
    """Every contract item, verified or not, with the latest verification."""
    rows = ws.rows("""SELECT * FROM contract_checks
                      QUALIFY row_number() OVER (PARTITION BY item ORDER BY seq DESC) = 1""")
    by_item = {r["item"]: r for r in rows}
    out = []
    for item, title in CONTRACT_ITEMS.items():
        r = by_item.get(item)
        out.append({
            "item": item, "title": title, "verified": r is not None,
            "value": r["value"] if r else None, "source": r["source"] if r else None,
            "operator": r["operator"] if r else None,
            "verified_at": r["verified_at"].astimezone(UTC).isoformat().replace("+00:00", "Z") if r else None,
        })
    return out
