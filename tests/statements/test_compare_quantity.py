"""The quantity leg of compare: requests and tokens against the usage at the line's grain, and label notes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from costproof.engine.pricing import LabelRule
from costproof.reconcile.compare import compare, compare_quantity, measure_of

CELL = {"expected": Decimal("2.10"), "requests": 10, "input_tokens": 10_000_000, "output_tokens": 1_000_000}


def _line(grain: dict[str, str], amount: str, quantity: str | None = None, unit: str | None = None,
          line_id: str | None = None) -> dict[str, Any]:
    return {"statement": "s.json", "file_name": "s.json", "sha256": "ab" * 32, "line_no": 3, "line_id": line_id,
            "grain": json.dumps(grain), "amount": Decimal(amount), "currency": "USD",
            "quantity": None if quantity is None else Decimal(quantity), "unit": unit}


@pytest.mark.parametrize(("quantity", "unit", "measure", "log", "matched"), [
    ("10", "requests", "requests", "10", True),
    ("12", "Requests", "requests", "10", False),
    ("11000000", "tokens", "tokens", "11000000", True),
    ("11", "1M tokens", "tokens", "11000000", True),
    ("10000", "1k input_tokens", "input_tokens", "10000000", True),
    ("999999", "output_tokens", "output_tokens", "1000000", False),
    ("1000000", "completion_tokens", "output_tokens", "1000000", True),
    ("50", "images", None, None, None),
])
def test_quantity_measures(quantity: str, unit: str, measure: str | None, log: str | None,
                           matched: bool | None) -> None:
    q = compare_quantity(Decimal(quantity), unit, CELL)
    assert (q["measure"], q["log"], q["quantity_matched"]) == (measure, log, matched)
    assert q["statement"] == quantity and q["requests"] == "10"  # the keys the explainer and reports read
    assert (q["note"] is not None) == (matched is False)


def test_no_quantity_is_an_empty_block() -> None:
    assert compare_quantity(None, None, CELL) == {}


def test_counts_unavailable_are_not_compared() -> None:
    """Day rounding aggregates cost only, and a NULL meter sum is no count: never a false mismatch."""
    q = compare_quantity(Decimal(10), "requests", {"expected": Decimal(1)})
    assert q["quantity_matched"] is None and q["note"] is None
    q = compare_quantity(Decimal(10), "tokens", {**CELL, "output_tokens": None})
    assert q["quantity_matched"] is None and q["input_tokens"] == "10000000"


def test_no_usage_at_the_grain_counts_zero() -> None:
    q = compare_quantity(Decimal(5), "requests", {})
    assert (q["log"], q["difference"], q["quantity_matched"]) == ("0", "5", False)


@pytest.mark.parametrize(("unit", "expected"), [
    ("requests", ("requests", Decimal(1))), ("1M tokens", ("tokens", Decimal(1_000_000))),
    ("api calls", ("requests", Decimal(1))), ("gb-hours", (None, Decimal(1))), (None, (None, Decimal(1))),
])
def test_measure_of(unit: str | None, expected: tuple[str | None, Decimal]) -> None:
    assert measure_of(unit) == expected


def test_matched_money_with_a_count_difference_says_so() -> None:
    grain = {"api_key_name": "svc-prod", "day": "2026-06-03"}
    cells = {(("api_key_name", "day"), ("svc-prod", "2026-06-03"), "USD"): CELL}
    [r] = compare("2026-06", [_line(grain, "2.10", "12", "requests", "2026-06-03/svc-prod")], cells, {},
                  Decimal("0.01"))
    assert r["matched"] and r["line_id"] == "2026-06-03/svc-prod"
    assert r["explanation"].startswith("within tolerance; count differs: the statement says 12 requests")
    assert r["quantity"]["quantity_matched"] is False
    assert [e["kind"] for e in r["evidence"]] == ["statement_line", "quantity"]


def test_open_line_without_quantity_keeps_the_old_wording() -> None:
    [r] = compare("2026-06", [_line({"model": "gpt-4o"}, "1.00")], {}, {}, Decimal("0.01"))
    assert r["explanation"] == "no priced usage at this grain" and r["quantity"] == {}
    assert r["line_id"] == "s.json:3"


def test_labels_add_the_cost_center_to_evidence_only() -> None:
    rules = [LabelRule("api_key_name", "batch-*", {"cost_center": "cc-data"}),
             LabelRule("api_key_name", "svc-*", {"cost_center": "cc-platform", "environment": "production"})]
    grain = {"api_key_name": "svc-prod", "day": "2026-06-01"}
    cells = {(("api_key_name", "day"), ("svc-prod", "2026-06-01"), "USD"): CELL}
    [r] = compare("2026-06", [_line(grain, "2.10", "10", "requests")], cells, {}, Decimal("0.01"), labels=rules)
    assert r["grain"] == grain  # the grain is the statement's own
    assert r["explanation"] == "within tolerance; api key name svc-prod is cost center cc-platform by the label " \
                               "rule 'svc-*'"
    assert r["evidence"][-1] == {"kind": "labels", "api_key_name": "svc-prod", "rule": "svc-*",
                                 "cost_center": "cc-platform", "environment": "production"}
    [plain] = compare("2026-06", [_line({"api_key_name": "other", "day": "2026-06-01"}, "0")], {}, {},
                      Decimal("0.01"), labels=rules)
    assert all(e["kind"] != "labels" for e in plain["evidence"])
