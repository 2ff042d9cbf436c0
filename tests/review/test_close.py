"""End to end: close the demo period through the CLI, from a failing checklist to approval, lock and reopen."""

from __future__ import annotations

from pathlib import Path

from costproof.demo import generate  # noqa: F401  (the demo package must import)
from costproof.model.review import ITEM_IDS, REVIEW_LOG_FIELDS
from costproof.service.demo import data_dir

from .conftest import PERIOD, Cli

CONTRACT = {
    "endpoint_paths": "POST /v1/chat/completions",
    "auth_headers": "Authorization: Bearer <key from COMETAPI_KEY>",
    "request_fields": "model, messages, stream, stream_options.include_usage, max_tokens",
    "response_fields": "usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details.cached_tokens",
    "error_behavior": "4xx/5xx carry an error object; failed calls are logged as type 5 with quota 0",
    "rate_limit_billing": "429 on rate limit, retried by the client; quota 500000 = 1 USD, billed per request",
}
DOCS = "https://api.cometapi.com/doc"


def failing(checklist: dict) -> set[str]:
    return {i["id"] for i in checklist["items"] if not i["passed"]}


def docs_sheet(cli: Cli, snapshot: str, path: Path) -> Path:
    """The same prices as the snapshot, as the pricing documentation would state them (a price-csv sheet)."""
    rules = cli.json("pricing", "show", snapshot)["rules"]
    lines = ["model,meter,unit_price,per_quantity,currency,multiplier,tier_min"]
    lines += [f"{r['model']},{r['meter']},{r['unit_price']},{r['per_quantity']},{r['currency']},"
              f"{r['multiplier'] or 1},{r['tier_min'] or 0}" for r in rules if not r["group"]]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_close_a_period_end_to_end(cli: Cli, tmp_path: Path) -> None:
    # --- the checklist starts failing, with exactly the 13 items, and approve refuses
    first = cli.json("checklist", "--period", PERIOD, code=1)
    assert [i["id"] for i in first["items"]] == list(ITEM_IDS)
    assert [i["n"] for i in first["items"]] == list(range(1, 14))
    assert all({"id", "title", "passed", "detail", "evidence"} <= set(i) for i in first["items"])
    assert first["passed"] is False and first["state"] == "open"
    assert {"pricing_captured", "pricing_crosschecked", "contract_verified", "environments_separated",
            "unmapped_handled", "adjustments_evidenced"} <= failing(first)
    refused = cli("approve", "--period", PERIOD, "--reviewer", "rita", code=1)
    assert "Manual adjustments include owner, reason, and evidence" in refused.output
    assert cli.json("runs", "--period", PERIOD)["locked"] == []

    # --- variances resolved one by one; the first is a correction kept apart from the raw figures
    open_ = cli.json("variances", "--period", PERIOD, code=1)["variances"]
    assert open_ and all(v["status"] == "open" for v in open_)
    for n, v in enumerate(open_):
        if n == 0:
            amount = f"-{v['difference']}" if not v["difference"].startswith("-") else v["difference"][1:]
            out = cli.json("resolve", v["id"], "--disposition", "corrected", "--owner", "FinOps", "--reason",
                           "the ledger line used a superseded price", "--amount", amount, "--leg", "statement",
                           "--evidence", "https://tickets.example.com/FIN-101")
            assert out["closes_gap"] is True and out["adjustment"]["leg"] == "statement"
        else:
            cli("resolve", v["id"], "--disposition", "accepted", "--owner", "FinOps", "--reason",
                "timing: booked in the next ledger period", "--evidence", "https://tickets.example.com/FIN-102")
        after = {x["id"]: x for x in cli.json("variances", "--period", PERIOD, code=None)["variances"]}
        assert after[v["id"]]["status"] == ("corrected" if n == 0 else "accepted")
        assert after[v["id"]]["difference"] == v["difference"]  # raw figures never overwritten
    cli("variances", "--period", PERIOD)  # exit 0: nothing open
    assert "adjustments_evidenced" not in failing(cli.json("checklist", "--period", PERIOD, code=1))

    # --- escalations closed by dispositions
    for esc in cli.json("checklist", "--period", PERIOD, code=1)["escalations"]:
        if esc["status"] == "open":
            cli("resolve", esc["id"], "--disposition", "accepted", "--owner", esc["owner"], "--reason",
                "internal evaluation model, never billed; exclusion approved", "--evidence",
                "https://tickets.example.com/FIN-103")

    # --- contract details, a file capture attested, a second CometAPI source cross-checked
    for item, value in CONTRACT.items():
        cli("contract", "verify", item, "--value", value, "--source", DOCS, "--operator", "ines")
    assert all(r["verified"] for r in cli.json("contract", "list")["contract"])
    used = cli.json("runs", "--period", PERIOD)["runs"][-1]["snapshot_ids"]
    sheet = docs_sheet(cli, used[0], tmp_path / "cometapi-pricing-docs.csv")
    docs = cli.json("pricing", "capture", str(sheet), "--format", "price-csv", "--label", "cometapi pricing docs",
                    "--effective-from", "2026-05-01T00:00:00Z", "--operator", "rita")
    cli("pricing", "crosscheck", used[0], docs["snapshot_id"])

    # --- label the stray key, re-run: history is kept
    stray = next(i for i in cli.json("checklist", "--period", PERIOD, code=1)["items"]
                 if i["id"] == "environments_separated")["failing"]
    labels = (data_dir() / "labels.csv").read_text("utf-8").rstrip("\n")
    labels += "".join(f"\n{key},cc-billing,invoicing,production" for key in stray) + "\n"
    (tmp_path / "labels.csv").write_text(labels, "utf-8")
    cli("labels", "import", str(tmp_path / "labels.csv"))
    cli("run", "--period", PERIOD, code=None)
    for v in cli.json("variances", "--period", PERIOD, code=None)["variances"]:
        if v["status"] == "open":  # a relabelled line may move; resolve what the re-run opened
            cli("resolve", v["id"], "--disposition", "accepted", "--owner", "FinOps", "--reason",
                "relabelled key moved spend to cc-billing", "--evidence", "https://tickets.example.com/FIN-104")

    # files captured as sources: attest where they were downloaded from (covers what fails now)
    att = cli.json("checklist", "attest", "1", "--period", PERIOD, "--operator", "rita", "--evidence",
                   "https://api.cometapi.com/api/models", "--note", "downloaded the model list on 2026-07-01")
    assert att["covers"] and att["recorded_at"].endswith("Z")

    # --- the checklist passes now; approval writes the record and locks the period
    done = cli.json("checklist", "--period", PERIOD)
    assert done["passed"] is True, [(i["id"], i["detail"]) for i in done["items"] if not i["passed"]]
    assert done["items"][0]["attestation"]["operator"] == "rita"
    rec = cli.json("approve", "--period", PERIOD, "--reviewer", "rita")
    runs = cli.json("runs", "--period", PERIOD)
    assert rec["approved"] is True and rec["reviewer"] == "rita" and rec["recorded_at"].endswith("Z")
    assert rec["run_id"] == runs["runs"][-1]["run_id"] and rec["manifest_sha256"] == runs["runs"][-1]["manifest_sha256"]
    assert rec["checklist"]["passed"] is True and len(rec["checklist_sha256"]) == 64
    assert runs["locked"] == [PERIOD] and runs["runs"][-1]["approved"]
    assert cli.json("checklist", "--period", PERIOD)["state"] == "approved"

    # --- the lock refuses writes touching the period (exit 2, nothing stored)
    imports_before = cli.json("usage", "list") if _has(cli, "usage", "list") else None
    for args in (("run", "--period", PERIOD),
                 ("resolve", open_[0]["id"], "--disposition", "accepted", "--owner", "x", "--reason", "y"),
                 ("pricing", "capture", str(sheet), "--format", "price-csv", "--effective-from", "2026-06-15"),
                 ("ledger", "import", str(_late_ledger(tmp_path))),
                 ("checklist", "attest", "4", "--period", PERIOD, "--operator", "x", "--evidence", DOCS)):
        out = cli(*args, code=None)
        assert out.exit_code == 2, (args, out.output)
        if args[0] != "checklist":
            assert "approved and locked" in out.output and "costproof reopen" in out.output
    usage_file = _june_usage(tmp_path)
    out = cli("usage", "import", str(usage_file), "--format", "openai-jsonl", code=2)
    assert "locked" in out.output
    if imports_before is not None:
        assert cli.json("usage", "list") == imports_before
    assert cli("approve", "--period", PERIOD, "--reviewer", "rita", code=2)

    # --- reopen unlocks (recorded); a re-run keeps every earlier run
    reopened = cli.json("reopen", "--period", PERIOD, "--reason", "late invoice correction", "--operator", "omar")
    assert reopened["event"] == "reopened" and reopened["operator"] == "omar"
    assert cli.json("runs", "--period", PERIOD)["locked"] == []
    cli("run", "--period", PERIOD, code=None)
    history = cli.json("runs", "--period", PERIOD)["runs"]
    assert len(history) == 3 and [r["seq"] for r in history] == [1, 2, 3]
    diff = cli.json("runs", "diff", history[0]["run_id"], history[1]["run_id"])
    whats = {c["what"] for c in diff["changes"]}
    assert "labels_version" in whats and "snapshot" in whats
    same = cli.json("runs", "diff", history[1]["run_id"], history[2]["run_id"])
    assert same["changes"] == [] and same["same_inputs"] is True
    assert cli.json("checklist", "--period", PERIOD)["state"] == "open"


def _has(cli: Cli, *args: str) -> bool:
    return cli(*args, "--help", code=None).exit_code == 0


def _late_ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger-late.csv"
    path.write_text("line_id,period,cost_center,model,amount,currency\nGL-LATE-1,2026-06,cc-ml,gpt-4o,1.00,USD\n")
    return path


def _june_usage(tmp_path: Path) -> Path:
    path = tmp_path / "late.jsonl"
    path.write_text('{"id": "chatcmpl-late-1", "created": 1781000000, "model": "gpt-4o", '
                    '"usage": {"prompt_tokens": 10, "completion_tokens": 2}}\n', "utf-8")
    return path


def test_review_log_fields_are_exactly_the_seed(cli: Cli) -> None:
    cli("review", "log", "add", "--review-date", "2026-07-02", "--operator", "rita", "--ledger-period", PERIOD,
        "--source-urls-checked", "https://api.cometapi.com/api/models https://api.cometapi.com/doc",
        "--status-class", "2xx", "--result", "pass", "--notes", "prices match the docs")
    rows = cli.json("review", "log")["review_log"]
    assert len(rows) == 1
    assert set(rows[0]) == {*REVIEW_LOG_FIELDS, "id", "recorded_at"}
    assert rows[0]["source_urls_checked"] == "https://api.cometapi.com/api/models https://api.cometapi.com/doc"
