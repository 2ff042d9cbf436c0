"""Bad input, secrets, idempotence and determinism on the spine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.spine.conftest import JUNE_1, Cli, log_row, models_doc, write_json

PRICES = {"gpt-4o-mini": ("0.15", "0.60")}
KEY = "sk-proj-PLANTEDsecretKEY0123456789abcdef"


def _prices(cli: Cli, tmp: Path) -> None:
    write_json(tmp / "models.json", models_doc(PRICES))
    cli("pricing", "capture", str(tmp / "models.json"), "--effective-from", "2026-05-01")


def test_planted_key_token_name_never_reaches_any_workspace_file(cli: Cli, tmp_path: Path) -> None:
    _prices(cli, tmp_path)
    rows = [log_row(1, JUNE_1 + 5, token=KEY), log_row(2, JUNE_1 + 6, token=f"Bearer {KEY}"),
            log_row(3, JUNE_1 + 7, token="svc-prod")]
    write_json(tmp_path / "export.json", rows)
    cli("usage", "import", str(tmp_path / "export.json"))
    (tmp_path / "ledger.csv").write_text(f"period,api_key_name,amount,currency\n2026-06,{KEY},1,USD\n")
    cli("ledger", "import", str(tmp_path / "ledger.csv"))
    run = cli.json("run", "--period", "2026-06", code=1)
    assert run["rows_priced"] == 3
    var = cli("variances", "--period", "2026-06", "--json", code=1)
    assert KEY not in var.stdout and "PLANTED" not in var.stdout
    files = [f for f in Path(cli.workspace).rglob("*") if f.is_file()]
    assert any(f.suffix == ".parquet" for f in files) and any(f.name == "catalog.duckdb" for f in files)
    for f in files:
        data = f.read_bytes()
        assert KEY.encode() not in data and b"PLANTEDsecret" not in data, f"secret found in {f}"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'[{"id": 1, "created_at": 17802', "export.json"),  # truncated JSON
        (b"", "empty"),
        (b'{"success": false, "message": "unauthorized"}', "success=false"),
    ],
)
def test_unreadable_usage_file_is_exit_2_and_stores_nothing(cli: Cli, tmp_path: Path, content: bytes,
                                                             needle: str) -> None:
    (tmp_path / "export.json").write_bytes(content)
    result = cli("usage", "import", str(tmp_path / "export.json"), "--format", "newapi-log", code=2)
    assert needle in result.output
    assert cli.json("usage", "list")["imports"] == []
    assert not list(Path(cli.workspace, "usage").rglob("*.parquet"))


@pytest.mark.parametrize(
    ("patch", "field", "reason"),
    [
        ({"prompt_tokens": -5}, "prompt_tokens", "negative value -5"),
        ({"prompt_tokens": "lots"}, "prompt_tokens", "expected an integer"),
        ({"type": 9}, "type", "unknown log type 9"),
        ({"created_at": "not-a-time"}, "created_at", "unparseable time"),
        ({"created_at": None}, "created_at", "missing"),
        ({"quota": [1]}, "quota", "expected an integer"),
        ({"model_name": ""}, "model_name", "missing"),
        ({"other": "{not json"}, "other", "not a JSON object"),
    ],
)
def test_bad_rows_are_quarantined_with_record_field_and_reason(cli: Cli, tmp_path: Path, patch: dict, field: str,
                                                               reason: str) -> None:
    rows = [log_row(1, JUNE_1 + 1), {**log_row(2, JUNE_1 + 2), **patch}, log_row(3, JUNE_1 + 3)]
    write_json(tmp_path / "export.json", rows)
    result = cli("usage", "import", str(tmp_path / "export.json"), "--json", code=1)
    summary = json.loads(result.stdout)
    assert summary["records"] == 3 and summary["rows_stored"] == 2 and summary["quarantined"] == 1
    [q] = cli.json("usage", "quarantine")["quarantined"]
    assert q["record"] == 2 and q["field"] == field and reason in q["reason"] and q["file"] == "export.json"
    _prices(cli, tmp_path)
    run = cli.json("run", "--period", "2026-06")
    assert (run["rows_in"], run["rows_priced"], run["rows_quarantined"]) == (3, 2, 1)


def test_console_csv_export_is_read_with_line_numbers(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "logs.csv").write_text(
        "created_at,type,model_name,token_name,quota,prompt_tokens,completion_tokens,use_time,is_stream,group,other\n"
        "2026-06-03 10:00:00,2,gpt-4o-mini,svc-prod,1400,1000,100,1,false,default,\n"
        "2026-06-03 10:00:05,2,gpt-4o-mini,svc-prod,oops,1000,100,1,false,default,\n")
    result = cli("usage", "import", str(tmp_path / "logs.csv"), "--json", code=1)
    assert json.loads(result.stdout)["rows_stored"] == 1
    [q] = cli.json("usage", "quarantine")["quarantined"]
    assert (q["record"], q["field"]) == (3, "quota")


def test_importing_twice_adds_nothing_and_overlaps_dedupe(cli: Cli, tmp_path: Path) -> None:
    rows = [log_row(i, JUNE_1 + i * 60) for i in range(1, 11)]
    write_json(tmp_path / "a.json", rows[:6])
    write_json(tmp_path / "b.json", rows[4:])
    first = cli.json("usage", "import", str(tmp_path / "a.json"))
    again = cli.json("usage", "import", str(tmp_path / "a.json"))
    assert again["already_imported"] is True and again["import_id"] == first["import_id"]
    overlap = cli.json("usage", "import", str(tmp_path / "b.json"))
    assert (overlap["records"], overlap["rows_stored"], overlap["duplicates"]) == (6, 4, 2)
    _prices(cli, tmp_path)
    run = cli.json("run", "--period", "2026-06")
    assert run["rows_priced"] == 10 and run["exclusions"] == {"duplicate": 2} and run["rows_in"] == 12


def test_ledger_errors_name_file_line_and_field(cli: Cli, tmp_path: Path) -> None:
    cases = {
        "period,amount,currency\n2026-6,1,USD\n": ("record 2", "period"),
        "period,amount,currency\n2026-06,1.2.3,USD\n": ("record 2", "amount"),
        "period,amount,currency\n2026-06,1,dollars\n": ("record 2", "currency"),
        "period,amount\n2026-06,1\n": ("record 1", "currency"),
        "period,amount,currency,planet\n2026-06,1,USD,mars\n": ("record 1", "planet"),
    }
    for i, (text, (where, what)) in enumerate(cases.items()):
        path = tmp_path / f"ledger{i}.csv"
        path.write_text(text)
        out = cli("ledger", "import", str(path), "--format", "ledger-csv", code=2).output
        assert path.name in out and where in out and what in out, out


def _build(tmp: Path, name: str) -> tuple[dict, dict]:
    cli = Cli(tmp / name)
    cli("init")
    data = tmp / "inputs"
    if not data.exists():
        data.mkdir()
        write_json(data / "models.json", models_doc({"gpt-4o-mini": ("0.15", "0.60"), "gpt-4o": ("2.50", "10")}))
        write_json(data / "export.json", [log_row(i, JUNE_1 + i * 977, model="gpt-4o" if i % 3 else "gpt-4o-mini",
                                                  prompt=100 * i, completion=7 * i) for i in range(1, 200)])
        (data / "ledger.csv").write_text("period,model,amount,currency\n2026-06,gpt-4o,2.00,USD\n"
                                         "2026-06,gpt-4o-mini,0.01,USD\n")
    cli("pricing", "capture", str(data / "models.json"), "--effective-from", "2026-05-01")
    cli("usage", "import", str(data / "export.json"))
    cli("ledger", "import", str(data / "ledger.csv"))
    run = cli.json("run", "--period", "2026-06", code=1)
    var = cli.json("variances", "--period", "2026-06", "--all", code=1)
    return run, var


def test_same_inputs_give_identical_run_and_variances_json(tmp_path: Path) -> None:
    run_a, var_a = _build(tmp_path, "a")
    run_b, var_b = _build(tmp_path, "b")
    assert run_a == run_b and var_a == var_b
    assert run_a["rows_in"] == 199 and len(var_a["variances"]) == 2
