"""Statements that cannot be read: exit 2 through `ledger import`, naming file, record and field; nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.spine.conftest import Cli

HEAD = "BilledCost,BillingCurrency,ChargeCategory,ChargeClass,ChargePeriodStart,ChargePeriodEnd,ConsumedQuantity," \
       "ConsumedUnit,SkuId,Tags,x_LineItemId\n"
GOOD = "1.00,USD,Usage,NULL,2026-06-01T00:00:00Z,2026-06-02T00:00:00Z,10,Requests,gpt-4o,{},A1\n"


def _focus(*rows: str) -> str:
    return HEAD + GOOD + "".join(rows)


FOCUS_CASES = {
    "bad-cost": (_focus("abc,USD,Usage,NULL,2026-06-01,2026-06-02,1,Requests,gpt-4o,{},A2\n"), "record 3",
                 "BilledCost"),
    "null-cost": (_focus("NULL,USD,Usage,NULL,2026-06-01,2026-06-02,1,Requests,gpt-4o,{},A2\n"), "record 3",
                  "BilledCost"),
    "currency": (_focus("1,dollars,Usage,NULL,2026-06-01,2026-06-02,1,Requests,gpt-4o,{},A2\n"), "record 3",
                 "BillingCurrency"),
    "spans-months": (_focus("1,USD,Usage,NULL,2026-06-30T00:00:00Z,2026-07-02T00:00:00Z,1,Requests,gpt-4o,{},A2\n"),
                     "record 3", "ChargePeriodEnd"),
    "end-before-start": (_focus("1,USD,Usage,NULL,2026-06-03,2026-06-02,1,Requests,gpt-4o,{},A2\n"), "record 3",
                         "ChargePeriodEnd"),
    "bad-date": (_focus("1,USD,Usage,NULL,June 1st,2026-06-02,1,Requests,gpt-4o,{},A2\n"), "record 3",
                 "ChargePeriodStart"),
    "category": (_focus("1,USD,Refund,NULL,2026-06-01,2026-06-02,1,Requests,gpt-4o,{},A2\n"), "record 3",
                 "ChargeCategory"),
    "charge-class": (_focus("1,USD,Usage,Estimated,2026-06-01,2026-06-02,1,Requests,gpt-4o,{},A2\n"), "record 3",
                     "ChargeClass"),
    "tags-json": (_focus('1,USD,Usage,NULL,2026-06-01,2026-06-02,1,Requests,gpt-4o,"{not json",A2\n'), "record 3",
                  "Tags"),
    "tags-array": (_focus('1,USD,Usage,NULL,2026-06-01,2026-06-02,1,Requests,gpt-4o,"[1, 2]",A2\n'), "record 3",
                   "Tags"),
    "quantity": (_focus("1,USD,Usage,NULL,2026-06-01,2026-06-02,ten,Requests,gpt-4o,{},A2\n"), "record 3",
                 "ConsumedQuantity"),
    "negative-quantity": (_focus("1,USD,Usage,NULL,2026-06-01,2026-06-02,-4,Requests,gpt-4o,{},A2\n"), "record 3",
                          "ConsumedQuantity"),
    "no-unit": (_focus("1,USD,Usage,NULL,2026-06-01,2026-06-02,4,NULL,gpt-4o,{},A2\n"), "record 3", "ConsumedUnit"),
    "duplicate-id": (_focus("1,USD,Usage,NULL,2026-06-02,2026-06-03,4,Requests,gpt-4o,{},A1\n"), "record 3",
                     "x_LineItemId"),
    "short-row": (_focus("1,USD,Usage\n"), "record 3", "expected 11 fields"),
    "no-period-end": ("BilledCost,BillingCurrency,ChargePeriodStart\n1,USD,2026-06-01\n", "record 1",
                      "ChargePeriodEnd"),
}


@pytest.mark.parametrize("case", sorted(FOCUS_CASES))
def test_focus_errors_name_file_record_and_field(cli: Cli, tmp_path: Path, case: str) -> None:
    text, where, what = FOCUS_CASES[case]
    path = tmp_path / f"focus-{case}.csv"
    path.write_text(text)
    out = cli("ledger", "import", str(path), "--format", "focus", code=2).output
    assert path.name in out and where in out and what in out, out


def test_focus_without_usage_rows_is_rejected_with_what_it_holds(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "tax-only.csv"
    path.write_text(HEAD + "0.47,USD,Tax,NULL,2026-06-01,2026-07-01,NULL,NULL,NULL,NULL,T1\n")
    out = cli("ledger", "import", str(path), code=2).output
    assert "tax-only.csv" in out and "no Usage rows" in out and "1 Tax" in out, out


def test_focus_damaged_parquet(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64)
    out = cli("ledger", "import", str(path), "--format", "focus", code=2).output
    assert "broken.parquet" in out and "Parquet" in out, out


def _quota(entry: str) -> str:
    return '{"success": true, "data": {"daily_quota": {"2026-06-01": [' \
           '{"token_name": "ok", "quota_used": 1, "request_count": 1}, ' + entry + "]}}}"


QUOTA_CASES = {
    "no-quota": (_quota('{"token_name": "a", "request_count": 1}'), "daily_quota[2026-06-01][2]", "quota_used"),
    "bad-quota": (_quota('{"token_name": "a", "quota_used": "lots", "request_count": 1}'),
                  "daily_quota[2026-06-01][2]", "quota_used"),
    "negative": (_quota('{"token_name": "a", "quota_used": 5, "request_count": -1}'),
                 "daily_quota[2026-06-01][2]", "request_count"),
    "fraction": (_quota('{"token_name": "a", "quota_used": 5, "request_count": 1.5}'),
                 "daily_quota[2026-06-01][2]", "request_count"),
    "token-type": (_quota('{"token_name": 7, "quota_used": 5, "request_count": 1}'),
                   "daily_quota[2026-06-01][2]", "token_name"),
    "duplicate": (_quota('{"token_name": "ok", "quota_used": 5, "request_count": 1}'),
                  "daily_quota[2026-06-01][2]", "appears twice"),
    "not-object": (_quota("3"), "daily_quota[2026-06-01][2]", "JSON object"),
    "bad-date": ('{"daily_quota": {"June 1": [{"token_name": "a", "quota_used": 1, "request_count": 1}]}}',
                 "daily_quota[June 1][1]", "date"),
    "no-such-date": ('[{"date": "2026-02-30", "token_name": "a", "quota_used": 1, "request_count": 1}]', "[1]",
                     "date"),
    "day-not-list": ('{"daily_quota": {"2026-06-01": {"token_name": "a"}}}', "daily_quota[2026-06-01]",
                     "must be a list"),
    "failed-query": ('{"success": false, "message": "invalid token", "data": null, "daily_quota": {}}', "", "failed"),
    "not-json": ('{"daily_quota": {', "", "not JSON"),
    "empty": ('{"data": {"daily_quota": {}}}', "", "no daily quota entries"),
}


@pytest.mark.parametrize("case", sorted(QUOTA_CASES))
def test_quota_errors_name_file_record_and_field(cli: Cli, tmp_path: Path, case: str) -> None:
    text, where, what = QUOTA_CASES[case]
    path = tmp_path / f"quota-{case}.json"
    path.write_text(text)
    out = cli("ledger", "import", str(path), "--format", "cometapi-quota", code=2).output
    assert path.name in out and where in out and what in out, out


def test_nothing_is_stored_after_a_rejected_statement(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "focus.csv"
    path.write_text(FOCUS_CASES["bad-cost"][0])
    cli("ledger", "import", str(path), code=2)
    path.write_text(HEAD + GOOD)
    again = cli.json("ledger", "import", str(path))
    assert again["lines"] == 1 and not again.get("already_imported")


def test_unknown_file_names_the_statement_formats(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mystery.csv"
    path.write_text("a,b\n1,2\n")
    out = cli("ledger", "import", str(path), code=2).output
    assert "mystery.csv" in out and "ledger-csv" in out and "focus" in out and "cometapi-quota" in out, out
