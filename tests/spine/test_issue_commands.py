"""The spine's command list, exactly as a user types it, against a fresh workspace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.spine.conftest import JUNE_1, log_row, write_json

REPO = Path(__file__).resolve().parents[2]


def _cp(args: list[str], cwd: Path, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COSTPROOF_AS_OF": "2026-07-02T09:00:00Z", "COLUMNS": "160"}
    env.pop("COSTPROOF_WORKSPACE", None)
    exe = shutil.which("costproof") or str(Path(sys.executable).with_name("costproof"))
    done = subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def test_the_issue_command_list_runs_as_written(tmp_path: Path, price_server) -> None:
    base, handler = price_server
    handler.pages = [json.loads((REPO / "tests/data/cometapi_models.json").read_text())]
    (tmp_path / "tests/data").mkdir(parents=True)
    shutil.copy(REPO / "tests/data/cometapi_models.json", tmp_path / "tests/data/cometapi_models.json")
    write_json(tmp_path / "export.json", [log_row(i, JUNE_1 + 600 * i, model="gpt-4o-mini-prod") for i in range(1, 40)])
    (tmp_path / "ledger.csv").write_text("period,model,amount,currency\n2026-06,gpt-4o-mini,0.00819,USD\n")
    _cp(["init"], tmp_path)
    assert (tmp_path / "costproof-workspace/catalog.duckdb").exists()
    _cp(["pricing", "capture", "tests/data/cometapi_models.json", "--format", "cometapi-models",
         "--operator", "alice"], tmp_path)
    _cp(["pricing", "capture", f"{base}/api/models", "--operator", "alice"], tmp_path)
    _cp(["usage", "import", "export.json", "--format", "newapi-log"], tmp_path)
    _cp(["mapping", "add", "gpt-4o-mini-prod", "gpt-4o-mini", "--approved-by", "alice", "--effective-from",
         "2026-06-01"], tmp_path)
    _cp(["ledger", "import", "ledger.csv", "--format", "ledger-csv"], tmp_path)
    # both captures carry the access time as effective_from, after June: pin the price for the period
    snaps = json.loads(_cp(["pricing", "list", "--json"], tmp_path).stdout)["snapshots"]
    run = json.loads(_cp(["run", "--period", "2026-06", "--snapshot", snaps[0]["snapshot_id"], "--json"],
                         tmp_path).stdout)
    assert run["rows_in"] == 39 == run["rows_priced"]
    assert run["expected"] == {"USD": "0.008190"}
    var = json.loads(_cp(["variances", "--period", "2026-06", "--json"], tmp_path).stdout)
    assert var["variances"] == [] and var["run_id"] == run["run_id"]
    human = _cp(["run", "--period", "2026-06", "--snapshot", snaps[0]["snapshot_id"]], tmp_path).stdout
    assert "rows in" in human and "0.008190 USD" in human


def test_demo_is_offline_fast_and_explains_its_difference(tmp_path: Path) -> None:
    out = _cp(["demo"], tmp_path, code=0).stdout
    assert "costproof-demo" in out and "bucket source → FinOps" in out and "priced with snapshot" in out
    summary = json.loads(_cp(["-w", "costproof-demo", "variances", "--period", "2026-06", "--json"], tmp_path,
                             code=1).stdout)
    [v] = summary["variances"]
    assert v["line_id"] == "GL-2026-06-008" and v["bucket"] == "source" and v["owner"] == "FinOps"
    quarantine = json.loads(_cp(["-w", "costproof-demo", "usage", "quarantine", "--json"], tmp_path).stdout)
    assert [(q["record"], q["field"]) for q in quarantine["quarantined"]] == [(102, "prompt_tokens"),
                                                                              (203, "created_at")]
