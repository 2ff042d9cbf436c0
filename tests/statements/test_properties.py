"""Property tests: statement amounts are exact Decimal sums, whatever the numbers and however rows are split."""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from costproof.sources.ledger import cometapi_quota, focus_billing

HEAD = "BilledCost,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ConsumedQuantity,ConsumedUnit," \
       "SkuId\n"
amounts = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("1000"), places=6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(amounts, st.integers(1, 3), st.sampled_from(["input", "output"]),
                          st.integers(0, 10**9)), min_size=1, max_size=12))
def test_focus_lines_sum_rows_exactly(rows: list[tuple[Decimal, int, str, int]]) -> None:
    text = HEAD + "".join(f"{a},USD,Usage,2026-06-0{d}T00:00:00Z,2026-06-0{d + 1}T00:00:00Z,{q},1000 Tokens,"
                          f"gpt-4o-{side}\n" for a, d, side, q in rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_text(text)
        lines = focus_billing.parse(path, "f.csv")
    assert sum((ln.amount for ln in lines), Decimal(0)) == sum((a for a, *_ in rows), Decimal(0))
    assert sum((ln.quantity or 0 for ln in lines), Decimal(0)) == sum(q * 1000 for *_, q in rows)
    assert len(lines) == len({d for _, d, _, _ in rows})  # one line per model-day
    assert all(ln.unit == "tokens" or ln.unit in ("input_tokens", "output_tokens") for ln in lines)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.dates().map(lambda d: d.isoformat()).filter(lambda s: len(s) == 10),
                       st.tuples(st.integers(0, 10**12), st.integers(0, 10**6)), min_size=1, max_size=20))
def test_quota_is_exactly_quota_over_500000(days: dict[str, tuple[int, int]]) -> None:
    doc = {"data": {"daily_quota": {d: [{"token_name": "t", "quota_used": q, "request_count": n}]
                                    for d, (q, n) in days.items()}}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "q.json"
        path.write_text(json.dumps(doc))
        lines = cometapi_quota.parse(path, "q.json")
    assert [(ln.line_id, ln.amount * 500_000, ln.quantity) for ln in lines] == \
        [(f"{d}/t", Decimal(q), Decimal(n)) for d, (q, n) in days.items()]
    assert {ln.period for ln in lines} == {d[:7] for d in days}
