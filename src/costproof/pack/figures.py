"""The figures a pack states, computed from its artifact files alone (the build and `pack verify` share this)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from costproof.model.money import to_str
from costproof.pack import schema as S


class FigureError(ValueError):
    """An artifact needed for a figure is missing or unreadable."""


def read_csv(files: dict[str, bytes], path: str) -> list[dict[str, str]]:
    if path not in files:
        raise FigureError(f"{path} is missing")
    try:
        return list(csv.DictReader(io.StringIO(files[path].decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FigureError(f"{path} is not readable CSV: {exc}") from None


def read_json(files: dict[str, bytes], path: str) -> Any:
    if path not in files:
        raise FigureError(f"{path} is missing")
    try:
        return json.loads(files[path].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FigureError(f"{path} is not readable JSON: {exc}") from None


def _dec(text: str, where: str) -> Decimal:
    try:
        return Decimal(text or "0")
    except ArithmeticError:
        raise FigureError(f"{where}: not a number: {text!r}") from None


def _round(value: Decimal, rounding: dict[str, Any]) -> Decimal:
    places = rounding.get("places")
    if not places:
        return value
    mode = ROUND_HALF_UP if rounding.get("mode") == "half-up" else ROUND_HALF_EVEN
    return value.quantize(Decimal(places), rounding=mode)


def expected_by_currency(usage: list[dict[str, str]], rounding: dict[str, Any]) -> dict[str, Decimal]:
    """Expected cost per currency from the usage export, under the run's rounding rule."""
    grain = rounding.get("grain") or "none"
    per_day: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    total: dict[str, Decimal] = defaultdict(Decimal)
    for n, r in enumerate(usage, start=2):
        if r.get("outcome") != "priced":
            continue
        cost = _dec(r.get("expected_cost", ""), f"{S.ARTIFACTS['usage_export'][0]} line {n}")
        per_day[(r.get("currency", ""), r.get("day", ""))] += cost
        total[r.get("currency", "")] += cost
    if grain == "day":
        total = defaultdict(Decimal)
        for (cur, _day), v in per_day.items():
            total[cur] += _round(v, rounding)
    elif grain == "line":
        total = defaultdict(Decimal, {c: _round(v, rounding) for c, v in total.items()})
    return dict(total)


def compute(files: dict[str, bytes]) -> dict[str, str]:
    """Figure key (`expected.USD`, `open`, ...) -> the value as stated in README.md and report.html."""
    manifest = read_json(files, S.ARTIFACTS["calculation_manifest"][0])
    usage = read_csv(files, S.ARTIFACTS["usage_export"][0])
    ledger = read_csv(files, S.LEDGER_LINES)
    report = read_json(files, S.ARTIFACTS["variance_report"][0])
    if not isinstance(manifest, dict) or not isinstance(report, dict):
        raise FigureError("artifacts are not JSON objects")
    expected = expected_by_currency(usage, manifest.get("rounding") or {})
    provider: dict[str, Decimal] = defaultdict(Decimal)
    for n, r in enumerate(usage, start=2):
        if r.get("provider_reported_cost"):
            provider[r.get("provider_reported_currency", "")] += _dec(r["provider_reported_cost"], f"usage line {n}")
    ledger_sum: dict[str, Decimal] = defaultdict(Decimal)
    for n, r in enumerate(ledger, start=2):
        ledger_sum[r.get("currency", "")] += _dec(r.get("amount", ""), f"{S.LEDGER_LINES} line {n}")
    difference: dict[str, Decimal] = defaultdict(Decimal)
    open_ = closed = 0
    items = list(report.get("matched") or [])
    for g in report.get("groups") or []:
        open_ += int(g.get("open") or 0)
        closed += int(g.get("closed") or 0)
        items += g.get("variances") or []
    for v in items:
        difference[v.get("currency", "")] += _dec(v.get("difference", ""), f"variance {v.get('id')}")
    out: dict[str, str] = {}
    currencies = sorted(set(expected) | set(provider) | set(ledger_sum))
    for cur in currencies:
        for name, values in (("expected", expected), ("provider_reported", provider), ("ledger", ledger_sum),
                             ("difference", difference)):
            out[f"{name}.{cur}"] = to_str(values.get(cur, Decimal(0))) or "0.000000"
    out["lines"] = str(len(ledger))
    out["matched"] = str(len(report.get("matched") or []))
    out["open"] = str(open_)
    out["closed"] = str(closed)
    return out


def label(key: str) -> tuple[str, str | None]:
    """(label, currency) of a figure key."""
    name, _, cur = key.partition(".")
    return S.FIGURES[name], cur or None
