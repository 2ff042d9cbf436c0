"""The internal ledger CSV: period, amount, currency, optional quantity/unit/line_id, grain keys."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from costproof.model.errors import InputError
from costproof.model.money import dec
from costproof.model.sanitize import safe_name
from costproof.model.variance import GRAIN_KEYS

NAME = "ledger-csv"
REQUIRED = ("period", "amount", "currency")
OPTIONAL = ("quantity", "unit", "line_id", "description", "notes")


@dataclass(frozen=True)
class StatementLine:
    line_no: int
    line_id: str | None
    period: str
    grain: dict[str, str] = field(default_factory=dict)
    amount: Decimal = Decimal(0)
    currency: str = "USD"
    quantity: Decimal | None = None
    unit: str | None = None


def sniff(head: bytes, name: str) -> bool:
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace").lower()
    cols = {c.strip() for c in first.split(",")}
    return {"period", "amount", "currency"} <= cols


def parse(path: Path, label: str) -> list[StatementLine]:
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=label) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"header lacks required column(s) {', '.join(missing)}", file=label, record=1)
    unknown = [c for c in header if c not in (*REQUIRED, *OPTIONAL, *GRAIN_KEYS)]
    if unknown:
        raise InputError(
            f"unknown column(s) {', '.join(unknown)}; grain keys are {', '.join(GRAIN_KEYS)}",
            file=label, record=1)
    lines: list[StatementLine] = []
    seen_ids: set[str] = set()
    for row in reader:
        n = reader.line_num
        if None in row:
            raise InputError("more fields than the header", file=label, record=n)
        if not any((v or "").strip() for v in row.values()):
            continue
        period = (row.get("period") or "").strip()
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
            raise InputError(f"period must be YYYY-MM, got {period!r}", file=label, record=n, field="period")
        try:
            amount = dec(row.get("amount") or "")
        except ValueError as exc:
            raise InputError(str(exc), file=label, record=n, field="amount") from None
        currency = (row.get("currency") or "").strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise InputError(f"currency must be a 3-letter code, got {currency!r}", file=label, record=n,
                             field="currency")
        quantity = None
        if (row.get("quantity") or "").strip():
            try:
                quantity = dec(row["quantity"])
            except ValueError as exc:
                raise InputError(str(exc), file=label, record=n, field="quantity") from None
        grain = {k: row[k].strip() for k in GRAIN_KEYS if (row.get(k) or "").strip()}
        if "api_key_name" in grain:
            grain["api_key_name"] = safe_name(grain["api_key_name"]) or ""
        if "day" in grain and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", grain["day"]):
            raise InputError(f"day must be YYYY-MM-DD, got {grain['day']!r}", file=label, record=n, field="day")
        line_id = safe_name((row.get("line_id") or "").strip()) or None
        if line_id:
            if line_id in seen_ids:
                raise InputError(f"duplicate line_id {line_id!r}", file=label, record=n, field="line_id")
            seen_ids.add(line_id)
        lines.append(StatementLine(n, line_id, period, grain, amount, currency, quantity,
                                   (row.get("unit") or "").strip() or None))
    if not lines:
        raise InputError("no statement lines", file=label)
    return lines
