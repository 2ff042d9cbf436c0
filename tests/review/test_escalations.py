"""Escalation rules as pure functions over facts, and the ones that need a workspace through the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from costproof.model.review import Facts
from costproof.reconcile import escalations
from costproof.service.review import _billing
from costproof.workspace.config import ReviewSettings

from .conftest import PERIOD, Cli
from .test_close import docs_sheet

D = Decimal


def facts(**kw: object) -> Facts:
    base = Facts(period=PERIOD, start=datetime(2026, 6, 1, tzinfo=UTC), end=datetime(2026, 7, 1, tzinfo=UTC),
                 as_of=datetime(2026, 7, 2, tzinfo=UTC), tolerance=D("0.01"), review=ReviewSettings(),
                 run={"run_id": "run-x", "manifest": {"unpriced_models": [], "expected": {"USD": "100"}}})
    for k, v in kw.items():
        setattr(base, k, v)
    return base


def variance(vid: str, diff: str, actual: str, bucket: str | None = "unknown", matched: bool = False) -> dict:
    return {"variance_id": vid, "difference": D(diff), "actual": D(actual), "matched": matched, "bucket": bucket,
            "owner": "incident owner", "currency": "USD", "line_id": f"GL-{vid}"}


@pytest.mark.parametrize("diff, actual, fires", [
    ("0.50", "100", False),  # 0.5 % and below 100 USD
    ("2.00", "100", True),  # above 1 % of the line
    ("150", "1000000", True),  # a small share but above 100 USD
    ("-2.00", "100", True),  # either sign
])
def test_unknown_bucket_threshold(diff: str, actual: str, fires: bool) -> None:
    got = escalations.unexplained_difference(facts(variances=[variance("v1", diff, actual)]))
    assert bool(got) is fires
    if fires:
        assert got[0].owner == "incident owner" and got[0].variance_id == "v1"


def test_known_bucket_or_matched_is_not_escalated_as_unknown() -> None:
    f = facts(variances=[variance("v1", "50", "100", bucket="timing"), variance("v2", "50", "100", matched=True)])
    assert escalations.unexplained_difference(f) == []


def test_variance_growth_between_runs() -> None:
    f = facts(variances=[variance("v1", "3.00", "100", bucket="timing"), variance("v2", "1.00", "100")],
              previous_differences={"v1": D("1.00"), "v2": D("2.00")}, previous_run_id="run-w")
    got = escalations.variance_growth(f)
    assert [e.subject for e in got] == ["v1"] and "run-w" in got[0].detail


def test_billing_policy_unverified_escalates_and_others_are_recorded_decisions() -> None:
    lines = [{"class": "failed", "policy": "unverified", "rows": 4, "timed_out": 1, "unpriced_rows": 0,
              "exposure": {"USD": D("0.40")}, "in_expected": {}},
             {"class": "retried", "policy": "excluded", "rows": 2, "timed_out": 0, "unpriced_rows": 0,
              "exposure": {"USD": D("0.20")}, "in_expected": {}},
             {"class": "partial", "policy": "unverified", "rows": 3, "timed_out": 0, "unpriced_rows": 0,
              "exposure": {"USD": D("0.30")}, "in_expected": {"USD": D("0.30")}}]
    got = escalations.billing_unverified(facts(billing=lines))
    assert [e.subject for e in got] == ["failed", "partial"]
    assert all(e.owner == "API integration" and e.item == "failures_classified" for e in got)
    billing = _billing(facts(billing=lines))
    # partial rows the engine priced come out of expected; excluded/unverified failures stay out
    assert billing["policy_adjustment"] == {"USD": "-0.300000"}
    assert billing["expected_after_policy"] == {"USD": "99.700000"}
    lines[0]["policy"] = "billable"
    assert _billing(facts(billing=lines))["expected_after_policy"] == {"USD": "100.100000"}


def test_missing_fields_and_unidentified_rate() -> None:
    f = facts(usage={"missing_fields": [{"model_reported": "(no model)", "rows": 2}]},
              ledger_rates=[{"statement": "l.csv", "line_id": "GL-1", "model": "gpt-4o", "unit": "input_tokens",
                             "implied_per_unit": "0.0000031", "currency": "USD", "matches": []},
                            {"statement": "l.csv", "line_id": "GL-2", "model": "gpt-4o", "unit": "input_tokens",
                             "implied_per_unit": "0.0000025", "currency": "USD",
                             "matches": [{"snapshot_id": "s", "meter": "input_tokens"}]}])
    assert [e.owner for e in escalations.missing_usage_fields(f)] == ["platform"]
    assert [e.subject for e in escalations.unidentified_price_source(f)] == ["GL-1"]
    f.review = ReviewSettings(missing_fields_max_rows=5)
    assert escalations.missing_usage_fields(f) == []


def test_escalation_ids_are_deterministic() -> None:
    assert escalations.escalation_id(PERIOD, "unmapped", "m") == escalations.escalation_id(PERIOD, "unmapped", "m")
    assert escalations.escalation_id(PERIOD, "unmapped", "m").startswith("esc-2026-06-unmapped-")


def test_disagreeing_cometapi_sources_pause_the_period(cli: Cli, tmp_path: Path) -> None:
    used = cli.json("runs", "--period", PERIOD)["runs"][-1]["snapshot_ids"][0]
    sheet = docs_sheet(cli, used, tmp_path / "cometapi-docs.csv")
    text = sheet.read_text().splitlines()
    first = text[1].split(",")
    first[2] = str(D(first[2]) * 2)  # the docs state double the price for one model's first meter
    sheet.write_text("\n".join([text[0], ",".join(first), *text[2:]]) + "\n")
    snap = cli.json("pricing", "capture", str(sheet), "--format", "price-csv", "--label", "cometapi docs",
                    "--effective-from", "2026-05-01T00:00:00Z")["snapshot_id"]
    cl = cli.json("checklist", "--period", PERIOD, code=1)
    price = [e for e in cl["escalations"] if e["rule"] == "price_disagreement"]
    assert price and price[0]["owner"] == "FinOps" and price[0]["pauses"] and cl["state"] == "paused"
    assert snap in price[0]["subject"]
    refused = cli("approve", "--period", PERIOD, "--reviewer", "rita", code=1)
    assert "cross-checked" in refused.output
    cli("resolve", price[0]["id"], "--disposition", "escalated", "--owner", "FinOps", "--reason",
        "asked CometAPI support which price is in force", "--evidence", "https://tickets.example.com/FIN-7")
    assert cli.json("checklist", "--period", PERIOD, code=1)["state"] == "open"


def test_ledger_rate_matching_no_snapshot(cli: Cli, tmp_path: Path) -> None:
    rules = cli.json("pricing", "show", cli.json("runs", "--period", PERIOD)["runs"][-1]["snapshot_ids"][0])["rules"]
    rule = next(r for r in rules if r["meter"] == "input_tokens" and r["per_quantity"] == 1000000)
    ledger = tmp_path / "rates.csv"
    ledger.write_text("line_id,period,model,amount,currency,quantity,unit\n"
                      f"R-1,2026-06,{rule['model']},{rule['unit_price']},USD,1,1M input_tokens\n"
                      f"R-2,2026-06,{rule['model']},{D(rule['unit_price']) * 3},USD,1000000,input_tokens\n")
    cli("ledger", "import", str(ledger))
    cli("run", "--period", PERIOD, code=None)
    cl = cli.json("checklist", "--period", PERIOD, code=1)
    rate = [e for e in cl["escalations"] if e["rule"] == "unidentified_price_source"]
    assert [e["subject"] for e in rate] == ["R-2"]
    models = next(i for i in cl["items"] if i["id"] == "models_priced")
    assert not models["passed"] and rate[0]["id"] in models["escalations"]
