"""OTLP/JSON trace exports with OpenTelemetry GenAI spans (one document, or one per line)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

from costproof.model.sanitize import safe_name
from costproof.model.usage import status_class
from costproof.sources.usage.base import (
    BadValue,
    ParseContext,
    RowBuilder,
    UsageChunk,
    extract_labels,
    iter_json_items,
    read_bool,
    read_decimal,
    read_int,
    record_id,
)

NAME = "otel-genai"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# operations that are one model call; agent / workflow / tool spans aggregate their children
INFERENCE_OPS = ("chat", "text_completion", "generate_content", "embeddings", "completion")
NON_INFERENCE_OPS = (
    "invoke_agent",
    "invoke_workflow",
    "create_agent",
    "execute_tool",
    "retrieval",
)
_PARTIAL_REASONS = ("length", "max_tokens", "max_output_tokens")
# attribute aliases, newest first (semconv moved and renamed; key on presence, not version)
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens")
_OUTPUT = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
)
_CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
_CACHE_WRITE = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
)
_REASONING = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens")
_AUDIO_IN = ("gen_ai.usage.audio.input_tokens",)
_AUDIO_OUT = ("gen_ai.usage.audio.output_tokens",)
_COST = ("gen_ai.usage.cost", "gen_ai.cost.total_cost")
_STREAM = ("gen_ai.request.stream", "llm.is_streaming", "gen_ai.is_streaming")
_LABEL_PREFIXES = ("app.", "costproof.", "tag.", "tags.", "label.", "labels.", "metadata.", "user.")


def sniff(head: bytes, name: str) -> bool:
    return b'"resourceSpans"' in head[:65536]


def parse(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    """The bulk path (pyarrow + numpy, see otel_bulk); what it cannot vouch for goes through the row path."""
    if not ctx.options.get("bulk", True):
        yield from parse_rows(path, ctx)
        return
    from costproof.sources.usage import otel_bulk

    yield from otel_bulk.parse(Path(path), ctx)


def parse_rows(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    """The row path: one span at a time in Python."""
    builder = RowBuilder(ctx)
    for _ in rows_from_items(iter_json_items(path, ctx.file_label, PATHS), 0, builder, ctx):
        yield builder.flush()
    yield from builder.drain()


PATHS = (("resourceSpans",),)


def rows_from_items(items: Iterable[Any], number: int, builder: RowBuilder, ctx: ParseContext) -> Iterator[int]:
    """Feed the spans of resourceSpans items to `builder`, numbering spans after `number`; yields (the span
    number reached) whenever the builder is full. Returns the last span number."""
    for resource_spans in items:
        if not isinstance(resource_spans, dict):
            continue
        resource, resource_labels = resource_context(resource_spans)
        for scope in scope_list(resource_spans):
            for span in span_list(scope):
                number += 1  # record number = span index across the file, every span counted
                try:
                    row = _row(span, resource, resource_labels, ctx)
                except BadValue as exc:
                    builder.reject(number, exc)
                else:
                    if row is None:
                        continue
                    row["source_record"] = number
                    builder.add(row)
                if builder.full():
                    yield number
    return number


def resource_context(resource_spans: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A resourceSpans item's resource attributes and the labels they give (service.name names the project)."""
    res = resource_spans.get("resource")
    resource = _attrs(res.get("attributes") if isinstance(res, dict) else None)
    resource_labels = _labels(resource)
    if "project" not in resource_labels and resource.get("service.name"):
        resource_labels["project"] = str(resource["service.name"])
    return resource, resource_labels


def scope_list(resource_spans: dict[str, Any]) -> list[Any]:
    scopes = resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []
    return scopes if isinstance(scopes, list) else []


def span_list(scope: Any) -> list[Any]:
    spans = scope.get("spans") if isinstance(scope, dict) else None
    return spans if isinstance(spans, list) else []


def _row(
    span: Any, resource: dict[str, Any], resource_labels: dict[str, str], ctx: ParseContext
) -> dict[str, Any] | None:
    if not isinstance(span, dict):
        raise BadValue(f"span: expected an object, got {type(span).__name__}")
    attrs = _attrs(span.get("attributes"))
    op = str(attrs.get("gen_ai.operation.name") or "")
    if op in NON_INFERENCE_OPS:
        return None
    has_usage = any(k.startswith(("gen_ai.usage.", "llm.usage.")) for k in attrs)
    if not op and not has_usage and "gen_ai.request.model" not in attrs:
        return None  # not a GenAI span (HTTP, DB, app spans share the export)
    trace_id = str(span.get("traceId") or "")
    span_id = str(span.get("spanId") or "")
    if not span_id:
        raise BadValue("spanId: missing")
    start = read_int(span.get("startTimeUnixNano"), "startTimeUnixNano", required=True)
    occurred = _EPOCH + timedelta(microseconds=start // 1000)  # type: ignore[operator]
    end = read_int(span.get("endTimeUnixNano"), "endTimeUnixNano")
    model = str(attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model") or "").strip()
    status = span.get("status") or {}
    code = status.get("code") if isinstance(status, dict) else None
    failed = bool(attrs.get("error.type")) or code in (2, "2", "STATUS_CODE_ERROR")
    if not model and not failed:
        raise BadValue("gen_ai.request.model: missing")
    total_in = _int(attrs, _INPUT)
    total_out = _int(attrs, _OUTPUT)
    cached = _int(attrs, _CACHE_READ) or 0
    cache_write = _int(attrs, _CACHE_WRITE) or 0
    reasoning = _int(attrs, _REASONING) or 0
    audio_in = _int(attrs, _AUDIO_IN) or 0
    audio_out = _int(attrs, _AUDIO_OUT) or 0
    origin = "reported" if total_in is not None or total_out is not None else "missing"
    meters: dict[str, int | None] = {}
    if origin == "reported":
        # gen_ai.usage.input_tokens includes cache reads and writes; reasoning is inside output
        uncached = (total_in or 0) - cached - cache_write - audio_in
        if uncached < 0:
            raise BadValue(
                f"{_INPUT[0]}: cache and audio input ({cached + cache_write + audio_in}) "
                f"exceed the input total ({total_in or 0})"
            )
        text_out = (total_out or 0) - reasoning - audio_out
        if text_out < 0:
            raise BadValue(
                f"{_OUTPUT[0]}: reasoning and audio output ({reasoning + audio_out}) "
                f"exceed the output total ({total_out or 0})"
            )
        meters = {
            "input_tokens": uncached,
            "cached_input_tokens": cached,
            "cache_write_tokens": cache_write,
            "output_tokens": text_out,
            "reasoning_tokens": reasoning,
            "audio_input_tokens": audio_in,
            "audio_output_tokens": audio_out,
        }
    finish = attrs.get("gen_ai.response.finish_reasons")
    reasons = [str(r) for r in finish] if isinstance(finish, list) else ([str(finish)] if finish else [])
    is_stream = False
    for key in _STREAM:
        if attrs.get(key) is not None:
            is_stream = bool(read_bool(attrs[key], key))
            break
    partial = any(r in _PARTIAL_REASONS for r in reasons) or (
        is_stream and not failed and (origin == "missing" or not reasons)
    )
    labels = {**resource_labels, **_labels(attrs)}
    key_name = safe_name(labels.pop("api_key_name", None), ctx.secret_pattern)
    cost: Decimal | None = None
    for key in _COST:
        if attrs.get(key) is not None:
            cost = read_decimal(attrs[key], key)
            if cost is not None and not fits_money(cost):
                raise BadValue(f"{key}: {str(cost)[:24]} does not fit 12 decimal places and 26 digits")
            break
    status_code = read_int(attrs.get("http.response.status_code"), "http.response.status_code")
    error_type = str(attrs.get("error.type") or "")
    if status_code is None and error_type.isdecimal() and len(error_type) == 3:
        status_code = int(error_type)  # semconv: HTTP errors put the status code in error.type
    provider = attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system") or attrs.get("server.address")
    if end is not None and end < start:  # type: ignore[operator]
        raise BadValue("endTimeUnixNano: before startTimeUnixNano")
    row = {
        "record_id": None,
        "record_kind": "error" if failed else "consume",
        "occurred_at": occurred,
        "original_offset": "Z",
        "provider": str(provider) if provider else None,
        "model_reported": model or None,
        "route_family": op or None,
        "request_id": None,
        "status_code": status_code,
        "status_class": status_class(status_code),
        "is_stream": is_stream,
        "is_partial": partial,
        "api_key_name": key_name or None,
        **labels,
        **meters,
        "requests": 0 if failed else 1,
        "provider_reported_cost": cost,
        "provider_reported_currency": "USD" if cost is not None else None,
        "usage_origin": origin,
    }
    for name, text in (("traceId", trace_id), ("spanId", span_id), *row.items()):
        if isinstance(text, str) and not _encodable(text):
            raise BadValue(f"{name}: not valid Unicode text (a lone surrogate)")
    row["record_id"] = record_id(NAME, trace_id.lower(), span_id.lower())
    return row


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_MONEY = Decimal("1e-12")
_MONEY_CONTEXT = Context(prec=80)


def fits_money(value: Decimal) -> bool:
    """Whether a cost is stored exactly as DECIMAL(38, 12)."""
    return value.is_finite() and abs(value) < 10**26 and value == value.quantize(_MONEY, context=_MONEY_CONTEXT)


def _int(attrs: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        if attrs.get(key) is not None:
            return read_int(attrs[key], key)
    return None


def _labels(attrs: dict[str, Any]) -> dict[str, str]:
    direct = extract_labels(attrs)
    prefixed = {
        key.split(".")[-1]: value
        for key, value in attrs.items()
        if key.startswith(_LABEL_PREFIXES) and not isinstance(value, list | dict)
    }
    return {**extract_labels(prefixed), **direct}


def _attrs(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = _any_value(item.get("value"))
    return out


def _any_value(value: Any) -> Any:
    """Decode an OTLP/JSON AnyValue; int64 may be a string or a number, both accepted."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return value["intValue"]
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        values = _values(value["arrayValue"])
        return [_any_value(v) for v in values]
    if "kvlistValue" in value:
        values = _values(value["kvlistValue"])
        return {kv["key"]: _any_value(kv.get("value")) for kv in values
                if isinstance(kv, dict) and isinstance(kv.get("key"), str)}
    return None


def _values(holder: Any) -> list[Any]:
    values = holder.get("values") if isinstance(holder, dict) else None
    return values if isinstance(values, list) else []
