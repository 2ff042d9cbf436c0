"""A FOCUS 1.0–1.3 billing export (CSV or Parquet) as statement lines: Usage rows summed per period, grain, currency."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import dec, to_str
from costproof.model.sanitize import safe_name
from costproof.sources.ledger.ledger_csv import StatementLine

NAME = "focus"
MARKERS = ("ChargePeriodStart", "BilledCost", "BillingCurrency")
NULLS = frozenset({"", "NULL", "null", "None"})
CATEGORIES = ("usage", "purchase", "tax", "credit", "adjustment")
# x_ columns, Tags keys and SkuPriceDetails keys that name the model, compared after lowercasing and dropping
# everything but letters and digits (`x_ModelName`, `litellm:model`, `ai:model` ...)
MODEL_KEYS = ("model", "modelname", "modelid", "aimodel", "litellmmodel", "deploymentmodel")
# Tags keys whose value says which tokens a row counts (`x_TokenType: cache_write`, `litellm:token_type`)
HINT_KEYS = ("tokentype", "xtokentype", "litellmtokentype", "meter", "direction")
# x_ columns holding a stable per-row id, same comparison
ID_KEYS = ("lineid", "lineitemid", "invoicelineid", "billinglineid", "chargeid", "recordid", "rowid", "id")
# grain keys taken from Tags / x_ columns (same comparison); a key not listed here is not a grain
LABELS: dict[str, tuple[str, ...]] = {
    "cost_center": ("costcenter", "costcentre", "cc"),
    "project": ("project", "projectname", "projectid"),
    "customer": ("customer", "customerid", "customername", "tenant", "tenantid"),
    "environment": ("environment", "env", "deploymentenvironment"),
    "api_key_name": ("apikeyname", "keyname", "tokenname", "apikeyalias", "keyalias"),
}
_LABEL_OF = {alias: key for key, aliases in LABELS.items() for alias in aliases}
ENVIRONMENTS = {"prod": "production", "prd": "production", "live": "production", "stage": "staging",
                "stg": "staging", "preprod": "staging", "testing": "test", "qa": "test", "dev": "test",
                "development": "test", "sandbox": "test"}
_UNIT = re.compile(r"^\s*(?P<n>\d[\d,_]*)?\s*(?:(?P<scale>thousand|million|k|m)\b)?\s*(?P<what>[a-z][a-z ]*?)s?\s*$",
                   re.IGNORECASE)
_SCALES = {"k": 1000, "thousand": 1000, "m": 1_000_000, "million": 1_000_000}
_WHAT = {"token": "tokens", "request": "requests", "call": "requests", "api call": "requests",
         "execution": "requests", "image": "images", "second": "seconds", "character": "characters"}
_INPUT = re.compile(r"input|prompt|cache[\s_\-:]*(read|hit|write|creation)|cached", re.IGNORECASE)
_OUTPUT = re.compile(r"output|completion|generated|response|reasoning|thinking", re.IGNORECASE)
_NOISE = re.compile(r"[\s_\-/:.]*\b(cached|cache|read|write|creation|hit|reasoning|input|output|prompt|"
                    r"completion|tokens?|requests?|std|standard)\b", re.IGNORECASE)
_OPAQUE = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$|^[0-9A-Fa-f\-]{16,}$|^\d+$")
_TOKEN_UNITS = ("tokens", "input_tokens", "output_tokens")


class StatementLines(list[StatementLine]):
    """Lines to compare, plus what the file holds but no line compares (Tax, Credit, corrections ...)."""

    not_compared: list[dict[str, Any]]


@dataclass
class _Group:
    line_no: int
    period: str
    grain: dict[str, str]
    currency: str
    ids: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    amount: Decimal = Decimal(0)
    quantities: list[tuple[Decimal | None, str | None]] = field(default_factory=list)


def sniff(head: bytes, name: str) -> bool:
    if head[:4] == b"PAR1":
        try:
            import pyarrow.parquet as pq

            names = set(pq.read_schema(name).names)
        except Exception:  # noqa: BLE001 - a sniffer answers no, never raises
            return False
        return all(m in names for m in MARKERS)
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    return all(m in first for m in MARKERS)


def parse(path: Path, label: str) -> StatementLines:
    """Usage rows become lines, summed per (period, grain, currency); other rows are counted in `not_compared`."""
    rows, columns = _read(Path(path), label)
    missing = [m for m in MARKERS if m not in columns]
    if missing:
        raise InputError(f"not a FOCUS export: no column(s) {', '.join(missing)}", file=label, record=1)
    if "ChargePeriodEnd" not in columns:
        raise InputError("not a FOCUS export: no column ChargePeriodEnd", file=label, record=1)
    id_col = next((c for c in columns if c.startswith("x_") and _norm(c[2:]) in ID_KEYS), None)
    groups: dict[tuple[Any, ...], _Group] = {}
    skipped: dict[tuple[str, str], dict[str, Any]] = {}
    seen_ids: dict[str, int] = {}
    for n, row in rows:
        if all(v is None for v in row.values()):
            continue
        category, correction = _category(row, columns, label, n)
        amount = _amount(row, label, n)
        currency = _currency(row, label, n)
        start = _time(row, "ChargePeriodStart", label, n)
        end = _time(row, "ChargePeriodEnd", label, n)
        if end <= start:
            raise InputError(f"ChargePeriodEnd {_iso(end)} is not after ChargePeriodStart {_iso(start)}",
                             file=label, record=n, field="ChargePeriodEnd")
        next_month = (start.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(
            day=1)
        if end > next_month:
            raise InputError(f"charge period [{_iso(start)}, {_iso(end)}) spans months; a statement line belongs to "
                             "one period", file=label, record=n, field="ChargePeriodEnd")
        period = f"{start:%Y-%m}"
        if category != "usage" or correction:
            what = category.capitalize() + (" (Correction)" if correction else "")
            slot = skipped.setdefault((what, currency), {"charge_category": what, "currency": currency, "rows": 0,
                                                         "amount": Decimal(0), "periods": set(), "lines": []})
            slot["rows"] += 1
            slot["amount"] += amount
            slot["periods"].add(period)
            slot["lines"].append(n)
            continue
        tags = _key_values(row.get("Tags"), label, n, "Tags")
        grain = _grain(row, columns, tags, _key_values(row.get("SkuPriceDetails"), label, n, "SkuPriceDetails"))
        next_day = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        if end <= next_day:  # a daily (or hourly) row: the whole charge period lies in one UTC day
            grain["day"] = f"{start:%Y-%m-%d}"
        row_id = _row_id(row, id_col, label, n, seen_ids)
        key = (period, tuple(sorted(grain.items())), currency)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(n, period, grain, currency)
        group.amount += amount
        group.lines.append(n)
        if row_id:
            group.ids.append(row_id)
        group.quantities.append(_quantity(row, tags, label, n))
    lines = StatementLines(_line(g, label) for g in sorted(groups.values(), key=lambda g: g.line_no))
    lines.not_compared = [{**s, "amount": to_str(s["amount"]), "periods": sorted(s["periods"]),
                           "lines": s["lines"][:20]} for _, s in sorted(skipped.items())]
    if not lines:
        found = ", ".join(f"{s['rows']} {s['charge_category']}" for s in lines.not_compared) or "no rows"
        raise InputError(f"no Usage rows to compare ({found})", file=label)
    return lines


def not_compared(lines: list[StatementLine]) -> list[dict[str, Any]]:
    """What an import summary should show beside the lines: counts and amounts of rows no line compares."""
    return list(getattr(lines, "not_compared", []))


# ---------------------------------------------------------------- reading
def _read(path: Path, label: str) -> tuple[Iterator[tuple[int, dict[str, Any]]], list[str]]:
    if path.read_bytes()[:4] == b"PAR1":
        return _read_parquet(path, label)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=label) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError("the file is empty", file=label) from None
    except csv.Error as exc:
        raise InputError(f"not CSV: {exc}", file=label, record=1) from None

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        last = reader.line_num
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(f"not CSV: {exc}", file=label, record=last + 1) from None
            n, last = last + 1, reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise InputError(f"expected {len(header)} fields as in the header, got {len(values)}", file=label,
                                 record=n)
            yield n, {h: (None if v.strip() in NULLS else v.strip()) for h, v in zip(header, values, strict=True)}

    return rows(), header


def _read_parquet(path: Path, label: str) -> tuple[Iterator[tuple[int, dict[str, Any]]], list[str]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable Parquet is an input error
        raise InputError(f"not a readable Parquet file ({type(exc).__name__})", file=label) from None
    columns = list(pf.schema_arrow.names)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        n = 0
        for batch in pf.iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                n += 1  # Parquet rows are numbered from 1
                yield n, {k: (None if isinstance(v, str) and v.strip() in NULLS else v) for k, v in row.items()}

    return rows(), columns


# ---------------------------------------------------------------- fields
def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in NULLS else text


def _category(row: dict[str, Any], columns: list[str], label: str, n: int) -> tuple[str, bool]:
    col = "ChargeCategory" if "ChargeCategory" in columns else "ChargeType" if "ChargeType" in columns else None
    if col is None:  # an export without the column carries usage only
        return "usage", False
    category = (_text(row.get(col)) or "").lower()
    if category not in CATEGORIES:
        raise InputError(f"{col} must be one of Usage, Purchase, Tax, Credit, Adjustment, got {category!r}",
                         file=label, record=n, field=col)
    charge_class = (_text(row.get("ChargeClass")) or "").lower()
    if charge_class not in ("", "correction", "standard", "regular"):  # LiteLLM writes "Standard" for null
        raise InputError(f"ChargeClass must be empty or Correction, got {charge_class!r}", file=label, record=n,
                         field="ChargeClass")
    return category, charge_class == "correction"


def _amount(row: dict[str, Any], label: str, n: int) -> Decimal:
    value = row.get("BilledCost")
    if value is None:
        raise InputError("BilledCost is missing (FOCUS: never null)", file=label, record=n, field="BilledCost")
    try:
        return dec(value)
    except ValueError as exc:
        raise InputError(str(exc), file=label, record=n, field="BilledCost") from None


def _currency(row: dict[str, Any], label: str, n: int) -> str:
    currency = (_text(row.get("BillingCurrency")) or "").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise InputError(f"BillingCurrency must be an ISO 4217 code, got {currency!r}", file=label, record=n,
                         field="BillingCurrency")
    return currency


_DATE_FORMATS = ("%m/%d/%y", "%m/%d/%Y", "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%y %H:%M:%S",
                 "%m/%d/%Y %H:%M:%S")


def _time(row: dict[str, Any], name: str, label: str, n: int) -> datetime:
    value = row.get(name)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):  # a Parquet date32 column
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = _text(value)
    if text is None:
        raise InputError(f"{name} is missing", file=label, record=n, field=name)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _DATE_FORMATS:  # the FOCUS SaaS sample files write 5/1/25
            try:
                t = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise InputError(f"unreadable date/time {text[:40]!r}", file=label, record=n, field=name) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)  # FOCUS times are UTC


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_values(value: Any, label: str, n: int, name: str) -> dict[str, Any]:
    """A FOCUS KeyValue column: a JSON object in CSV, a string, map or struct in Parquet."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list):  # a Parquet map arrives as [(key, value), ...]
        return {k: v for k, v in value}
    try:
        doc = json.loads(str(value), parse_float=Decimal)
    except json.JSONDecodeError:
        raise InputError(f"{name} is not valid JSON", file=label, record=n, field=name) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(f"{name} must be a JSON object", file=label, record=n, field=name)
    return doc


def _model(row: dict[str, Any], columns: list[str], tags: dict[str, Any], details: dict[str, Any]) -> str | None:
    """x_ model column, then a Tags key, then a SkuPriceDetails key, then SkuId, then ChargeDescription."""
    for col in columns:
        if col.startswith("x_") and _norm(col[2:]) in MODEL_KEYS and _text(row.get(col)):
            return _text(row.get(col))
    for source in (tags, details):
        for key in sorted(source, key=str):
            plain = key[2:] if isinstance(key, str) and key.startswith("x_") else str(key)
            if _norm(plain) in MODEL_KEYS and _text(source[key]):
                return _text(source[key])
    for col in ("SkuId", "ChargeDescription"):
        text = _text(row.get(col))
        if text:
            stem = _NOISE.sub("", text).strip(" -_/:.")
            if stem and " " not in stem and re.search(r"[a-z]", stem) and not _OPAQUE.match(stem):
                return stem
    return None


def _grain(row: dict[str, Any], columns: list[str], tags: dict[str, Any], details: dict[str, Any]) -> dict[str, str]:
    grain: dict[str, str] = {}
    model = _model(row, columns, tags, details)
    if model:
        grain["model"] = model
    # Tags first (the finalized tags), then x_ columns such as x_CostCenter
    found: list[tuple[str, Any]] = [(str(k), v) for k, v in sorted(tags.items(), key=lambda kv: str(kv[0]))]
    found += [(c[2:], row.get(c)) for c in columns if c.startswith("x_")]
    for key, value in found:
        plain = key[2:] if key.startswith("x_") else key
        target = _LABEL_OF.get(_norm(plain))
        text = _text(value)
        if target and text and target not in grain:
            grain[target] = text
    if "environment" in grain:
        grain["environment"] = ENVIRONMENTS.get(grain["environment"].lower(), grain["environment"].lower())
    if "api_key_name" in grain:
        grain["api_key_name"] = safe_name(grain["api_key_name"]) or ""
    return grain


def _row_id(row: dict[str, Any], id_col: str | None, label: str, n: int, seen: dict[str, int]) -> str | None:
    stable = _text(row.get(id_col)) if id_col else None
    if stable:
        if stable in seen:
            raise InputError(f"duplicate {id_col} {stable!r} (first on record {seen[stable]})", file=label, record=n,
                             field=id_col or "")
        seen[stable] = n
        return stable
    invoice = _text(row.get("InvoiceId"))
    return f"{invoice}#{n}" if invoice else None


def unit_of(text: str) -> tuple[str, int] | None:
    """`1000 Tokens` -> (tokens, 1000), `1M Tokens` -> (tokens, 1000000), `Requests` -> (requests, 1)."""
    m = _UNIT.match(text)
    if not m:
        return None
    what = _WHAT.get(m.group("what").lower().strip())
    if what is None:
        return None
    number = int(m.group("n").replace(",", "").replace("_", "")) if m.group("n") else 1
    return what, max(number, 1) * _SCALES.get((m.group("scale") or "").lower(), 1)


def _quantity(row: dict[str, Any], tags: dict[str, Any], label: str, n: int) -> tuple[Decimal | None, str | None]:
    raw = row.get("ConsumedQuantity")
    if raw is None:
        return None, None
    try:
        qty = dec(raw)
    except ValueError as exc:
        raise InputError(str(exc), file=label, record=n, field="ConsumedQuantity") from None
    if qty < 0:
        raise InputError(f"negative ConsumedQuantity {qty}", file=label, record=n, field="ConsumedQuantity")
    unit_text = _text(row.get("ConsumedUnit"))
    if unit_text is None:
        raise InputError("ConsumedQuantity has no ConsumedUnit", file=label, record=n, field="ConsumedUnit")
    known = unit_of(unit_text)
    if known is None:  # kept as written; only requests and tokens are compared
        return qty, unit_text.lower()
    unit, factor = known
    if unit == "tokens":
        hint = " ".join([*(str(v) for k, v in tags.items() if _norm(str(k)) in HINT_KEYS),
                         *(_text(row.get(c)) or "" for c in ("SkuMeter", "SkuId", "ChargeDescription"))])
        if _INPUT.search(hint):
            unit = "input_tokens"
        elif _OUTPUT.search(hint):
            unit = "output_tokens"
    return qty * factor, unit


def _line(g: _Group, label: str) -> StatementLine:
    units = {u for _, u in g.quantities}
    quantity: Decimal | None = None
    unit: str | None = None
    if None not in units and all(q is not None for q, _ in g.quantities):
        if len(units) == 1:
            unit = units.pop()
        elif units <= set(_TOKEN_UNITS):  # input and output rows of one model-day: compare the total
            unit = "tokens"
        if unit is not None:
            quantity = sum((q for q, _ in g.quantities if q is not None), Decimal(0))
    return StatementLine(g.line_no, _merged_id(g), g.period, g.grain, g.amount, g.currency, quantity, unit)


def _merged_id(g: _Group) -> str | None:
    if len(g.ids) != len(g.lines) or not g.ids:
        return None  # some row has no id: FILE:LINE of the first row names the line
    if len(g.ids) == 1:
        return g.ids[0]
    invoices = {i.rsplit("#", 1)[0] for i in g.ids if "#" in i}
    if len(invoices) == 1 and all(i.rsplit("#", 1)[-1].isdigit() for i in g.ids):
        numbers = "+".join(str(x) for x in g.lines[:5])
        return f"{invoices.pop()}#{numbers}" + (f"+{len(g.lines) - 5} more" if len(g.lines) > 5 else "")
    shown = "+".join(g.ids[:3])
    return shown if len(g.ids) <= 3 else f"{shown}+{len(g.ids) - 3} more"
