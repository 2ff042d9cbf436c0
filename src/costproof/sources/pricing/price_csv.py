"""A plain CSV price sheet: one price rule per line, dated, tiered, with multipliers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

from costproof.model.errors import InputError
from costproof.model.meters import METERS
from costproof.model.money import dec
from costproof.model.pricing import PriceRule, PricingParse
from costproof.sources.pricing.common import storable

NAME = "price-csv"
VERSION = "price-csv/1"
REQUIRED = ("model", "meter", "unit_price", "per_quantity", "currency")
OPTIONAL = ("effective_from", "effective_to", "tier_min", "multiplier", "source_url", "notes")
COLUMNS = REQUIRED + OPTIONAL
_PER_SHORTHAND = {"1k": 1_000, "1m": 1_000_000, "k": 1_000, "m": 1_000_000}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Fail = Callable[[str, str], InputError]


def sniff(head: bytes, name: str) -> bool:
    text = head[:4096].decode("utf-8-sig", "replace")
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
    cols = {c.strip().lower() for c in first.split(",")}
    return set(REQUIRED) <= cols


def parse(pages: list[bytes], label: str) -> PricingParse:
    out = PricingParse(format=NAME, parser_version=VERSION)
    # Where each (model, meter, tier, window) was first seen, to refuse two prices for one case.
    seen: dict[tuple[str, str, int], list[tuple[datetime | None, datetime | None, int]]] = {}
    for data in pages:
        _sheet(data, label, out, seen)
    if not out.rules:
        raise InputError("no price lines found", file=label)
    return out


def _sheet(
    data: bytes,
    label: str,
    out: PricingParse,
    seen: dict[tuple[str, str, int], list[tuple[datetime | None, datetime | None, int]]],
) -> None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=label) from None
    lines = _Lines(text)
    reader = csv.reader(lines)
    header: list[str] | None = None
    for raw in reader:
        line = reader.line_num + lines.skipped
        if header is None:
            if not any(cell.strip() for cell in raw):
                continue
            header = [c.strip().lower() for c in raw]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise InputError(
                    f"missing required column(s) {', '.join(missing)}; a price-csv header is {','.join(COLUMNS)}",
                    file=label,
                    record=f"line {line}",
                    field=missing[0],
                )
            unknown = [c for c in header if c not in COLUMNS]
            if unknown:
                out.warnings.append(f"line {line}: unknown column(s) ignored: {', '.join(unknown)}")
            continue
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) > len(header):
            raise InputError(
                f"{len(raw)} cells but the header has {len(header)} columns",
                file=label,
                record=f"line {line}",
            )
        row = dict(zip(header, (c.strip() for c in raw), strict=False))
        rule = _rule(row, line, label)
        key = (rule.model, rule.meter, rule.tier_min)
        for start, end, other in seen.get(key, []):
            if _overlaps(start, end, rule.effective_from, rule.effective_to):
                raise InputError(
                    f"{rule.model} {rule.meter} tier {rule.tier_min} is already priced for an "
                    f"overlapping period on line {other}",
                    file=label,
                    record=f"line {line}",
                    field="effective_from",
                )
        seen.setdefault(key, []).append((rule.effective_from, rule.effective_to, line))
        out.rules.append(rule)
    if header is None:
        raise InputError("empty file: no header line", file=label)


def _rule(row: dict[str, str], line: int, label: str) -> PriceRule:
    where = f"line {line}"

    def fail(field: str, message: str) -> InputError:
        return InputError(message, file=label, record=where, field=field)

    for name in REQUIRED:
        if not row.get(name):
            raise fail(name, "required value is empty")
    meter = row["meter"].lower()
    if meter not in METERS:
        raise fail("meter", f"unknown meter {row['meter']!r}; one of: {', '.join(METERS)}")
    unit_price = _decimal(row["unit_price"], "unit_price", fail)
    if unit_price < 0:
        raise fail("unit_price", f"negative price {unit_price}")
    per_quantity = _positive_int(row["per_quantity"], "per_quantity", fail)
    currency = row["currency"].upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise fail("currency", f"currency {row['currency']!r} is not a 3-letter ISO 4217 code")
    start = _timestamp(row.get("effective_from", ""), "effective_from", fail)
    end = _timestamp(row.get("effective_to", ""), "effective_to", fail)
    if start is not None and end is not None and end <= start:
        raise fail("effective_to", "effective_to must be after effective_from")
    tier_min = 0
    if row.get("tier_min"):
        tier_min = _positive_int(row["tier_min"], "tier_min", fail, allow_zero=True)
    multiplier = Decimal(1)
    multiplier_source = ""
    if row.get("multiplier"):
        multiplier = _decimal(row["multiplier"], "multiplier", fail)
        if multiplier <= 0:
            raise fail("multiplier", f"multiplier must be positive, got {multiplier}")
        multiplier_source = f"price-csv {where}"
    notes = row.get("notes", "")
    if row.get("source_url"):
        notes = f"{notes} (source {row['source_url']})" if notes else f"source {row['source_url']}"
    return PriceRule(
        model=row["model"],
        meter=meter,
        unit_price=unit_price,
        per_quantity=per_quantity,
        currency=currency,
        tier_min=tier_min,
        multiplier=multiplier,
        multiplier_source=multiplier_source,
        effective_from=start,
        effective_to=end,
        source_ref=where,
        notes=notes,
    )


def _decimal(text: str, field: str, fail: Fail) -> Decimal:
    if "," in text:
        # "2,50" is 2.50 in half the world and 250 to dec(); a sheet must use a decimal point.
        raise fail(field, f"{text!r} has a comma; write plain decimals such as 2.50 or 1000")
    try:
        value = dec(text)
    except ValueError as exc:
        raise fail(field, str(exc)) from None
    try:
        return storable(value, label="", record=None, field=field)
    except InputError as exc:
        raise fail(field, exc.bare) from None


def _positive_int(text: str, field: str, fail: Fail, *, allow_zero: bool = False) -> int:
    if text.lower() in _PER_SHORTHAND:
        return _PER_SHORTHAND[text.lower()]
    try:
        value = dec(text)
    except ValueError as exc:
        raise fail(field, str(exc)) from None
    if value != value.to_integral_value():
        raise fail(field, f"{text!r} is not a whole number")
    if value < 0 or (value == 0 and not allow_zero):
        raise fail(field, f"{text!r} must be {'zero or more' if allow_zero else 'positive'}")
    return int(value)


def _timestamp(text: str, field: str, fail: Fail) -> datetime | None:
    if not text:
        return None
    try:
        if _DATE_ONLY.match(text):
            # A bare date is the start of that day in UTC (price lists date changes by day).
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise fail(field, f"{text!r} is not an ISO 8601 date or timestamp") from None
    if value.tzinfo is None:
        # A local time with no offset is ambiguous by up to a day at a price change; refuse it.
        raise fail(field, f"{text!r} has no UTC offset; write e.g. {text}Z")
    return value.astimezone(UTC)


def _overlaps(a0: datetime | None, a1: datetime | None, b0: datetime | None, b1: datetime | None) -> bool:
    """Half-open [from, to) windows, None meaning unbounded."""
    lo = max((t for t in (a0, b0) if t is not None), default=None)
    hi = min((t for t in (a1, b1) if t is not None), default=None)
    return lo is None or hi is None or lo < hi


class _Lines:
    """Text lines minus '#' comments (sheets often carry a provenance note on top), counting
    the comments so that errors can name the physical line."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.skipped = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            if line.startswith("#"):
                self.skipped += 1
                continue
            yield line
