"""Statement adapters (what expected cost is compared against), by format name."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from costproof.sources import registry
from costproof.sources.ledger import cometapi_quota, focus_billing, ledger_csv

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (ledger_csv, focus_billing, cometapi_quota)}


def detect(path: Path, label: str) -> str:
    return registry.sniff(FORMATS, registry.head(path), str(path), label, "statement")


def get(name: str) -> ModuleType:
    return registry.lookup(FORMATS, name, "statement")
