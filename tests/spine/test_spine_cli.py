"""End-to-end spine through the CLI: capture, import, map, ledger, run, variances."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.spine.conftest import JUNE_1, Cli, log_row, models_doc, write_json

PRICES = {"gpt-4o-mini": ("0.15", "0.60"), "gpt-4o": ("2.50", "10.00")}


def _setup(cli: Cli, tmp: Path) -> None:
    write_json(tmp / "models.json", models_doc(PRICES))
    cli("pricing", "capture", str(tmp / "models.json"), "--format", "cometapi-models", "--operator", "alice",
        "--effective-from", "2026-06-01T00:00:00Z")
    rows = [log_row(i, JUNE_1 + 3600 * i, model="gpt-4o-mini-prod" if i % 2 else "gpt-4o") for i in range(1, 21)]
    write_json(tmp / "export.json", rows)
    cli("usage", "import", str(tmp / "export.json"), "--format", "newapi-log")
    cli("mapping", "add", "gpt-4o-mini-prod", "gpt-4o-mini", "--approved-by", "alice", "--effective-from",
        "2026-06-01")


def test_happy_path_matches_exactly(cli: Cli, tmp_path: Path) -> None:
    _setup(cli, tmp_path)
    # 10 rows each: mini 1000 in, 100 out; 4o the same
    mini = 10 * (Decimal(1000) * Decimal("0.15") + 100 * Decimal("0.60")) / 1_000_000
    big = 10 * (Decimal(1000) * Decimal("2.50") + 100 * Decimal("10.00")) / 1_000_000
    (tmp_path / "ledger.csv").write_text(
        f"line_id,period,model,amount,currency\nL1,2026-06,gpt-4o-mini,{mini},USD\nL2,2026-06,gpt-4o,{big},USD\n")
    cli("ledger", "import", str(tmp_path / "ledger.csv"), "--format", "ledger-csv")
    run = cli.json("run", "--period", "2026-06")
    assert run["rows_in"] == 20 == run["rows_priced"] + run["rows_excluded"] + run["rows_quarantined"]
    assert run["expected"] == {"USD": f"{mini + big:.6f}"}
    assert run["engine"] == "duckdb" and run["rounding"] == "none" and len(run["manifest_sha256"]) == 64
    var = cli.json("variances", "--period", "2026-06", "--all")
    assert {v["line_id"]: v["status"] for v in var["variances"]} == {"L1": "matched", "L2": "matched"}
    assert cli.json("variances", "--period", "2026-06")["variances"] == []


def test_difference_is_an_open_variance_with_owner(cli: Cli, tmp_path: Path) -> None:
    _setup(cli, tmp_path)
    (tmp_path / "ledger.csv").write_text("period,model,amount,currency\n2026-06,gpt-4o,1.00,USD\n")
    cli("ledger", "import", str(tmp_path / "ledger.csv"))
    cli("run", "--period", "2026-06", code=1)
    var = cli.json("variances", "--period", "2026-06", code=1)
    [v] = var["variances"]
    assert v["line_id"] == "ledger.csv:2" and v["grain"] == {"model": "gpt-4o"}
    assert v["expected"] == "0.035000" and v["actual"] == "1.000000" and v["difference"] == "0.965000"
    assert v["bucket"] == "unknown" and v["owner"] == "incident owner" and v["status"] == "open"
    assert v["currency"] == "USD" and v["evidence"][0]["line"] == 2


def test_unmapped_model_is_unpriced_and_reported(cli: Cli, tmp_path: Path) -> None:
    write_json(tmp_path / "models.json", models_doc(PRICES))
    cli("pricing", "capture", str(tmp_path / "models.json"), "--effective-from", "2026-05-01")
    write_json(tmp_path / "export.json", [log_row(1, JUNE_1 + 10, model="gpt-4o-mini-prod"),
                                          log_row(2, JUNE_1 + 20, model="gpt-4o")])
    cli("usage", "import", str(tmp_path / "export.json"))
    run = cli.json("run", "--period", "2026-06", code=1)
    assert run["exclusions"] == {"unpriced_model": 1}
    assert run["unpriced_models"] == [{"model": "gpt-4o-mini-prod", "rows": 1}]


def test_rows_before_every_snapshot_are_unpriced_and_boundary_is_half_open(cli: Cli, tmp_path: Path) -> None:
    write_json(tmp_path / "old.json", models_doc({"gpt-4o": ("2.00", "8.00")}))
    write_json(tmp_path / "new.json", models_doc({"gpt-4o": ("2.50", "10.00")}))
    cli("pricing", "capture", str(tmp_path / "old.json"), "--effective-from", "2026-06-10T00:00:00Z")
    cli("pricing", "capture", str(tmp_path / "new.json"), "--effective-from", "2026-06-20T00:00:00Z")
    at_20 = JUNE_1 + 19 * 86400
    rows = [log_row(1, JUNE_1 + 3600, model="gpt-4o", prompt=1_000_000, completion=0),  # before every snapshot
            log_row(2, at_20 - 1, model="gpt-4o", prompt=1_000_000, completion=0),  # old price
            log_row(3, at_20, model="gpt-4o", prompt=1_000_000, completion=0)]  # new price, at the boundary
    write_json(tmp_path / "export.json", rows)
    cli("usage", "import", str(tmp_path / "export.json"))
    run = cli.json("run", "--period", "2026-06", code=1)
    assert run["exclusions"] == {"unpriced_model": 1}
    assert run["expected"] == {"USD": "4.500000"}
    assert len(run["snapshot_ids"]) == 2
    forced = cli.json("run", "--period", "2026-06", "--snapshot", run["snapshot_ids"][0])
    assert forced["rows_priced"] == 3


def test_retries_refunds_topups_and_errors_are_counted_not_priced(cli: Cli, tmp_path: Path) -> None:
    write_json(tmp_path / "models.json", models_doc(PRICES))
    cli("pricing", "capture", str(tmp_path / "models.json"), "--effective-from", "2026-05-01")
    rows = [
        log_row(1, JUNE_1 + 100, kind=5, prompt=0, completion=0, quota=0),  # failed attempt
        log_row(2, JUNE_1 + 110),  # its retry, 10 s later: attempt 2
        log_row(3, JUNE_1 + 500, kind=6, quota=250000, prompt=0, completion=0),  # refund 0.50 USD
        log_row(4, JUNE_1 + 600, kind=1, quota=5000000, prompt=0, completion=0, model=""),  # top-up
        log_row(5, JUNE_1 + 700),
    ]
    write_json(tmp_path / "export.json", rows)
    cli("usage", "import", str(tmp_path / "export.json"))
    run = cli.json("run", "--period", "2026-06")
    assert run["exclusions"] == {"error": 1, "refund": 1, "topup": 1}
    assert run["rows_priced"] == 2
    # provider leg: two consumes of 1400 quota and a refund of -0.50 USD
    assert run["provider_reported"] == {"USD": f"{Decimal(2800) / 500000 - Decimal('0.5'):.6f}"}
    runs = sorted(Path(cli.workspace, "runs").glob("*/rows.parquet"))
    import duckdb

    got = duckdb.sql(f"SELECT attempt, is_retry FROM '{runs[0]}' WHERE record_kind IN ('consume','error') "
                     "ORDER BY occurred_at").fetchall()
    assert got == [(1, False), (2, True), (1, False)]


def test_pricing_list_and_show_have_provenance(cli: Cli, tmp_path: Path) -> None:
    write_json(tmp_path / "models.json", models_doc(PRICES))
    snap = cli.json("pricing", "capture", str(tmp_path / "models.json"), "--operator", "alice", "--label", "june")
    listed = cli.json("pricing", "list")["snapshots"]
    assert [s["snapshot_id"] for s in listed] == [snap["snapshot_id"]]
    shown = cli.json("pricing", "show", snap["snapshot_id"])
    assert shown["operator"] == "alice" and shown["label"] == "june" and shown["source_kind"] == "file"
    assert shown["accessed_at"] == "2026-07-02T09:00:00Z" == shown["effective_from"]
    assert len(shown["evidence"]) == 1 and len(shown["evidence"][0]) == 64
    blob = Path(cli.workspace, "evidence", shown["evidence"][0][:2], shown["evidence"][0])
    assert blob.read_bytes() == (tmp_path / "models.json").read_bytes()
    assert {(r["model"], r["meter"], r["unit_price"], r["per_quantity"]) for r in shown["rules"]} == {
        ("gpt-4o-mini", "input_tokens", "0.15", 1000000), ("gpt-4o-mini", "output_tokens", "0.6", 1000000),
        ("gpt-4o", "input_tokens", "2.5", 1000000), ("gpt-4o", "output_tokens", "10", 1000000)}
    again = cli.json("pricing", "capture", str(tmp_path / "models.json"), "--operator", "alice", "--label", "june")
    assert again["already_captured"] is True and again["snapshot_id"] == snap["snapshot_id"]


def test_mapping_import_and_list(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "map.csv").write_text(
        "internal_model_alias,source_model_id,pricing_unit,effective_from,approved_by\n"
        "chat-default,gpt-4o-mini,1M tokens,2026-06-01,alice\nchat-smart,gpt-4o,1M tokens,,bob\n")
    cli("mapping", "import", str(tmp_path / "map.csv"))
    listed = cli.json("mapping", "list")["mapping"]
    assert [(m["alias"], m["source_model_id"], m["approved_by"]) for m in listed] == [
        ("chat-default", "gpt-4o-mini", "alice"), ("chat-smart", "gpt-4o", "bob")]
    bad = tmp_path / "bad.csv"
    bad.write_text("internal_model_alias,source_model_id,pricing_unit,effective_from,approved_by\nx,y,,,\n")
    result = cli("mapping", "import", str(bad), code=2)
    assert "bad.csv" in result.output and "record 2" in result.output and "approved_by" in result.output


def test_labels_apply_at_run_time_and_test_traffic_is_excluded(cli: Cli, tmp_path: Path) -> None:
    write_json(tmp_path / "models.json", models_doc(PRICES))
    cli("pricing", "capture", str(tmp_path / "models.json"), "--effective-from", "2026-05-01")
    rows = [log_row(1, JUNE_1 + 1, token="checkout-prod"), log_row(2, JUNE_1 + 2, token="cc-web-staging"),
            log_row(3, JUNE_1 + 3, token="qa-bot")]
    write_json(tmp_path / "export.json", rows)
    cli("usage", "import", str(tmp_path / "export.json"))
    (tmp_path / "labels.csv").write_text("token_name,cost_center,environment\ncheckout-*,cc-checkout,production\n"
                                         "cc-*-staging,cc-web,staging\nqa-*,cc-qa,test\n*,cc-catchall,production\n")
    cli("labels", "import", str(tmp_path / "labels.csv"))
    assert [r["pattern"] for r in cli.json("labels", "list")["labels"]] == ["checkout-*", "cc-*-staging", "qa-*", "*"]
    (tmp_path / "ledger.csv").write_text("period,cost_center,environment,amount,currency\n"
                                         "2026-06,cc-checkout,production,0.00021,USD\n"
                                         "2026-06,cc-web,staging,0.00021,USD\n")
    cli("ledger", "import", str(tmp_path / "ledger.csv"))
    run = cli.json("run", "--period", "2026-06")
    assert run["exclusions"] == {"test_environment": 1} and run["rows_priced"] == 2
    assert run["lines_matched"] == 2


def test_url_capture_follows_pages_and_records_headers(cli: Cli, price_server) -> None:
    base, handler = price_server
    items = list(PRICES.items()) + [("o3-mini", ("1.10", "4.40"))]
    handler.pages = [models_doc(dict(items[:2]), page=1, page_size=2, total=3),
                     models_doc(dict(items[2:]), page=2, page_size=2, total=3)]
    snap = cli.json("pricing", "capture", f"{base}/api/models", "--operator", "alice")
    assert snap["source_kind"] == "url" and snap["http_status"] == 200
    assert snap["classification"] == "public-doc" and snap["models"] == 3 and len(snap["evidence"]) == 2
    assert [h["headers"]["etag"] for h in snap["headers"]] == ['"page-1"', '"page-2"']
    assert [h.split(" ")[0] for h in handler.hits] == ["/api/models", "/api/models?page=2&page_size=2"]
    assert all(h.endswith("auth=None") for h in handler.hits)


def test_url_capture_refuses_non_2xx_and_stores_nothing(cli: Cli, price_server) -> None:
    base, _ = price_server
    result = cli("pricing", "capture", f"{base}/missing", code=2)
    assert "HTTP 404" in result.output and "nothing stored" in result.output
    assert cli.json("pricing", "list")["snapshots"] == []
    assert not any(Path(cli.workspace, "evidence").rglob("*")) or all(
        p.is_dir() for p in Path(cli.workspace, "evidence").rglob("*"))


def test_key_from_env_is_sent_never_stored(cli: Cli, price_server, monkeypatch) -> None:
    base, handler = price_server
    handler.pages = [models_doc(PRICES)]
    key = "sk-live-SECRETSECRETSECRET123456"
    cli.runner = type(cli.runner)(env={"PRICE_KEY": key})
    cli("pricing", "capture", f"{base}/api/models", "--key-env", "PRICE_KEY")
    assert handler.hits[0].endswith(f"auth=Bearer {key}")
    for f in Path(cli.workspace).rglob("*"):
        if f.is_file():
            assert key.encode() not in f.read_bytes(), f


def test_init_is_idempotent_and_workspace_env(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from costproof.cli import app

    target = tmp_path / "via-env"
    r = CliRunner().invoke(app, ["init", "--json"], env={"COSTPROOF_WORKSPACE": str(target)})
    assert r.exit_code == 0 and json.loads(r.stdout)["created"] is True
    assert {p.name for p in target.iterdir()} >= {"catalog.duckdb", "evidence", "usage", "costproof.toml"}
    r = CliRunner().invoke(app, ["init", "--json"], env={"COSTPROOF_WORKSPACE": str(target)})
    assert json.loads(r.stdout)["created"] is False
    r = CliRunner().invoke(app, ["--workspace", str(tmp_path / "nope"), "pricing", "list"])
    assert r.exit_code == 2 and "no costproof workspace" in r.output
