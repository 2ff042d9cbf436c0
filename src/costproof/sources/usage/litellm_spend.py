"""LiteLLM proxy SpendLogs rows: CSV export, JSON array, or `/spend/logs/v2` pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from costproof.model.errors import InputError
from costproof.model.sanitize import safe_name
from costproof.model.usage import status_class
from costproof.sources.usage.base import (
    BadValue,
    ParseContext,
    RowBuilder,
    UsageChunk,
    extract_labels,
    iter_csv_records,
    iter_json_items,
    read_decimal,
    read_int,
    read_time,
    record_id,
    stored_cost,
)

NAME = "litellm-spend"
_REQUIRED = ("request_id", "spend", "startTime")
_NULLS = ("", "None", "none", "null", "NULL")
_FAILED = ("failure", "failed", "error")
_MAX_COST = Decimal(10) ** 26  # the stored column is DECIMAL(38, 12)


def sniff(head: bytes, name: str) -> bool:
    text = head[:16384].decode("utf-8", "replace")
    return all(m in text for m in _REQUIRED) and ("call_type" in text or "model_group" in text)


def parse(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    kind = _kind(path) if ctx.options.get("bulk", True) else ""
    if kind in ("csv", "json"):
        from costproof.sources.usage import litellm_bulk, litellm_lines

        yield from (litellm_bulk.parse_csv if kind == "csv" else litellm_lines.parse_json)(path, ctx)
        return
    yield from row_chunks(_records(path, ctx.file_label), ctx)


def row_chunks(records: Iterator[tuple[int, Any]], ctx: ParseContext) -> Iterator[UsageChunk]:
    """The row path: each (record number, item) through `_row`, rows and rejections in chunks."""
    builder = RowBuilder(ctx)
    for number, item in records:
        try:
            row = _row(item, ctx)
        except BadValue as exc:
            builder.reject(number, exc)
        else:
            row["source_record"] = number
            builder.add(row)
        if builder.full():
            yield builder.flush()
    yield from builder.drain()


def _kind(path: Path) -> str:
    """csv, json, or empty (the row path names the problem)."""
    with open(path, "rb") as handle:
        start = handle.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if not start:
        return "empty"
    return "json" if start[:1] in (b"[", b"{") else "csv"


def _records(path: Path, label: str) -> Iterator[tuple[int, Any]]:
    with open(path, "rb") as handle:
        start = handle.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if not start:
        raise InputError("the file is empty", file=label)
    if start[:1] in (b"[", b"{"):
        # record number = 1-based row index across the file's arrays/pages
        yield from enumerate(iter_json_items(path, label, (("data",),)), start=1)
        return
    # record number = the file line the row ends on (header = line 1)
    yield from iter_csv_records(path, label, _REQUIRED)


def _row(item: Any, ctx: ParseContext) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise BadValue(f"record: expected an object, got {type(item).__name__}")
    request_id = _text(item.get("request_id"))
    if not request_id:
        raise BadValue("request_id: missing")
    occurred, offset = read_time(_text(item.get("startTime")) or None, "startTime")
    end = _text(item.get("endTime"))
    if end:
        read_time(end, "endTime")
    metadata = _json(item.get("metadata"), "metadata", dict)
    tags = _json(item.get("request_tags"), "request_tags", list)
    model, failed = _model_failed(item, metadata)
    if not model and not failed:
        raise BadValue("model: missing")
    spend = read_decimal(_nullable(item.get("spend")), "spend")
    if spend is not None and spend < 0:
        raise BadValue(f"spend: negative value {spend}")
    if spend is not None and stored_cost(spend) >= _MAX_COST:
        raise BadValue(f"spend: {str(spend)[:24]} is too large to store")
    cache_hit = _text(item.get("cache_hit")).lower() == "true"
    prompt = read_int(_nullable(item.get("prompt_tokens")), "prompt_tokens") or 0
    completion = read_int(_nullable(item.get("completion_tokens")), "completion_tokens") or 0
    meters = _meters(prompt, completion, metadata)
    if cache_hit:
        # answered from LiteLLM's own cache: no upstream call, nothing billable upstream
        meters = {k: 0 for k in meters}
    labels = _labels(item, metadata, tags)
    # api_key is already sha256 of the virtual key; the alias is a name when one was set
    key_name = _text(metadata.get("user_api_key_alias")) or _text(item.get("api_key"))
    key_name = safe_name(key_name, ctx.secret_pattern) or ""
    status_code = _status_code(metadata, failed)
    return {
        "record_id": record_id(NAME, request_id),
        "record_kind": "error" if failed else "consume",
        "occurred_at": occurred,
        "original_offset": offset,
        "provider": _text(item.get("custom_llm_provider")) or "litellm",
        "model_reported": model or None,
        "route_family": _text(item.get("call_type")) or None,
        "request_id": None,  # LiteLLM's request_id is per attempt: used for record identity only
        "status_code": status_code,
        "status_class": status_class(status_code),
        "is_stream": _is_stream(item, metadata),
        "api_key_name": key_name or None,
        **labels,
        **meters,
        "requests": 0 if failed or cache_hit else 1,
        "provider_reported_cost": spend,
        "provider_reported_currency": "USD" if spend is not None else None,
        "usage_origin": "computed-by-litellm",
    }


def _model_failed(item: dict[str, Any], metadata: dict[str, Any]) -> tuple[str, bool]:
    """The model name (model, else model_group) and whether LiteLLM logged the call as failed."""
    model = _text(item.get("model")) or _text(item.get("model_group"))
    status = (_text(item.get("status")) or _text(metadata.get("status"))).lower()
    return model, status in _FAILED or bool(metadata.get("error_information"))


def _labels(item: dict[str, Any], metadata: dict[str, Any], tags: list[Any]) -> dict[str, str]:
    labels = extract_labels(
        _tag_labels(tags),
        metadata.get("spend_logs_metadata") if isinstance(metadata.get("spend_logs_metadata"), dict) else None,
        metadata,
    )
    labels.pop("api_key_name", None)
    team = _text(metadata.get("user_api_key_team_alias")) or _text(item.get("team_id"))
    if "cost_center" not in labels and team:
        labels["cost_center"] = team
    if "project" not in labels and _text(metadata.get("project_id")):
        labels["project"] = _text(metadata.get("project_id"))
    end_user = _text(item.get("end_user"))
    if "customer" not in labels and end_user:
        labels["customer"] = end_user
    return labels


def _status_code(metadata: dict[str, Any], failed: bool) -> int | None:
    status_code = read_int(_nullable(metadata.get("status_code")), "metadata.status_code")
    error_info = metadata.get("error_information")
    if status_code is None and isinstance(error_info, dict):
        code = _text(error_info.get("error_code"))
        status_code = int(code) if code.isdigit() and len(code) == 3 else None
    if status_code is None and not failed:
        status_code = 200
    return status_code


def _is_stream(item: dict[str, Any], metadata: dict[str, Any]) -> bool:
    return _text(metadata.get("stream") or item.get("stream")).lower() == "true"


def _meters(prompt: int, completion: int, metadata: dict[str, Any]) -> dict[str, int]:
    """LiteLLM keeps usage in OpenAI form: prompt_tokens includes cache reads and writes."""
    cached, cache_write, audio_in, reasoning, audio_out = _details(metadata)
    uncached = prompt - cached - cache_write - audio_in
    if uncached < 0:
        raise BadValue(
            f"prompt_tokens: cache and audio input ({cached + cache_write + audio_in}) exceed prompt_tokens ({prompt})"
        )
    text_out = completion - reasoning - audio_out
    if text_out < 0:
        raise BadValue(
            f"completion_tokens: reasoning and audio output ({reasoning + audio_out}) "
            f"exceed completion_tokens ({completion})"
        )
    return {
        "input_tokens": uncached,
        "cached_input_tokens": cached,
        "cache_write_tokens": cache_write,
        "output_tokens": text_out,
        "reasoning_tokens": reasoning,
        "audio_input_tokens": audio_in,
        "audio_output_tokens": audio_out,
    }


def _details(metadata: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """(cached, cache write, audio in, reasoning, audio out) tokens from the metadata's usage object."""
    usage = metadata.get("usage_object") or metadata.get("additional_usage_values") or {}
    if not isinstance(usage, dict):
        usage = {}
    in_details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    out_details = (
        usage.get("completion_tokens_details") if isinstance(usage.get("completion_tokens_details"), dict) else {}
    )
    cached = (
        read_int(
            _nullable(in_details.get("cached_tokens", usage.get("cache_read_input_tokens"))),
            "metadata.usage_object.prompt_tokens_details.cached_tokens",
        )
        or 0
    )
    cache_write = (
        read_int(
            _nullable(usage.get("cache_creation_input_tokens")),
            "metadata.usage_object.cache_creation_input_tokens",
        )
        or 0
    )
    audio_in = read_int(_nullable(in_details.get("audio_tokens")), "metadata.usage_object.audio_tokens") or 0
    reasoning = read_int(_nullable(out_details.get("reasoning_tokens")), "metadata.usage_object.reasoning_tokens") or 0
    audio_out = read_int(_nullable(out_details.get("audio_tokens")), "metadata.usage_object.audio_tokens") or 0
    return cached, cache_write, audio_in, reasoning, audio_out


def _tag_labels(tags: list[Any]) -> dict[str, str]:
    """request_tags like `cost_center:cc-1` or `env=prod` as key/value pairs."""
    out: dict[str, str] = {}
    for tag in tags:
        if not isinstance(tag, str):
            continue
        for sep in (":", "="):
            key, found, value = tag.partition(sep)
            if found and key.strip() and value.strip():
                out.setdefault(key.strip(), value.strip())
                break
    return out


def _json(value: Any, name: str, kind: type) -> Any:
    """JSON-in-string columns (metadata, request_tags); LiteLLM writes 'None' for null."""
    if value is None or (isinstance(value, str) and value.strip() in _NULLS):
        return kind()
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value, parse_float=Decimal)
        except json.JSONDecodeError:
            raise BadValue(f"{name}: not valid JSON") from None
        if parsed is None:
            return kind()
        if isinstance(parsed, kind):
            return parsed
    raise BadValue(f"{name}: expected a JSON {'object' if kind is dict else 'array'}")


def _nullable(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip() in _NULLS else value


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    text = str(value).strip()
    return "" if text in _NULLS else text
