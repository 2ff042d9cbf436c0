"""The CometAPI (new-api) balance query's daily quota as statement lines: one per day and token name, in USD."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import QUOTA_PER_USD, dec
from costproof.model.sanitize import safe_name
from costproof.sources.ledger.ledger_csv import StatementLine

NAME = "cometapi-quota"
CURRENCY = "USD"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def sniff(head: bytes, name: str) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:1] not in (b"{", b"["):
        return False
    return b'"daily_quota"' in text or (b'"quota_used"' in text and b'"token_name"' in text)


def parse(path: Path, label: str) -> list[StatementLine]:
    """`{data: {daily_quota: {DATE: [{token_name, quota_used, request_count}]}}}`, or a list of daily objects."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=label) from None
    try:
        doc = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", file=label) from None
    if isinstance(doc, dict) and doc.get("success") is False:
        raise InputError(f"the query failed: {str(doc.get('message') or 'success is false')[:120]}", file=label)
    lines: list[StatementLine] = []
    seen: dict[tuple[str, str], str] = {}
    for n, (where, day, entry) in enumerate(_entries(doc, label), start=1):
        if not isinstance(entry, dict):
            raise InputError("an entry must be a JSON object", file=label, record=where)
        day = _day(day if day is not None else entry.get("date"), label, where)
        token = entry.get("token_name")
        if token is None:
            token = ""
        if not isinstance(token, str):
            raise InputError("token_name must be a string", file=label, record=where, field="token_name")
        name = safe_name(token.strip()) or ""
        if (day, name) in seen:
            raise InputError(f"{day} / {name!r} appears twice (first at {seen[(day, name)]}); one line per day and "
                             "token name", file=label, record=where, field="token_name")
        seen[(day, name)] = str(where)
        quota = _number(entry.get("quota_used"), label, where, "quota_used", required=True)
        assert quota is not None
        requests = _number(entry.get("request_count"), label, where, "request_count", required=False)
        if requests is not None and requests != requests.to_integral_value():
            raise InputError(f"request_count must be a whole number, got {requests}", file=label, record=where,
                             field="request_count")
        lines.append(StatementLine(n, f"{day}/{name}", day[:7], {"api_key_name": name, "day": day},
                                   quota / QUOTA_PER_USD, CURRENCY, requests,
                                   "requests" if requests is not None else None))
    if not lines:
        raise InputError("no daily quota entries", file=label)
    return lines


def _entries(doc: Any, label: str) -> Iterator[tuple[str, str | None, Any]]:
    """(where, day or None, entry) in document order; `where` names the record in error messages."""
    body = doc
    if isinstance(body, dict) and "data" in body and "daily_quota" not in body:
        body = body["data"]
    if isinstance(body, dict) and "daily_quota" in body:
        daily = body["daily_quota"]
        if isinstance(daily, list):
            body = daily
        elif isinstance(daily, dict):
            for day, entries in daily.items():
                if entries is None:
                    continue
                if not isinstance(entries, list):
                    raise InputError(f"daily_quota[{day}] must be a list of token entries", file=label,
                                     record=f"daily_quota[{day}]")
                for i, entry in enumerate(entries, start=1):
                    yield f"daily_quota[{day}][{i}]", day, entry
            return
        else:
            raise InputError("daily_quota must be an object keyed by date or a list", file=label,
                             record="daily_quota")
    if isinstance(body, list):
        for i, entry in enumerate(body, start=1):
            yield f"[{i}]", None, entry
        return
    raise InputError("expected {data: {daily_quota: {DATE: [...]}}} or a list of daily objects", file=label)


def _day(value: Any, label: str, where: str) -> str:
    text = str(value).strip() if value is not None else ""
    if not _DATE.fullmatch(text):
        raise InputError(f"date must be YYYY-MM-DD, got {text[:30]!r}", file=label, record=where, field="date")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise InputError(f"no such date {text!r}", file=label, record=where, field="date") from None
    return text


def _number(value: Any, label: str, where: str, name: str, *, required: bool) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise InputError(f"{name} is missing", file=label, record=where, field=name)
        return None
    try:
        number = dec(value)
    except ValueError as exc:
        raise InputError(str(exc), file=label, record=where, field=name) from None
    if number < 0:
        raise InputError(f"{name} must not be negative, got {number}", file=label, record=where, field=name)
    return number
