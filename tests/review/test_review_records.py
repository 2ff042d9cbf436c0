"""Review log secret/prompt rejection per field, append-only dispositions, contract and attestation guards."""

from __future__ import annotations

import pytest

from costproof.model.review import REVIEW_LOG_FIELDS

from .conftest import PERIOD, Cli

VALID = {"review_date": "2026-07-02", "operator": "rita", "source_urls_checked": "https://api.cometapi.com/doc",
         "ledger_period": PERIOD, "request_owner": "platform", "status_class": "2xx",
         "evidence_attached": "probe:abc123", "follow_up_owner": "FinOps", "result": "pass", "notes": "all good"}
SECRET = "sk-live0123456789abcdefABCDEF"
BAD_VALUES = {
    "secret key": SECRET,
    "bearer token": "Bearer eyJhbGciOiJIUzI1NiJ9abcdefgh",
    "password assignment": "password=hunter2hunter2",
    "role marker": "system: You are a helpful assistant.\nuser: summarise the invoice",
    "chat payload": '{"role": "user", "content": "what is the price of gpt-4o"}',
    "response payload": '{"choices": [{"message": {"content": "hello"}}]}',
    "long free text": "the model said " + "lorem ipsum " * 60,
}


def _add_args(values: dict[str, str]) -> list[str]:
    args = ["review", "log", "add"]
    for k, v in values.items():
        args += [f"--{k.replace('_', '-')}", v]
    return args


@pytest.mark.parametrize("field", REVIEW_LOG_FIELDS)
def test_review_log_rejects_a_secret_in_every_field(cli: Cli, field: str) -> None:
    out = cli(*_add_args({**VALID, field: SECRET}), code=2)
    assert f"field '{field}'" in out.output
    assert SECRET not in out.output
    assert cli.json("review", "log")["review_log"] == []


@pytest.mark.parametrize("kind", sorted(BAD_VALUES))
@pytest.mark.parametrize("field", ["notes", "operator", "result"])
def test_review_log_rejects_prompts_and_responses(cli: Cli, field: str, kind: str) -> None:
    out = cli(*_add_args({**VALID, field: BAD_VALUES[kind]}), code=2)
    assert f"field '{field}'" in out.output


def test_review_log_checks_shapes_and_is_append_only(cli: Cli) -> None:
    cli(*_add_args({**VALID, "review_date": "02/07/2026"}), code=2)
    cli(*_add_args({**VALID, "ledger_period": "June"}), code=2)
    cli(*_add_args({**VALID, "source_urls_checked": "https://user:pw@example.com/x"}), code=2)
    cli(*_add_args({**VALID, "status_class": "ok"}), code=2)
    first = cli.json(*_add_args(VALID))
    second = cli.json(*_add_args({**VALID, "result": "fail", "status_class": "4xx, 429"}))
    rows = cli.json("review", "log")["review_log"]
    assert [r["id"] for r in rows] == [first["id"], second["id"]]
    assert cli.json("review", "log", "--period", "2026-05")["review_log"] == []


def _open_variance(cli: Cli) -> dict:
    return cli.json("variances", "--period", PERIOD, code=1)["variances"][0]


def test_dispositions_are_append_only_and_the_latest_counts(cli: Cli) -> None:
    v = _open_variance(cli)
    cli("resolve", v["id"], "--disposition", "escalated", "--owner", "incident owner", "--reason",
        "no explanation yet", "--evidence", "https://tickets.example.com/INC-1")
    cli("resolve", v["id"], "--disposition", "accepted", "--owner", "FinOps", "--reason",
        "stale price in the ledger, agreed with finance", "--evidence", "https://tickets.example.com/FIN-9")
    history = cli.json("review", "history", v["id"])["dispositions"]
    assert [d["disposition"] for d in history] == ["escalated", "accepted"]
    assert history[0]["recorded_at"].endswith("Z") and history[0]["difference_at"] == v["difference"]
    now = {x["id"]: x for x in cli.json("variances", "--period", PERIOD)["variances"]}[v["id"]]
    assert now["status"] == "accepted" and now["disposition"]["id"] == history[1]["id"]
    # a re-run with the same figures keeps the disposition in force
    cli("run", "--period", PERIOD, code=None)
    assert {x["id"]: x for x in cli.json("variances", "--period", PERIOD)["variances"]}[v["id"]]["status"] == \
        "accepted"


def test_evidence_file_goes_to_the_store(cli: Cli, tmp_path) -> None:
    v = _open_variance(cli)
    memo = tmp_path / "memo.txt"
    memo.write_text("finance agreed the ledger line used the May price\n")
    out = cli.json("resolve", v["id"], "--disposition", "accepted", "--owner", "FinOps", "--reason", "stale price",
                   "--evidence", str(memo))
    assert out["evidence"][0].startswith("evidence:sha256:") and "memo.txt" in out["evidence"][0]


@pytest.mark.parametrize("args, field", [
    (["--disposition", "ignored", "--owner", "a", "--reason", "b"], "--disposition"),
    (["--disposition", "corrected", "--owner", "a", "--reason", "b"], "--amount"),
    (["--disposition", "corrected", "--owner", "a", "--reason", "b", "--amount", "x1", "--leg", "statement"],
     "--amount"),
    (["--disposition", "corrected", "--owner", "a", "--reason", "b", "--amount", "1", "--leg", "ledger"], "--leg"),
    (["--disposition", "accepted", "--owner", "a", "--reason", "b", "--amount", "1"], "--amount"),
    (["--disposition", "accepted", "--owner", "a", "--reason", f"key was {SECRET}"], "--reason"),
    (["--disposition", "accepted", "--owner", "", "--reason", "b"], "--owner"),
    (["--disposition", "accepted", "--owner", "a", "--reason", "b", "--evidence", "/no/such/file"], "--evidence"),
])
def test_bad_resolve_is_exit_2_and_stores_nothing(cli: Cli, args: list[str], field: str) -> None:
    v = _open_variance(cli)
    out = cli("resolve", v["id"], *args, code=2)
    assert field in out.output
    assert cli.json("review", "history", v["id"])["dispositions"] == []


def test_resolve_unknown_or_matched_is_exit_2(cli: Cli) -> None:
    cli("resolve", "v-000000000000", "--disposition", "accepted", "--owner", "a", "--reason", "b", code=2)
    cli("resolve", "esc-2026-06-unmapped-00000000", "--disposition", "accepted", "--owner", "a", "--reason", "b",
        code=2)
    matched = next(v for v in cli.json("variances", "--period", PERIOD, "--all", code=1)["variances"]
                   if v["status"] == "matched")
    out = cli("resolve", matched["id"], "--disposition", "accepted", "--owner", "a", "--reason", "b", code=2)
    assert "within tolerance" in out.output


def test_contract_and_attestation_guards(cli: Cli) -> None:
    cli("contract", "verify", "nonsense", "--value", "x", "--source", "https://d.example", "--operator", "a", code=2)
    cli("contract", "verify", "auth_headers", "--value", "x", "--source", "not a url", "--operator", "a", code=2)
    out = cli("contract", "verify", "auth_headers", "--value", f"Authorization: Bearer {SECRET}", "--source",
              "https://d.example", "--operator", "a", code=2)
    assert "--value" in out.output and SECRET not in out.output
    listed = cli.json("contract", "list")["contract"]
    assert len(listed) == 6 and not any(r["verified"] for r in listed)
    # computed items cannot be attested; an attestable item that passes has nothing to attest
    assert "cannot be attested" in cli("checklist", "attest", "7", "--period", PERIOD, "--operator", "a",
                                       "--evidence", "https://d.example", code=2).output
    cli("checklist", "attest", "usage_coverage", "--period", PERIOD, "--operator", "a", "--evidence",
        "https://d.example", code=2)
    cli("checklist", "attest", "99", "--period", PERIOD, "--operator", "a", "--evidence", "https://d.example", code=2)


def test_exit_codes_and_json_shapes(cli: Cli) -> None:
    cl = cli.json("checklist", "--period", PERIOD, code=1)
    assert set(cl) >= {"period", "passed", "items", "escalations"}
    assert all(isinstance(i["passed"], bool) and isinstance(i["detail"], str) for i in cl["items"])
    for e in cl["escalations"]:
        assert {"id", "owner", "status", "detail", "item"} <= set(e)
    for line in cl["billing"]["lines"]:
        assert all(isinstance(v, str) for v in line["exposure"].values())
    cli("checklist", code=2)  # no --period
    cli("checklist", "--period", "June", code=2)
    cli("checklist", "--period", "2026-05", code=1)  # no run: every run-based item fails
    cli("approve", "--period", "2026-05", "--reviewer", "rita", code=1)
    cli("reopen", "--period", PERIOD, "--reason", "r", "--operator", "o", code=2)  # not approved
    cli("runs", "diff", "run-nope", "run-nada", code=2)


def test_bad_billing_policy_in_settings_is_exit_2(cli: Cli) -> None:
    toml = cli.workspace / "costproof.toml"
    toml.write_text(toml.read_text("utf-8").replace('failed = "unverified"', 'failed = "free"'), "utf-8")
    out = cli("checklist", "--period", PERIOD, code=2)
    assert "review.billing_policy.failed" in out.output
