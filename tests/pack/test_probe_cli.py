"""`costproof probe` end to end against a real gateway on loopback: recorded, logged, packed — never the key."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from conftest import PERIOD
from probe_fake_gateway import CANARY_KEY, CANARY_SENTENCE, VALID_KEY, GatewayServer, create_app
from typer.testing import CliRunner

from costproof.cli import app
from costproof.pack import schema as S
from costproof.pack.verify import verify
from costproof.workspace import Workspace

runner = CliRunner()
ENV = {"PROBE_KEY": VALID_KEY, "COSTPROOF_AS_OF": "2026-06-20T10:00:00Z"}


def test_probe_records_review_log_and_reaches_the_pack(demo_ws: Path, tmp_path: Path):
    root = tmp_path / "ws"
    shutil.copytree(demo_ws, root)
    with GatewayServer(create_app(VALID_KEY)) as gw:
        res = runner.invoke(app, ["-w", str(root), "probe", "--base-url", gw.url, "--key-env", "PROBE_KEY",
                                  "--owner", "platform-team", "--operator", "ana", "--json"], env=ENV)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] and doc["stored"]["period"] == PERIOD and len(doc["stored"]["review_log_entries"]) == 5
    for text in (res.output, *(p.read_text() for p in (root / "probes").rglob("*.json"))):
        assert VALID_KEY not in text and CANARY_KEY not in text and CANARY_SENTENCE not in text
    with Workspace.open(root) as ws:
        logged = ws.rows("SELECT * FROM review_log WHERE ledger_period = ? ORDER BY seq", [PERIOD])
    assert [r["result"] for r in logged] == ["pass"] * 5 and {r["operator"] for r in logged} == {"ana"}
    out = tmp_path / "pack"
    res = runner.invoke(app, ["-w", str(root), "pack", "--period", PERIOD, "--out", str(out)], env=ENV)
    assert res.exit_code == 0, res.output
    probes = list(csv.DictReader(io.StringIO((out / S.PROBES).read_text(), newline="")))
    assert {p["check"] for p in probes} == {"models", "happy", "stream", "unauthorized", "unknown_model"}
    log = list(csv.DictReader(io.StringIO((out / S.REVIEW_LOG).read_text(), newline="")))
    assert len(log) == 5 and all(r["evidence_attached"].startswith("probe:probe-") for r in log)
    contract = {r["area"]: r for r in csv.DictReader(io.StringIO((out / S.CONTRACT_DETAILS).read_text()))}
    assert contract["auth headers"]["verified_value"] == "probe: an invalid key was rejected with 401"
    assert verify(out)["ok"]
    for f in out.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert VALID_KEY.encode() not in data and CANARY_SENTENCE.encode() not in data


def test_probe_without_workspace_stores_nothing_and_bad_key_env_is_exit_2(tmp_path: Path):
    with GatewayServer(create_app(VALID_KEY)) as gw:
        res = runner.invoke(app, ["-w", str(tmp_path / "none"), "probe", "--base-url", gw.url, "--key-env",
                                  "PROBE_KEY", "--no-stream", "--json"], env=ENV)
        assert res.exit_code == 0
        assert json.loads(res.stdout)["stored"] == {"workspace": None}
        res = runner.invoke(app, ["probe", "--base-url", gw.url, "--key-env", VALID_KEY], env=ENV)
        assert res.exit_code == 2 and VALID_KEY not in res.output
        wrong = runner.invoke(app, ["-w", str(tmp_path / "none"), "probe", "--base-url", gw.url, "--key-env",
                                    "PROBE_KEY", "--json"], env={**ENV, "PROBE_KEY": "sk-wrong-key-000000000000"})
    assert wrong.exit_code == 1
    assert not json.loads(wrong.stdout)["ok"] and "sk-wrong-key" not in wrong.output
