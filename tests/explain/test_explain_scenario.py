"""The explainer on a generated period: each planted cause is named, with re-run figures to the cent."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from tests.explain import scenario
from tests.spine.conftest import Cli

CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def worked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, scenario.Scenario, dict]:
    tmp = tmp_path_factory.mktemp("scenario")
    sc = scenario.build()
    files = scenario.write(sc, tmp / "in")
    cli = Cli(tmp / "ws")
    cli("init")
    cli("pricing", "capture", str(files["old.json"]), "--format", "cometapi-models", "--effective-from", "2026-05-01")
    cli("pricing", "capture", str(files["new.json"]), "--format", "cometapi-models", "--effective-from", "2026-06-01")
    cli("usage", "import", str(files["log.json"]), "--format", "newapi-log")
    cli("labels", "import", str(files["labels.csv"]))
    cli("ledger", "import", str(files["ledger.csv"]))
    cli("run", "--period", "2026-06", code=1)
    var = cli.json("variances", "--period", "2026-06", "--all", code=1)
    return cli, sc, {v["grain"]["cost_center"]: v for v in var["variances"]} | {"_doc": var}


@pytest.mark.parametrize(
    ("cc", "bucket", "hypothesis"),
    [
        ("cc-stale", "source", "snapshot_"),
        ("cc-retry", "usage", "retries_counted"),
        ("cc-mixed", "usage", "test_traffic_counted"),
        ("cc-errs", "contract", "errors_billed"),
        ("cc-tz", "timing", "timezone_+08"),
        ("cc-round", "rounding", "row_half-up_0.01"),
    ],
)
def test_each_planted_cause_is_named_with_its_rerun(worked, cc: str, bucket: str, hypothesis: str) -> None:
    cli, sc, by_cc = worked
    v = by_cc[cc]
    assert v["status"] == "open" and v["bucket"] == bucket, v["explanation"]
    assert v["hypothesis"]["name"].startswith(hypothesis) and v["hypothesis"]["closes"]
    assert v["ambiguous"] is False
    assert Decimal(v["expected"]).quantize(CENT) == sc.expected[cc].quantize(CENT, ROUND_HALF_UP)
    booked = sc.ledger[cc].quantize(CENT, ROUND_HALF_UP)
    assert Decimal(v["hypothesis"]["figure"]).quantize(CENT, ROUND_HALF_UP) == booked
    assert abs(Decimal(v["hypothesis"]["residual"])) <= CENT
    assert v["runner_up"] is not None and v["runner_up"]["name"] != v["hypothesis"]["name"]
    assert {"source": "FinOps", "usage": "platform", "contract": "API integration", "timing": "finance operations",
            "rounding": "FinOps"}[bucket] == v["owner"]


def test_unexplained_seven_percent_stays_unknown(worked) -> None:
    _, sc, by_cc = worked
    v = by_cc["cc-unk"]
    assert v["bucket"] == "unknown" and v["owner"] == "incident owner" and v["hypothesis"] is None
    booked = sc.ledger["cc-unk"].quantize(CENT, ROUND_HALF_UP)
    assert Decimal(v["difference"]) == booked - sc.expected["cc-unk"].quantize(Decimal("0.000001"))
    assert v["runner_up"] is None or not v["runner_up"]["closes"]


def test_exact_lines_have_no_open_variance(worked) -> None:
    _, _, by_cc = worked
    assert by_cc["cc-exact"]["status"] == "matched" and by_cc["cc-vip"]["status"] == "matched"
    assert by_cc["cc-exact"]["bucket"] == "rounding" and by_cc["cc-exact"]["explanation"].startswith("within tolerance")


def test_provider_leg_catches_the_group_ratio(worked) -> None:
    _, sc, by_cc = worked
    findings = {f["model"]: f for f in by_cc["_doc"]["provider_findings"]}
    f = findings["gpt-4o-mini"]
    assert f["bucket"] == "source" and f["owner"] == "FinOps" and "group_ratio 1.5" in f["explanation"]
    vip = sum(r.cost() for r in sc.in_june("vip-prod"))
    assert Decimal(f["difference"]).quantize(CENT) >= (vip * Decimal("0.5")).quantize(CENT) - CENT


def test_explain_shows_the_work_and_changes_nothing(worked) -> None:
    cli, _, by_cc = worked
    catalog = Path(cli.workspace, "catalog.duckdb")
    before = cli.json("variances", "--period", "2026-06", "--all", code=1)
    work = cli.json("explain", by_cc["cc-tz"]["id"])
    assert work["gap"] == by_cc["cc-tz"]["difference"]
    names = [r["name"] for r in work["reruns"]]
    assert {"timezone_+08", "timezone_+07", "timezone_+09", "unit_per_1k"} <= set(names) and len(names) >= 20
    closing = [r for r in work["reruns"] if r["closes"]]
    assert [r["bucket"] for r in closing] == ["timing"]
    assert work["hypothesis"]["evidence"]["window"] == ["2026-05-31T16:00:00Z", "2026-06-30T16:00:00Z"]
    assert cli.json("variances", "--period", "2026-06", "--all", code=1) == before
    assert catalog.exists()
