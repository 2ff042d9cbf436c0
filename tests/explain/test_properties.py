"""Invariants under generated data: conservation per slice, exact totals, explain is read-only."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.spine.conftest import JUNE_1, Cli, log_row, models_doc, write_json

TOKENS = ["a-prod", "b-prod", "qa-test", "c-staging"]
row_st = st.fixed_dictionaries({
    "offset": st.integers(0, 29 * 86400),
    "kind": st.sampled_from([2, 2, 2, 2, 5, 6, 1, 3]),
    "token": st.sampled_from(TOKENS),
    "model": st.sampled_from(["gpt-4o", "gpt-4o-mini", "nope-model"]),
    "prompt": st.integers(0, 200_000),
    "completion": st.integers(0, 20_000),
    "bad": st.sampled_from([None] * 12 + ["neg", "type"]),
})


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_st, min_size=1, max_size=60))
def test_conservation_per_slice_and_exact_totals(specs: list[dict]) -> None:
    with TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cli = Cli(tmp_path / "ws")
        cli("init")
        write_json(tmp_path / "m.json", models_doc({"gpt-4o": ("2.50", "10"), "gpt-4o-mini": ("0.15", "0.60")}))
        cli("pricing", "capture", str(tmp_path / "m.json"), "--effective-from", "2026-05-01")
        rows = []
        for i, s in enumerate(specs, start=1):
            row = log_row(i, JUNE_1 + s["offset"], kind=s["kind"], token=s["token"], model=s["model"],
                          prompt=s["prompt"], completion=s["completion"])
            if s["bad"] == "neg":
                row["prompt_tokens"] = -1
            elif s["bad"] == "type":
                row["type"] = 42
            rows.append(row)
        write_json(tmp_path / "log.json", rows)
        cli("usage", "import", str(tmp_path / "log.json"), code=None)
        (tmp_path / "labels.csv").write_text("token_name,cost_center,environment\nqa-*,cc-qa,test\n"
                                             "*-staging,cc-s,staging\n*,cc-main,production\n")
        cli("labels", "import", str(tmp_path / "labels.csv"))
        (tmp_path / "ledger.csv").write_text("period,cost_center,amount,currency\n2026-06,cc-main,1,USD\n")
        cli("ledger", "import", str(tmp_path / "ledger.csv"))
        run = cli.json("run", "--period", "2026-06", code=None)
        bad = sum(1 for s in specs if s["bad"])
        # an import touches the period through its readable rows; one with none touches no period
        touched = len(specs) if bad < len(specs) else 0
        assert run["rows_in"] == touched == run["rows_priced"] + run["rows_excluded"] + run["rows_quarantined"]
        assert run["rows_quarantined"] == (bad if touched else 0)
        parquet = next(Path(cli.workspace, "runs").glob("*/rows.parquet"))
        con = duckdb.connect()
        # every stored row appears once; per key name, priced + excluded = rows of that key in the file
        per_token = dict(con.execute(f"SELECT api_key_name, count(*) FROM '{parquet}' GROUP BY 1").fetchall())
        for token in TOKENS:
            want = sum(1 for s in specs if s["token"] == token and not s["bad"])
            assert per_token.get(token, 0) == want
        # the run's total equals an independent Decimal sum of the priced rows
        total = con.execute(f"SELECT sum(cost) FROM '{parquet}' WHERE exclusion IS NULL").fetchone()[0] or Decimal(0)
        oracle = Decimal(0)
        prices = {"gpt-4o": (Decimal("2.50"), Decimal(10)), "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60"))}
        for s in specs:
            if s["bad"] or s["kind"] != 2 or s["token"] == "qa-test" or s["model"] not in prices:
                continue
            inp, out = prices[s["model"]]
            oracle += (s["prompt"] * inp + s["completion"] * out) / 1_000_000
        assert total == oracle
        assert run["expected"].get("USD", "0.000000") == f"{oracle:.6f}"
        # explaining reads, never writes
        before = cli.json("variances", "--period", "2026-06", "--all", code=None)
        for v in before["variances"]:
            cli.json("explain", v["id"], code=None)
        assert cli.json("variances", "--period", "2026-06", "--all", code=None) == before
        assert json.dumps(before)  # serializable, amounts as strings
