"""Statements end to end through the CLI: quota request counts, a FOCUS export, three statements in one period."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.spine.conftest import JUNE_1, Cli, log_row, models_doc, write_json
from tests.statements.conftest import DATA

DAY = 86_400
# 1M input + 100k output tokens of gpt-4o-mini at 0.15 / 0.60 per 1M: 0.21 USD a request
PRICES = {"gpt-4o-mini": ("0.15", "0.60")}


def _usage(cli: Cli, tmp: Path, *, days: int = 3) -> None:
    write_json(tmp / "models.json", models_doc(PRICES))
    cli("pricing", "capture", str(tmp / "models.json"), "--format", "cometapi-models", "--operator", "alice",
        "--effective-from", "2026-06-01T00:00:00Z")
    rows = [log_row(d * 10 + i + 1, JUNE_1 + d * DAY + 3600 * i, prompt=1_000_000, completion=100_000)
            for d in range(days) for i in range(10)]
    write_json(tmp / "export.json", rows)
    cli("usage", "import", str(tmp / "export.json"), "--format", "newapi-log")
    (tmp / "labels.csv").write_text("token_name,cost_center,environment\nsvc-*,cc-platform,production\n")
    cli("labels", "import", str(tmp / "labels.csv"))


def _quota(tmp: Path, counts: dict[str, int]) -> Path:
    daily = {f"2026-06-0{d}": [{"token_name": "svc-prod", "quota_used": 105_000 * 10, "request_count": n}]
             for d, n in counts.items()}
    return write_json(tmp / "quota.json", {"success": True, "message": "", "data": {"daily_quota": daily}})


def test_quota_request_count_differs_on_one_day(cli: Cli, tmp_path: Path) -> None:
    _usage(cli, tmp_path)
    # each day the log has 10 requests costing 2.10; the balance query bills 12 requests on June 3
    path = write_json(tmp_path / "quota.json", {"success": True, "data": {"daily_quota": {
        "2026-06-01": [{"token_name": "svc-prod", "quota_used": 1_050_000, "request_count": 10}],
        "2026-06-02": [{"token_name": "svc-prod", "quota_used": 1_050_000, "request_count": 10}],
        "2026-06-03": [{"token_name": "svc-prod", "quota_used": 1_260_000, "request_count": 12}]}}})
    imported = cli.json("ledger", "import", str(path))
    assert (imported["format"], imported["lines"], imported["periods"]) == ("cometapi-quota", 3, ["2026-06"])
    cli("run", "--period", "2026-06", code=1)
    doc = cli.json("variances", "--period", "2026-06", "--all", code=1)
    by_id = {v["line_id"]: v for v in doc["variances"]}
    assert {k: v["status"] for k, v in by_id.items()} == {
        "2026-06-01/svc-prod": "matched", "2026-06-02/svc-prod": "matched", "2026-06-03/svc-prod": "open"}
    ok = by_id["2026-06-01/svc-prod"]
    assert ok["quantity"]["quantity_matched"] is True and ok["quantity"]["log"] == "10"
    v = by_id["2026-06-03/svc-prod"]
    assert v["grain"] == {"api_key_name": "svc-prod", "day": "2026-06-03"}
    assert (v["expected"], v["actual"], v["difference"]) == ("2.100000", "2.520000", "0.420000")
    q = v["quantity"]
    assert (q["measure"], q["statement"], q["log"], q["difference"], q["quantity_matched"]) == \
        ("requests", "12", "10", "2", False)
    assert "the statement says 12 requests, the usage log has 10 (+2)" in q["note"]
    [count] = [e for e in v["evidence"] if e["kind"] == "quantity"]
    assert count["quantity_matched"] is False and count["note"] == q["note"]
    # the explainer estimates the two missing requests at the slice's mean cost: exactly the gap
    assert v["bucket"] == "usage" and v["owner"] == "platform"
    assert v["hypothesis"]["name"] == "rows_missing_requests"
    assert v["hypothesis"]["evidence"] == {"statement_requests": "12", "log_requests": 10}
    assert v["hypothesis"]["figure"] == "2.520000"


def test_focus_export_end_to_end(cli: Cli, tmp_path: Path) -> None:
    _usage(cli, tmp_path, days=2)
    shutil.copy(DATA / "focus-billing-1.2.csv", tmp_path / "focus-billing-1.2.csv")
    imported = cli.json("ledger", "import", str(tmp_path / "focus-billing-1.2.csv"))
    assert (imported["format"], imported["lines"], imported["periods"]) == ("focus", 3, ["2026-06"])
    cli("run", "--period", "2026-06", code=1)
    doc = cli.json("variances", "--period", "2026-06", "--all", code=1)
    by_id = {v["line_id"]: v for v in doc["variances"]}
    assert set(by_id) == {"F-0001+F-0002", "F-0003+F-0004", "F-0005"}
    day1 = by_id["F-0001+F-0002"]
    assert day1["status"] == "matched" and day1["statement"] == "focus-billing-1.2.csv"
    assert day1["grain"] == {"cost_center": "cc-platform", "day": "2026-06-01", "environment": "production",
                             "model": "gpt-4o-mini"}
    assert (day1["expected"], day1["actual"]) == ("2.100000", "2.100000")
    assert day1["quantity"]["measure"] == "tokens" and day1["quantity"]["quantity_matched"] is True
    # June 2 bills 12M input / 1.2M output tokens where the log has 10M / 1M
    day2 = by_id["F-0003+F-0004"]
    assert day2["status"] == "open" and day2["difference"] == "0.420000"
    assert day2["quantity"]["statement"] == "13200000" and day2["quantity"]["log"] == "11000000"
    assert day2["quantity"]["quantity_matched"] is False
    assert any(e["kind"] == "quantity" and not e["quantity_matched"] for e in day2["evidence"])
    search = by_id["F-0005"]
    assert search["status"] == "open" and search["expected"] == "0.000000"
    assert "no priced usage at this grain" in search["explanation"] or search["bucket"]
    assert search["evidence"][0] == {"kind": "statement_line", "file": "focus-billing-1.2.csv",
                                     "sha256": imported["sha256"], "line": 6}


def test_three_statements_in_one_period_each_at_its_own_grain(cli: Cli, tmp_path: Path) -> None:
    _usage(cli, tmp_path, days=2)
    (tmp_path / "ledger.csv").write_text("period,cost_center,amount,currency\n2026-06,cc-platform,4.20,USD\n")
    focus = tmp_path / "focus.csv"
    focus.write_text(
        "BilledCost,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ConsumedQuantity,ConsumedUnit,"
        "SkuId,Tags\n"
        '4.30,USD,Usage,2026-06-01T00:00:00Z,2026-07-01T00:00:00Z,20,Requests,gpt-4o-mini,"{""x_Env"": ""prod""}"\n')
    quota = _quota(tmp_path, {"1": 10, "2": 10})
    imports = [cli.json("ledger", "import", str(p)) for p in (tmp_path / "ledger.csv", focus, quota)]
    assert [i["format"] for i in imports] == ["ledger-csv", "focus", "cometapi-quota"]
    cli("run", "--period", "2026-06", code=1)
    doc = cli.json("variances", "--period", "2026-06", "--all", code=1)
    rows = [(v["statement"], v["line_id"], v["grain"], v["status"]) for v in doc["variances"]]
    assert rows == [
        ("focus.csv", "focus.csv:2", {"environment": "production", "model": "gpt-4o-mini"}, "open"),
        ("ledger.csv", "ledger.csv:2", {"cost_center": "cc-platform"}, "matched"),
        ("quota.json", "2026-06-01/svc-prod", {"api_key_name": "svc-prod", "day": "2026-06-01"}, "matched"),
        ("quota.json", "2026-06-02/svc-prod", {"api_key_name": "svc-prod", "day": "2026-06-02"}, "matched"),
    ]
    assert len({v["id"] for v in doc["variances"]}) == 4
    shas = {i["file"]: i["sha256"] for i in imports}
    for v in doc["variances"]:
        [line] = [e for e in v["evidence"] if e["kind"] == "statement_line"]
        assert line["file"] == v["statement"] and line["sha256"] == shas[v["statement"]]
    focus_line = doc["variances"][0]
    assert (focus_line["expected"], focus_line["actual"], focus_line["difference"]) == \
        ("4.200000", "4.300000", "0.100000")
    assert focus_line["quantity"]["quantity_matched"] is True  # 20 requests billed, 20 in the log
    json.dumps(doc)  # amounts are strings, the document is plain JSON
    for v in doc["variances"]:
        assert all(isinstance(v[k], str) for k in ("expected", "actual", "difference"))
