"""`pricing diff` and `pricing crosscheck` through the CLI, recorded checks, and the "sources agree" item."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from tests.pricing_cli.conftest import CSV_HEADER, price_csv
from tests.spine.conftest import JUNE_1, Cli, log_row, models_doc, write_json

from costproof.service import pricing as svc
from costproof.workspace import Workspace
from costproof.workspace.schema import MIGRATIONS


def _sheet(path: Path, lines: list[str]) -> Path:
    path.write_text(CSV_HEADER + "".join(line + "\n" for line in lines), "utf-8")
    return path


def _capture(cli: Cli, path: Path, *extra: str) -> str:
    return cli.json("pricing", "capture", str(path), *extra)["snapshot_id"]


@pytest.fixture
def old_new(cli: Cli, tmp_path: Path) -> tuple[str, str]:
    old = _sheet(tmp_path / "old.csv", [
        "gpt-4o,input_tokens,2.50,1000000,USD,,,,,,",
        "gpt-4o,output_tokens,10.00,1000000,USD,,,,,,",
        "o3-mini,input_tokens,1.10,1000000,USD,,,,,,",
        "gemini-2.0-flash,output_tokens,0.40,1000000,USD,,,,,,",
        "mistral-large,input_tokens,2.00,1000000,USD,,,,,,",
        "veo-3,seconds,0.50,1,USD,,,,,,",
    ])
    new = _sheet(tmp_path / "new.csv", [
        "gpt-4o,input_tokens,2.00,1000000,USD,,,,,,",
        "gpt-4o,output_tokens,10.00,1000000,USD,,,,,,",
        "o3-mini,input_tokens,0.0011,1000,USD,,,,,,",
        "gemini-2.0-flash,output_tokens,400,1000000,USD,,,,,,",
        "mistral-large,input_tokens,1.80,1000000,EUR,,,,,,",
        "gpt-4.1,input_tokens,2.00,1000000,USD,,,,,,",
    ])
    return _capture(cli, old), _capture(cli, new)


# ---------------------------------------------------------------- diff
def test_diff_json_lists_changes_additions_removals_and_flags(cli: Cli, old_new: tuple[str, str]) -> None:
    a, b = old_new
    out = cli.json("pricing", "diff", a, b)
    assert out["a"]["snapshot_id"] == a and out["b"]["snapshot_id"] == b and out["at"] == "2026-07-02T09:00:00Z"
    assert out["models_added"] == ["gpt-4.1"] and out["models_removed"] == ["veo-3"]
    rules = {(r["model"], r["meter"]): r for r in out["rules"]}
    gpt = rules[("gpt-4o", "input_tokens")]
    assert (gpt["old_price"], gpt["new_price"], gpt["change_pct"], gpt["status"]) == ("2.5", "2", "-20.00", "changed")
    assert rules[("gpt-4o", "output_tokens")]["status"] == "unchanged"
    assert rules[("o3-mini", "input_tokens")]["flags"] == ["UNIT_CHANGED"]
    assert rules[("o3-mini", "input_tokens")]["status"] == "unchanged"  # 0.0011 per 1K is 1.10 per 1M
    assert "SUSPECTED_UNIT_ERROR" in rules[("gemini-2.0-flash", "output_tokens")]["flags"]
    assert rules[("mistral-large", "input_tokens")]["flags"] == ["CURRENCY_CHANGED"]
    assert {f["flag"] for f in out["flags"]} == {"UNIT_CHANGED", "SUSPECTED_UNIT_ERROR", "CURRENCY_CHANGED"}
    assert out["summary"]["added"] == 1 and out["summary"]["removed"] == 1
    assert not [v for v in _leaves(out) if isinstance(v, float)]


def test_diff_human_output_flags_loudly(cli: Cli, old_new: tuple[str, str]) -> None:
    a, b = old_new
    text = cli("pricing", "diff", a, b).stdout
    for words in ("UNIT CHANGED", "CURRENCY CHANGED", "SUSPECTED UNIT ERROR", "models added (1): gpt-4.1",
                  "models removed (1): veo-3", "-20.00"):
        assert words in text, words
    assert "o3-mini" in text  # unchanged in price but flagged, so listed
    unchanged_row = re.compile(r"gpt-4o\s+│\s+output_tokens")
    assert not unchanged_row.search(text)  # unchanged and unflagged: only with --all
    assert unchanged_row.search(cli("pricing", "diff", a, b, "--all").stdout)


def test_diff_compares_the_rules_in_force_at_a_time(cli: Cli, tmp_path: Path) -> None:
    dated = _capture(cli, _sheet(tmp_path / "dated.csv", [
        "gpt-4o,input_tokens,2.50,1000000,USD,2026-01-01,2026-06-01,,,,",
        "gpt-4o,input_tokens,2.00,1000000,USD,2026-06-01,,,,,",
    ]))
    flat = _capture(cli, price_csv(tmp_path / "flat.csv", {"gpt-4o": ("2.00", "8.00")}))
    may = cli.json("pricing", "diff", dated, flat, "--at", "2026-05-31T23:59:59Z")
    june = cli.json("pricing", "diff", dated, flat, "--at", "2026-06-01T00:00:00Z")
    pick = {m["at"]: {(r["model"], r["meter"]): r for r in m["rules"]} for m in (may, june)}
    assert pick["2026-05-31T23:59:59Z"][("gpt-4o", "input_tokens")]["change_pct"] == "-20.00"
    assert pick["2026-06-01T00:00:00Z"][("gpt-4o", "input_tokens")]["status"] == "unchanged"
    cli("pricing", "diff", dated, flat, "--at", "yesterday", code=2)


@pytest.mark.parametrize("cmd", ["diff", "crosscheck"])
def test_unknown_snapshot_is_exit_2_and_nothing_recorded(cli: Cli, tmp_path: Path, cmd: str) -> None:
    known = _capture(cli, price_csv(tmp_path / "s.csv", {"gpt-4o": ("2.50", "10.00")}))
    r = cli("pricing", cmd, known, "snap-nope", code=2)
    assert "snap-nope" in r.output
    cli("pricing", cmd, "snap-nope", known, "--json", code=2)
    with Workspace.open(cli.workspace) as ws:
        assert ws.one("SELECT count(*) AS n FROM crosschecks")["n"] == 0


# ---------------------------------------------------------------- crosscheck
def test_crosscheck_exit_codes_json_and_tolerance(cli: Cli, tmp_path: Path) -> None:
    a = _capture(cli, price_csv(tmp_path / "a.csv", {"gpt-4o": ("2.50", "10.00"), "o3-mini": ("1.10", "4.40")}))
    b = _capture(cli, price_csv(tmp_path / "b.csv", {"openai/gpt-4o-2024-08-06": ("2.50", "10.00"),
                                                     "o3-mini": ("1.10", "4.00"), "o1": ("15", "60")}))
    out = cli.json("pricing", "crosscheck", a, b, code=1)
    assert out["a"]["snapshot_id"] == a and out["tolerance"] == "0.01" and out["crosscheck_id"].startswith("xc-")
    [finding] = out["disagreements"]
    assert (finding["model_a"], finding["meter"], finding["price_a"], finding["price_b"]) == (
        "o3-mini", "output_tokens", "4.4", "4")
    assert (finding["bucket"], finding["owner"], finding["kind"]) == ("source", "FinOps", "price_mismatch")
    assert Decimal(finding["relative_difference"]) == Decimal("0.0909")
    matched = {m["model_a"]: (m["model_b"], m["mapping"], m["agree"]) for m in out["matched"]}
    assert matched == {"gpt-4o": ("openai/gpt-4o-2024-08-06", "normalized", True),
                       "o3-mini": ("o3-mini", "exact", False)}
    assert out["only_in_b"] == ["o1"] and out["only_in_a"] == []
    assert not [v for v in _leaves(out) if isinstance(v, float)]
    human = cli("pricing", "crosscheck", a, b, code=1).stdout
    assert "SOURCES DISAGREE" in human and "PRICE MISMATCH" in human and "only in B (1): o1" in human
    assert cli.json("pricing", "crosscheck", a, b, "--tolerance", "0.1")["disagreements"] == []
    assert "sources agree on all 2 matched models" in cli("pricing", "crosscheck", a, b, "--tolerance", "0.1").stdout
    for bad in ("abc", "-0.01", "1", "NaN"):
        cli("pricing", "crosscheck", a, b, "--tolerance", bad, code=2)


def test_crosscheck_flags_a_currency_mismatch(cli: Cli, tmp_path: Path) -> None:
    a = _capture(cli, price_csv(tmp_path / "a.csv", {"gpt-4o": ("2.50", "10.00")}))
    b = _capture(cli, price_csv(tmp_path / "b.csv", {"gpt-4o": ("2.50", "10.00")}, currency="EUR"))
    out = cli.json("pricing", "crosscheck", a, b, code=1)
    assert {f["kind"] for f in out["disagreements"]} == {"currency_mismatch"}
    assert "CURRENCY MISMATCH" in cli("pricing", "crosscheck", a, b, code=1).stdout


def test_crosscheck_matches_through_the_model_mapping(cli: Cli, tmp_path: Path) -> None:
    a = _capture(cli, price_csv(tmp_path / "a.csv", {"gpt4o-contract": ("2.00", "8.00")}))
    b = _capture(cli, price_csv(tmp_path / "b.csv", {"gpt-4o": ("2.50", "10.00")}))
    before = cli.json("pricing", "crosscheck", a, b)
    assert before["matched"] == [] and before["only_in_a"] == ["gpt4o-contract"]
    cli("mapping", "add", "gpt4o-contract", "gpt-4o", "--approved-by", "dana")
    cli("mapping", "add", "unrelated-alias", "not-in-b", "--approved-by", "dana")
    after = cli.json("pricing", "crosscheck", a, b, code=1)
    assert after["aliases"] == {"gpt4o-contract": "gpt-4o"}
    assert [(m["model_a"], m["model_b"], m["mapping"]) for m in after["matched"]] == [
        ("gpt4o-contract", "gpt-4o", "alias")]
    assert {f["mapping"] for f in after["disagreements"]} == {"alias"}


def test_crosscheck_against_the_genai_prices_catalog(cli: Cli, tmp_path: Path) -> None:
    write_json(tmp_path / "models.json", models_doc({
        "gpt-4o-mini": ("0.15", "0.60"), "claude-3-5-sonnet-20241022": ("3.00", "15.00"),
        "gpt-4o": ("2.00", "10.00"), "house-model": ("1", "1")}))
    comet = _capture(cli, tmp_path / "models.json", "--format", "cometapi-models")
    catalog = _capture(cli, Path("genai-prices:openai,anthropic"))
    out = cli.json("pricing", "crosscheck", comet, catalog, code=1)
    assert [(f["model_a"], f["meter"]) for f in out["disagreements"]] == [("gpt-4o", "input_tokens")]
    how = {m["model_a"]: (m["model_b"], m["mapping"]) for m in out["matched"]}
    assert how["gpt-4o-mini"] == ("gpt-4o-mini", "exact")
    assert how["claude-3-5-sonnet-20241022"][1] in ("exact", "normalized")
    assert out["only_in_a"] == ["house-model"]
    assert out["b"]["crosscheck_only"] is True


# ---------------------------------------------------------------- recorded checks and "sources agree"
def _june_run(cli: Cli, tmp_path: Path) -> str:
    write_json(tmp_path / "models.json", models_doc({"gpt-4o": ("2.50", "10.00"), "o3-mini": ("1.10", "4.40")}))
    primary = _capture(cli, tmp_path / "models.json", "--effective-from", "2026-05-01")
    rows = [log_row(i, JUNE_1 + 3600 * i, model="gpt-4o") for i in range(1, 6)]
    cli("usage", "import", str(write_json(tmp_path / "log.json", rows)), "--format", "newapi-log")
    cli("run", "--period", "2026-06", code=None)
    return primary


def _agree(cli: Cli, period: str = "2026-06") -> dict:
    with Workspace.open(cli.workspace) as ws:
        return svc.sources_agree(ws, period)


def test_disagreement_on_a_used_model_fails_sources_agree_until_superseded(cli: Cli, tmp_path: Path) -> None:
    primary = _june_run(cli, tmp_path)
    other = _capture(cli, price_csv(tmp_path / "doc.csv", {"gpt-4o": ("2.60", "10.00"), "o3-mini": ("1.10", "4.40")}))
    assert _agree(cli)["passed"] is True
    out = cli.json("pricing", "crosscheck", primary, other, code=1)
    assert out["disagreements"][0]["used_in_periods"] == ["2026-06"]
    result = _agree(cli)
    assert result["passed"] is False and "gpt-4o" in result["detail"] and "FinOps" in result["detail"]
    [finding] = result["findings"]
    assert (finding["crosscheck_id"], finding["model_a"], finding["snapshot_b"]) == (out["crosscheck_id"],
                                                                                   "gpt-4o", other)
    assert _agree(cli, "2026-05")["passed"] is True  # no run, no model in use
    # a check of another pair does not resolve it; a later check of the same pair (either order) does
    third = _capture(cli, price_csv(tmp_path / "third.csv", {"gpt-4o": ("2.50", "10.00")}))
    cli("pricing", "crosscheck", primary, third)
    assert _agree(cli)["passed"] is False
    cli("pricing", "crosscheck", other, primary, "--tolerance", "0.05")
    resolved = _agree(cli)
    assert (resolved["passed"], resolved["findings"], resolved["run_id"]) == (True, [], result["run_id"])
    # ... and a stricter re-check of the pair reopens it
    cli("pricing", "crosscheck", primary, other, "--tolerance", "0.001", code=1)
    assert _agree(cli)["passed"] is False
    with Workspace.open(cli.workspace) as ws:
        rows = ws.rows("SELECT snapshot_a, snapshot_b, tolerance, disagreements, compared_at, recorded_at "
                       "FROM crosschecks ORDER BY seq")
    assert [(r["snapshot_a"], r["disagreements"]) for r in rows] == [(primary, 1), (primary, 0), (other, 0),
                                                                     (primary, 1)]
    assert [r["tolerance"] for r in rows] == [Decimal("0.01"), Decimal("0.01"), Decimal("0.05"), Decimal("0.001")]


def test_disagreement_on_an_unused_model_does_not_fail_the_period(cli: Cli, tmp_path: Path) -> None:
    primary = _june_run(cli, tmp_path)
    other = _capture(cli, price_csv(tmp_path / "doc.csv", {"gpt-4o": ("2.50", "10.00"), "o3-mini": ("2.20", "4.40")}))
    out = cli.json("pricing", "crosscheck", primary, other, code=1)
    assert [(f["model_a"], f["used_in_periods"]) for f in out["disagreements"]] == [("o3-mini", [])]
    assert _agree(cli)["passed"] is True


def test_a_run_after_the_crosscheck_still_counts(cli: Cli, tmp_path: Path) -> None:
    a = _capture(cli, price_csv(tmp_path / "a.csv", {"gpt-4o": ("2.50", "10.00")}), "--effective-from", "2026-05-01")
    b = _capture(cli, price_csv(tmp_path / "b.csv", {"gpt-4o": ("3.00", "10.00")}))
    assert cli.json("pricing", "crosscheck", a, b, code=1)["disagreements"][0]["used_in_periods"] == []
    rows = [log_row(i, JUNE_1 + 3600 * i, model="gpt-4o") for i in range(1, 3)]
    cli("usage", "import", str(write_json(tmp_path / "log.json", rows)), "--format", "newapi-log")
    cli("run", "--period", "2026-06", code=None)
    assert _agree(cli)["passed"] is False


def test_migration_3_adds_crosschecks_and_upgrades_an_older_catalog(tmp_path: Path) -> None:
    versions = [v for v, _ in MIGRATIONS]
    assert versions == sorted(set(versions)) and 3 in versions
    ws, _ = Workspace.create(tmp_path / "ws")
    with ws:
        ws.con.execute("DROP TABLE crosschecks")
        ws.con.execute("DELETE FROM schema_version WHERE version >= 3")
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.schema_version == versions[-1]
        assert ws.one("SELECT count(*) AS n FROM crosschecks")["n"] == 0


def _leaves(doc: object) -> list[object]:
    if isinstance(doc, dict):
        return [x for v in doc.values() for x in _leaves(v)]
    if isinstance(doc, list):
        return [x for v in doc for x in _leaves(v)]
    return [doc]


def test_json_documents_are_single_and_parseable(cli: Cli, old_new: tuple[str, str]) -> None:
    a, b = old_new
    for cmd in ("diff", "crosscheck"):
        r = cli("pricing", cmd, a, b, "--json", code=None)
        assert isinstance(json.loads(r.stdout), dict)
