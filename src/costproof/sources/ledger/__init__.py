"""Statement adapters (what expected cost is compared against), by format name."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from costproof.model.errors import InputError
from costproof.sources.ledger import cometapi_quota, focus_billing, ledger_csv

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (ledger_csv, focus_billing, cometapi_quota)}


def detect(path: Path, label: str) -> str:
    head = Path(path).read_bytes()[:65536]
    hits = [name for name, mod in FORMATS.items() if mod.sniff(head, str(path))]
    if len(hits) == 1:
        return hits[0]
    tried = ", ".join(FORMATS)
    if not hits:
        raise InputError(f"could not recognise the statement format (tried: {tried}); pass --format", file=label)
    raise InputError(f"ambiguous statement format, could be {', '.join(hits)}; pass --format", file=label)


def get(name: str) -> ModuleType:
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown statement format {name!r}; known: {', '.join(FORMATS)}") from None
