"""The pack's layout and contents for the demo period, through the library and the CLI."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from conftest import PERIOD
from typer.testing import CliRunner

from costproof.cli import app
from costproof.pack import schema as S
from costproof.pack.export import write
from costproof.pack.verify import verify

runner = CliRunner()


def rows(files: dict[str, bytes], path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files[path].decode("utf-8"), newline="")))


def test_tree_holds_every_required_file(demo_files):
    required = {S.README, S.REPORT, S.PACK_JSON, S.MANIFEST, S.REVIEW_LOG, S.CONTRACT_DETAILS,
                S.WHAT_NOT_TO_ASSERT, S.SOURCES, S.LEDGER_LINES, *(p for p, _, _ in S.ARTIFACTS.values())}
    assert required <= set(demo_files)
    assert any(p.startswith("public/evidence/") for p in demo_files)
    manifest = demo_files[S.MANIFEST].decode().splitlines()
    assert sorted(line.split("  ", 1)[1] for line in manifest) == sorted(set(demo_files) - {S.MANIFEST})


def test_pack_json_names_schema_versions_and_run(demo_files, demo_ws):
    meta = json.loads(demo_files[S.PACK_JSON])
    assert meta["schema"] == S.PACK_SCHEMA
    assert meta["generated_at"] == "2026-07-02T09:15:00Z"
    assert meta["period"] == PERIOD and meta["run_id"].startswith("run-")
    assert meta["workspace_id"] and meta["costproof_version"]
    schemas = json.loads(demo_files[S.SCHEMAS])
    assert {a: v["schema"] for a, v in schemas["artifacts"].items()} == {a: s for a, (_, s, _) in
                                                                          S.ARTIFACTS.items()}


def test_review_log_has_exactly_the_ten_fields(demo_files):
    header = demo_files[S.REVIEW_LOG].decode().splitlines()[0]
    assert header == ("review_date,operator,source_urls_checked,ledger_period,request_owner,status_class,"
                      "evidence_attached,follow_up_owner,result,notes")


def test_contract_details_prefilled_with_the_checklist_areas(demo_files):
    got = rows(demo_files, S.CONTRACT_DETAILS)
    assert list(got[0]) == ["area", "what_to_verify", "source_url", "accessed", "verified_value", "verifier",
                            "safe_candidate_wording"]
    areas = [r["area"] for r in got]
    for needle in ("endpoint paths", "auth headers", "request fields", "response fields", "error behavior",
                   "rate-limit and billing", "rate multipliers", "price adjustments", "request monitoring",
                   "abnormal-charge", "recharge credits", "unit metric"):
        assert any(needle in a for a in areas), needle
    assert all(r["what_to_verify"] and r["safe_candidate_wording"] for r in got)


def test_public_evidence_matches_the_run_inputs(demo_files):
    calc = json.loads(demo_files[S.ARTIFACTS["calculation_manifest"][0]])
    snaps = [i for i in calc["inputs"] if i["kind"] == "pricing_snapshot"]
    assert snaps
    sources = rows(demo_files, S.SOURCES)
    for snap in snaps:
        for sha in snap["evidence"]:
            row = next(r for r in sources if r["sha256"] == sha)
            assert row["accessed_at"].endswith("Z") and row["included"] == "yes"
            import hashlib

            assert hashlib.sha256(demo_files[row["path"]]).hexdigest() == sha


def test_usage_export_holds_aggregates_never_request_rows(demo_files):
    usage = rows(demo_files, S.ARTIFACTS["usage_export"][0])
    assert "record_id" not in usage[0] and "api_key_name" not in usage[0] and "request_id" not in usage[0]
    assert len(usage) * 3 < sum(int(r["rows"]) for r in usage)  # cells, not requests
    assert {r["outcome"] for r in usage} >= {"priced", "error", "test_environment"}


def test_readme_states_missing_approval_and_figures(demo_files):
    readme = demo_files[S.README].decode()
    assert "No approval recorded" in readme
    assert "| Expected cost, recomputed from evidence | 122.649095 USD |" in readme or "| Expected cost" in readme
    assert "## Handoff note" in readme and "costproof run --period 2026-06" in readme


def test_report_is_self_contained(demo_files):
    html = demo_files[S.REPORT].decode()
    assert html.count("<svg") >= 2
    for external in ("<script", "<link", "http-equiv", "@import", "url("):
        assert external not in html
    for attr in ("src=\"http", "href=\"http", "href=\"//"):
        assert attr not in html


def test_verify_ok_on_directory_and_zip(demo_files, demo_pack, tmp_path):
    assert verify(demo_pack) == {"ok": True, "files_checked": len(demo_files) - 1, "problems": []}
    z = write(demo_files, tmp_path / "pack.zip")
    assert verify(z)["ok"]
    with zipfile.ZipFile(z) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(demo_files)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_cli_pack_and_verify_print_one_json_document(demo_ws, tmp_path):
    out = tmp_path / "cli-pack.zip"
    res = runner.invoke(app, ["-w", str(demo_ws), "pack", "--period", PERIOD, "--out", str(out), "--json"],
                        env={"COSTPROOF_AS_OF": "2026-07-03T00:00:00Z"})
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["format"] == "zip" and doc["generated_at"] == "2026-07-03T00:00:00Z"
    res = runner.invoke(app, ["pack", "verify", str(out), "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == {"ok": True, "files_checked": doc["files"] - 1, "problems": []}


def test_cli_exit_codes(demo_ws, demo_pack, tmp_path):
    res = runner.invoke(app, ["-w", str(demo_ws), "pack", "--period", "2026-05", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "no run for 2026-05" in res.output
    res = runner.invoke(app, ["pack", "verify", str(tmp_path / "nothing-here"), "--json"])
    assert res.exit_code == 2
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "keep.txt").write_text("mine")
    res = runner.invoke(app, ["-w", str(demo_ws), "pack", "--period", PERIOD, "--out", str(tmp_path / "occupied")])
    assert res.exit_code == 2 and (tmp_path / "occupied" / "keep.txt").exists()
    tampered = tmp_path / "tampered"
    import shutil

    shutil.copytree(demo_pack, tampered)
    path = tampered / S.ARTIFACTS["usage_export"][0]
    path.write_bytes(path.read_bytes().replace(b",priced,", b",error,", 1))
    res = runner.invoke(app, ["pack", "verify", str(tampered), "--json"])
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["ok"] is False
    checks = {(p["file"], p["check"]) for p in doc["problems"]}
    assert (S.ARTIFACTS["usage_export"][0], "checksum") in checks
    assert any(c == "totals" for _, c in checks)


def test_verify_reports_totals_that_disagree_even_with_fresh_checksums(demo_files, tmp_path):
    from costproof.pack.export import manifest_bytes

    files = dict(demo_files)
    files[S.README] = files[S.README].replace(b"| Open variances | 1 |", b"| Open variances | 0 |")
    files[S.MANIFEST] = manifest_bytes({k: v for k, v in files.items() if k != S.MANIFEST})
    res = verify(write(files, tmp_path / "p"))
    assert not res["ok"]
    assert [p["check"] for p in res["problems"]] == ["totals"]
    assert "open" in res["problems"][0]["message"]


def test_verify_reports_a_dangling_evidence_link(demo_files, tmp_path):
    from costproof.pack.export import manifest_bytes

    files = dict(demo_files)
    evidence = next(p for p in files if p.startswith("public/evidence/"))
    del files[evidence]
    files[S.MANIFEST] = manifest_bytes({k: v for k, v in files.items() if k != S.MANIFEST})
    res = verify(write(files, tmp_path / "p"))
    checks = {p["check"] for p in res["problems"]}
    assert {"links", "inputs"} <= checks


def test_demo_pack_has_no_claims_without_links(demo_files):
    from costproof.pack.claims import html_claims, markdown_claims

    assert markdown_claims(demo_files[S.README].decode()) == []
    assert html_claims(demo_files[S.REPORT].decode()) == []


def test_help_exists_for_pack_and_probe():
    for args in (["pack", "--help"], ["pack", "verify", "--help"], ["probe", "--help"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0 and len(res.output) > 200


def test_docs_cover_every_file(demo_files):
    docs = (Path(__file__).resolve().parents[2] / "docs" / "pack.md").read_text()
    for path in demo_files:
        if path.startswith(("public/evidence/", "internal/evidence/", "internal/attachments/")):
            continue
        assert path in docs, path
