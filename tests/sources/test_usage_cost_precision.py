"""Provider-reported costs with float noise (LiteLLM spend, OpenRouter usage.cost) are stored to 12 decimals,
rounded half away from zero like the SQL paths' casts — never a crash, never a quarantine."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from costproof.service.usage import import_file
from costproof.sources.usage import litellm_spend, openai_jsonl
from costproof.sources.usage.base import ParseContext, collect, stored_cost
from costproof.workspace import Workspace

DATA = Path(__file__).resolve().parents[1] / "data" / "usage"
NOISY = ("3.0000000000000004e-05", "0.00012345678901234567", "0.0000000000005", "1.2500000000004999")
STORED = (Decimal("0.000030000000"), Decimal("0.000123456789"), Decimal("1E-12"), Decimal("1.250000000000"))


def test_stored_cost_rounds_to_twelve_places() -> None:
    assert [stored_cost(Decimal(v)) for v in NOISY] == list(STORED)
    assert stored_cost(Decimal("-0.0000000000005")) == Decimal("-1E-12")
    assert stored_cost(Decimal("0.1")) == Decimal("0.1") and stored_cost(None) is None
    assert duckdb.sql(f"SELECT {', '.join(f'CAST({v!r} AS DECIMAL(38,12))' for v in NOISY)}").fetchall()[0] == STORED


def _litellm_csv(tmp_path: Path) -> Path:
    lines = (DATA / "litellm-spendlogs.csv").read_text("utf-8").splitlines(keepends=True)
    header, rows = lines[0], lines[1:len(NOISY) + 1]
    spend = header.split(",").index("spend")
    out = []
    for row, value in zip(rows, NOISY, strict=True):
        cells = row.split(",")
        cells[spend] = value
        out.append(",".join(cells))
    path = tmp_path / "noisy.csv"
    path.write_text(header + "".join(out), "utf-8")
    return path


def test_litellm_spend_with_float_noise_imports_on_both_paths(tmp_path: Path) -> None:
    path = _litellm_csv(tmp_path)
    bulk = collect(litellm_spend.parse(path, ParseContext(path.name)))
    rows = collect(litellm_spend.parse(path, ParseContext(path.name, options={"bulk": False})))
    assert bulk[0].to_pylist() == rows[0].to_pylist()
    assert bulk[1] == rows[1] == []
    assert tuple(rows[0].column("provider_reported_cost").to_pylist()) == STORED


def test_litellm_json_spend_floats_import(tmp_path: Path) -> None:
    items = json.loads((DATA / "litellm-spendlogs.json").read_text("utf-8"))
    items = items if isinstance(items, list) else items["data"]
    for item, value in zip(items, (3.0000000000000004e-05, 0.00012345678901234567), strict=False):
        item["spend"] = value
    path = tmp_path / "noisy.json"
    path.write_text(json.dumps(items), "utf-8")
    ws, _ = Workspace.create(tmp_path / "ws")
    with ws:
        got = import_file(ws, path, fmt="litellm-spend", now=datetime(2026, 7, 2, tzinfo=UTC))
    assert got["rows_stored"] == len(items) and got["quarantined"] == 0
    files = sorted(str(f) for f in (tmp_path / "ws" / "usage").glob("period=*/*.parquet"))
    costs = duckdb.sql(f"SELECT provider_reported_cost FROM read_parquet({files}) ORDER BY source_record").fetchall()
    assert [c for (c,) in costs[:2]] == [Decimal("0.000030000000"), Decimal("0.000123456789")]


def test_openrouter_cost_floats_import_on_both_paths(tmp_path: Path) -> None:
    first = json.loads((DATA / "openai.jsonl").read_text("utf-8").splitlines()[0])
    lines = []
    for n, value in enumerate((3.0000000000000004e-05, 0.00012345678901234567, 1.2500000000004999)):
        item = json.loads(json.dumps(first))
        item["request_id"] = f"req-noisy-{n}"
        item["response"]["id"] = f"gen-noisy-{n}"
        item["response"]["usage"]["cost"] = value
        lines.append(json.dumps(item))
    path = tmp_path / "noisy.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    bulk = collect(openai_jsonl.parse(path, ParseContext(path.name)))
    rows = collect(openai_jsonl.parse(path, ParseContext(path.name, options={"bulk": False})))
    assert bulk[0].to_pylist() == rows[0].to_pylist() and bulk[1] == rows[1] == []
    assert rows[0].column("provider_reported_cost").to_pylist() == [
        Decimal("0.000030000000"), Decimal("0.000123456789"), Decimal("1.250000000000")]
