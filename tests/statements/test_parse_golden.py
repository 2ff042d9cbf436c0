"""Golden parses of the sample statements: every line's id, period, grain, amount, currency and quantity."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from tests.statements.conftest import DATA

from costproof.sources import ledger
from costproof.sources.ledger import cometapi_quota, focus_billing


def _lines(name: str) -> tuple[str, list[ledger.ledger_csv.StatementLine]]:
    path = DATA / name
    fmt = ledger.detect(path, name)
    return fmt, ledger.get(fmt).parse(path, name)


def _flat(lines: list) -> list[tuple]:
    return [(ln.line_no, ln.line_id, ln.period, ln.grain, ln.amount, ln.currency, ln.quantity, ln.unit)
            for ln in lines]


def test_focus_1_2_csv_golden() -> None:
    fmt, lines = _lines("focus-billing-1.2.csv")
    assert fmt == "focus"
    mini = {"model": "gpt-4o-mini", "cost_center": "cc-platform", "environment": "production"}
    assert _flat(lines) == [
        # input (10 x 1M Tokens) and output (1000 x 1000 Tokens) rows of one model-day are one line
        (2, "F-0001+F-0002", "2026-06", {**mini, "day": "2026-06-01"}, Decimal("2.10"), "USD",
         Decimal(11_000_000), "tokens"),
        # 6/2/26 dates and a lowercase currency
        (4, "F-0003+F-0004", "2026-06", {**mini, "day": "2026-06-02"}, Decimal("2.52"), "USD",
         Decimal(13_200_000), "tokens"),
        # a month-long row has no day; x_CostCenter is a grain key; Requests -> requests
        (6, "F-0005", "2026-06", {"model": "web-search", "cost_center": "cc-research"}, Decimal("0.05"), "USD",
         Decimal(5), "requests"),
    ]
    assert all(isinstance(ln.amount, Decimal) for ln in lines)
    assert focus_billing.not_compared(lines) == [
        {"charge_category": "Credit", "currency": "USD", "rows": 1, "amount": "-1.000000", "periods": ["2026-06"],
         "lines": [8]},
        {"charge_category": "Tax", "currency": "USD", "rows": 1, "amount": "0.470000", "periods": ["2026-06"],
         "lines": [7]},
        {"charge_category": "Usage (Correction)", "currency": "USD", "rows": 1, "amount": "-0.100000",
         "periods": ["2026-05"], "lines": [9]},
    ]


@pytest.mark.parametrize("name", ["focus-billing-1.0.csv", "focus-billing-1.0.parquet"])
def test_focus_1_0_csv_and_parquet_agree(name: str) -> None:
    fmt, lines = _lines(name)
    assert fmt == "focus"
    first = 2 if name.endswith(".csv") else 1  # CSV lines count the header; Parquet rows count from 1
    haiku = {"model": "claude-3-5-haiku", "customer": "acme", "project": "atlas", "day": "2026-06-05"}
    assert [(ln.line_no, ln.line_id, ln.grain, ln.amount, ln.quantity, ln.unit) for ln in lines] == [
        # two hourly rows inside one UTC day fold into that day; no x_ id, so InvoiceId#line
        (first, f"INV-77#{first}+{first + 1}", haiku, Decimal("0.50"), Decimal(200_000), "tokens"),
        (first + 2, f"INV-77#{first + 2}", {"model": "dall-e-3", "day": "2026-06-05"}, Decimal("2.00"), Decimal(50),
         "images"),
    ]
    assert {ln.period for ln in lines} == {"2026-06"}


def test_cometapi_quota_wrapped_golden() -> None:
    fmt, lines = _lines("cometapi-quota.json")
    assert fmt == "cometapi-quota"
    key = "keyhash:462db9c6fce68292"  # a token name that looks like a key is stored hashed, in grain and id
    assert _flat(lines) == [
        (1, "2026-06-01/svc-prod", "2026-06", {"api_key_name": "svc-prod", "day": "2026-06-01"}, Decimal("2.1"),
         "USD", Decimal(10), "requests"),
        (2, "2026-06-01/batch-nightly", "2026-06", {"api_key_name": "batch-nightly", "day": "2026-06-01"},
         Decimal("0.5"), "USD", Decimal(4), "requests"),
        (3, "2026-06-02/svc-prod", "2026-06", {"api_key_name": "svc-prod", "day": "2026-06-02"}, Decimal("2.1"),
         "USD", Decimal(10), "requests"),
        (4, "2026-06-03/svc-prod", "2026-06", {"api_key_name": "svc-prod", "day": "2026-06-03"}, Decimal("2.52"),
         "USD", Decimal(12), "requests"),
        (5, f"2026-06-03/{key}", "2026-06", {"api_key_name": key, "day": "2026-06-03"}, Decimal("0.34"), "USD",
         Decimal(1), "requests"),
    ]
    assert "sk-live" not in repr(lines)


def test_cometapi_quota_list_form_and_exact_division() -> None:
    fmt, lines = _lines("cometapi-quota-list.json")
    assert fmt == "cometapi-quota"
    assert [(ln.line_id, ln.period, ln.amount) for ln in lines] == [
        ("2026-06-30/svc-prod", "2026-06", Decimal(2)),
        ("2026-07-01/svc-prod", "2026-07", Decimal("0.005001")),  # 2500.5 quota / 500,000, no float
    ]


@pytest.mark.parametrize("doc", [
    '{"daily_quota": {"2026-06-01": [{"token_name": "a", "quota_used": 500000, "request_count": 3}]}}',
    '{"data": {"daily_quota": {"2026-06-01": [{"token_name": "a", "quota_used": 500000, "request_count": 3}]}}}',
    '{"success": true, "data": [{"date": "2026-06-01", "token_name": "a", "quota_used": 500000, "request_count": 3}]}',
    '[{"date": "2026-06-01", "token_name": "a", "quota_used": 500000, "request_count": 3}]',
    '{"data": {"daily_quota": [{"date": "2026-06-01", "token_name": "a", "quota_used": 500000, "request_count": 3}]}}',
])
def test_cometapi_quota_accepts_every_wrapper(tmp_path: Path, doc: str) -> None:
    path = tmp_path / "q.json"
    path.write_text(doc)
    assert cometapi_quota.sniff(path.read_bytes(), str(path))
    [line] = cometapi_quota.parse(path, "q.json")
    assert (line.line_id, line.amount, line.quantity, line.unit) == ("2026-06-01/a", Decimal(1), Decimal(3),
                                                                      "requests")


@pytest.mark.parametrize(("unit", "expected"), [
    ("1000 Tokens", ("tokens", 1000)), ("1M Tokens", ("tokens", 1_000_000)), ("1K tokens", ("tokens", 1000)),
    ("Tokens", ("tokens", 1)), ("Token", ("tokens", 1)), ("Requests", ("requests", 1)),
    ("API Calls", ("requests", 1)), ("1,000,000 Tokens", ("tokens", 1_000_000)),
    ("Million Tokens", ("tokens", 1_000_000)), ("Images", ("images", 1)),
    ("GB-Hours", None), ("Minutes", None), ("Requests/Day", None),
])
def test_focus_units(unit: str, expected: tuple[str, int] | None) -> None:
    assert focus_billing.unit_of(unit) == expected


def test_sniffers_do_not_overlap() -> None:
    """Each sample is recognised by exactly one statement adapter, and ledger-csv files stay ledger-csv."""
    for path in sorted(DATA.iterdir()):
        if path.suffix in (".csv", ".json", ".parquet"):
            head = path.read_bytes()[:65536]
            hits = [n for n, m in ledger.FORMATS.items() if m.sniff(head, str(path))]
            assert len(hits) == 1, (path.name, hits)
    head = b"period,model,amount,currency\n2026-06,gpt-4o,1,USD\n"
    assert [n for n, m in ledger.FORMATS.items() if m.sniff(head, "l.csv")] == ["ledger-csv"]


def test_focus_usage_adapter_still_reads_the_billing_export() -> None:
    """`usage import` keeps its own registry: the same FOCUS file is usage there."""
    from costproof.sources.usage import focus as usage_focus

    head = (DATA / "focus-billing-1.2.csv").read_bytes()[:65536]
    assert usage_focus.sniff(head, "focus-billing-1.2.csv")
