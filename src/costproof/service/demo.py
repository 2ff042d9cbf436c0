"""Build the demo workspace from the bundled sample data and run its period."""

from __future__ import annotations

import shutil
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from costproof.service import mapping, pricing, run, statements, usage
from costproof.service import variances as var_svc
from costproof.workspace import Workspace

PERIOD = "2026-06"


def data_dir() -> Path:
    return Path(str(resources.files("costproof.demo") / "data"))


def build(root: Path, *, now: datetime) -> dict[str, Any]:
    if root.exists():
        if not (root / "catalog.duckdb").exists():
            raise FileExistsError(f"{root} exists and is not a costproof workspace; choose another --path")
        shutil.rmtree(root)
    data = data_dir()
    ws, _ = Workspace.create(root)
    with ws:
        pricing.capture(ws, str(data / "cometapi_models_2026-q1.json"), fmt="cometapi-models", label="2026-q1",
                        operator="demo", effective_from="2026-01-01T00:00:00Z", classification="public-doc", now=now)
        snap = pricing.capture(ws, str(data / "cometapi_models.json"), fmt="cometapi-models", label="demo",
                               operator="demo", effective_from="2026-05-01T00:00:00Z",
                               classification="public-doc", now=now)
        imp = usage.import_file(ws, data / "newapi_log_2026-06.json", fmt="newapi-log", now=now)
        mapping.import_labels(ws, data / "labels.csv", now=now)
        mapping.add(ws, "gpt-4o-mini-prod", "gpt-4o-mini", approved_by="demo", effective_from="2026-06-01",
                    pricing_unit="1M tokens", now=now)
        stm = statements.import_statement(ws, data / "ledger_2026-06.csv", fmt="ledger-csv", now=now)
        result = run.run_period(ws, PERIOD, now=now)
        var = var_svc.list_variances(ws, PERIOD)
    return {"workspace": str(root), "snapshot": snap["snapshot_id"], "usage_import": imp,
            "statement": stm, "run": result, "variances": var["variances"]}
