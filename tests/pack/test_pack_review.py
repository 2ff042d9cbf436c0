"""The pack reads the review workflow's records: dispositions close variances, approvals, contract checks, log."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import PERIOD

from costproof.pack import schema as S
from costproof.pack.collect import collect
from costproof.pack.export import build_files, write
from costproof.pack.verify import verify
from costproof.review import contract, dispositions, lock, reviewlog
from costproof.service import variances as var_svc
from costproof.workspace import Workspace

NOW = datetime(2026, 7, 5, 12, 0, tzinfo=UTC)


def rows(files: dict[str, bytes], path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files[path].decode(), newline="")))


@pytest.fixture()
def reviewed(demo_ws: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(demo_ws, root)
    invoice = tmp_path / "invoice-2026-06.txt"
    invoice.write_text("Invoice 2026-06, support line, 66.52 USD\n")
    with Workspace.open(root) as ws:
        v = var_svc.list_variances(ws, PERIOD)["variances"][0]
        dispositions.record(ws, target=v["id"], target_kind="variance", period=PERIOD, run_id=None,
                            disposition="accepted", owner="finops", reason="stale price confirmed by provider",
                            evidence=[str(invoice)], amount=None, leg=None, currency=v["currency"],
                            difference_at=Decimal(v["difference"]), now=NOW)
        contract.verify(ws, "endpoint_paths", value="POST /v1/chat/completions", source="https://api.cometapi.com/doc",
                        operator="ana", now=NOW)
        reviewlog.add(ws, {"review_date": "2026-07-05", "operator": "ana", "source_urls_checked":
                           "https://api.cometapi.com/pricing", "ledger_period": PERIOD, "request_owner": "platform",
                           "status_class": "2xx", "evidence_attached": "pricing page", "follow_up_owner": "",
                           "result": "pass", "notes": "prices match the captured snapshot"}, now=NOW)
        run = ws.one("SELECT run_id, manifest_sha256 FROM runs WHERE period = ?", [PERIOD]) or {}
        lock.record(ws, period=PERIOD, event="approved", actor="maria", reason=None, run_id=run["run_id"],
                    manifest_sha256=run["manifest_sha256"], checklist={"passed": True}, now=NOW)
    return root


def test_review_records_flow_into_the_pack(reviewed, tmp_path):
    with Workspace.open(reviewed) as ws:
        files = build_files(collect(ws, PERIOD), generated_at=NOW)
    report = json.loads(files[S.ARTIFACTS["variance_report"][0]])
    closed = [v for g in report["groups"] for v in g["variances"]]
    assert [v["status"] for v in closed] == ["closed"] and closed[0]["disposition"] == "accepted"
    attachment = next(p for p in closed[0]["evidence"] if p.startswith("internal/attachments/"))
    assert files[attachment] == b"Invoice 2026-06, support line, 66.52 USD\n"
    approval = rows(files, S.ARTIFACTS["approval_record"][0])
    assert [(a["decision"], a["reviewer"], a["approved_at"]) for a in approval] == [
        ("approved", "maria", "2026-07-05T12:00:00Z")]
    assert closed[0]["id"] in approval[0]["exceptions"]
    contract_rows = {r["area"]: r for r in rows(files, S.CONTRACT_DETAILS)}
    assert contract_rows["endpoint paths"]["verifier"] == "ana"
    assert contract_rows["endpoint paths"]["source_url"] == "https://api.cometapi.com/doc"
    log = rows(files, S.REVIEW_LOG)
    assert len(log) == 1 and log[0]["notes"] == "prices match the captured snapshot"
    readme = files[S.README].decode()
    assert "No approval recorded" not in readme and "approved by maria" in readme
    assert "| Closed variances | 1 |" in readme and "| Open variances | 0 |" in readme
    assert verify(write(files, tmp_path / "pack.zip"))["ok"]


def test_reopened_period_has_no_approval_in_force(reviewed):
    with Workspace.open(reviewed) as ws:
        lock.record(ws, period=PERIOD, event="reopened", actor="maria", reason="late invoice", run_id=None,
                    manifest_sha256=None, checklist=None, now=NOW)
        files = build_files(collect(ws, PERIOD), generated_at=NOW)
    assert [a["decision"] for a in rows(files, S.ARTIFACTS["approval_record"][0])] == ["approved", "reopened"]
    assert "approved and then reopened" in files[S.README].decode()


def test_headers_only_when_nothing_is_recorded(demo_files):
    for path in (S.ARTIFACTS["approval_record"][0], S.REVIEW_LOG):
        assert len(demo_files[path].decode().splitlines()) == 1
    assert "No approval recorded" in demo_files[S.README].decode()
