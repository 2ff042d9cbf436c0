"""OpenAI-compatible response logs, one JSON object per line (chat, responses, messages, batch)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from costproof.model.errors import InputError, RowError
from costproof.model.sanitize import safe_name
from costproof.model.usage import status_class
from costproof.sources.usage.base import (
    BadValue,
    Occurrences,
    ParseContext,
    RowBuilder,
    UsageChunk,
    extract_labels,
    iter_lines,
    read_bool,
    read_decimal,
    read_int,
    read_time,
)

NAME = "openai-jsonl"
# distinct identities remembered for occurrence numbers (base.Occurrences' default; the bulk path numbers alike)
OCCURRENCE_LIMIT = Occurrences().limit
_loads = json.JSONDecoder(parse_float=Decimal).decode
# where a logger puts the caller's request id, the time and the HTTP status
_REQUEST_ID_KEYS = ("request_id", "x_request_id", "x-request-id", "client_request_id")
_TIME_KEYS = ("timestamp", "time", "created_at", "request_time", "start_time", "logged_at")
_STATUS_KEYS = ("status_code", "http_status", "status")
_LABEL_HOLDERS = ("metadata", "labels", "tags")
_PARTIAL_REASONS = ("length", "max_tokens", "max_output_tokens", "model_context_window_exceeded")
_ROUTES = {
    "chat.completion": "chat.completions",
    "chat.completion.chunk": "chat.completions",
    "text_completion": "completions",
    "response": "responses",
    "message": "messages",
    "embedding": "embeddings",
}


def sniff(head: bytes, name: str) -> bool:
    first = head.lstrip(b"\xef\xbb\xbf").lstrip().split(b"\n", 1)[0]
    if not first.startswith(b"{"):
        return False
    try:
        doc = json.loads(first)
    except ValueError:
        return False
    if not isinstance(doc, dict) or "resourceSpans" in doc or "data" in doc:
        return False
    inner = doc.get("response") if isinstance(doc.get("response"), dict) else doc
    inner = inner.get("body") if isinstance(inner.get("body"), dict) else inner
    return any(k in inner for k in ("usage", "choices", "output", "object")) or (
        "error" in doc and ("model" in doc or "request_id" in doc)
    )


def parse(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    """Bulk path (pyarrow + DuckDB) by blocks of lines; lines it cannot vouch for go through the row path."""
    if not ctx.options.get("bulk", True):
        yield from parse_rows(path, ctx)
        return
    from costproof.sources.usage import openai_bulk

    state = {"any": False}

    def slow(number: int, line: bytes, earlier_ok: bool) -> dict[str, Any] | RowError | None:
        is_json, out = _line(number, line, ctx, state["any"] or earlier_ok)
        state["any"] = state["any"] or is_json
        return out

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")  # the bulk queries return rows in block order unsorted
    provider = ctx.options.get("provider") or "openai-compatible"
    numbering = openai_bulk.Numbering(con, OCCURRENCE_LIMIT)
    try:
        for prepared in openai_bulk.prepared_blocks(Path(path), ctx.chunk_rows):
            chunk = openai_bulk.run_block(con, prepared, ctx, numbering, slow, identity_key, provider)
            if chunk.table.num_rows or len(chunk.errors) < len(prepared.block):
                state["any"] = True
            yield chunk
    finally:
        con.close()
    if not state["any"]:
        raise InputError("the file is empty", file=ctx.file_label)


def parse_rows(path: Path, ctx: ParseContext) -> Iterator[UsageChunk]:
    """The row path: one line at a time in Python."""
    builder = RowBuilder(ctx)
    seen = Occurrences(OCCURRENCE_LIMIT)
    any_line = False
    for number, line in iter_lines(path):
        is_json, out = _line(number, line, ctx, any_line)
        any_line = any_line or is_json
        if isinstance(out, RowError):
            builder.error(out.record, out.field, out.reason)
        else:
            if out is not None:
                key = identity_key(out.pop("_identity"))
                out["record_id"] = record_id_of(key, seen.next_key(key))
                out["source_record"] = number
                builder.add(out)
        if builder.full():
            yield builder.flush()
    if not any_line:
        raise InputError("the file is empty", file=ctx.file_label)
    yield from builder.drain()


def _line(number: int, line: bytes, ctx: ParseContext, any_line: bool) -> tuple[bool, dict[str, Any] | RowError]:
    """One line: its row (with `_identity`), or its quarantine entry; a first line that is not JSON is fatal."""
    try:
        rec = _loads(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        if not any_line:
            raise InputError(f"not JSON Lines ({exc})"[:200], file=ctx.file_label, record=number) from None
        return False, RowError(number, "record", "not valid JSON")
    try:
        return True, _row(rec, ctx)
    except BadValue as exc:
        field_name, sep, reason = str(exc).partition(": ")
        if not sep or " " in field_name:
            field_name, reason = "record", str(exc)
        return True, RowError(number, field_name, reason)


def identity_key(identity: tuple[Any, ...]) -> str:
    """The record_id pre-image before the occurrence number (also the occurrence key)."""
    return "\x1f".join("" if p is None else str(p) for p in (NAME, *identity))


def record_id_of(key: str, occurrence: int) -> str:
    return hashlib.sha256(f"{key}\x1f{occurrence}".encode()).hexdigest()[:24]


def _row(rec: Any, ctx: ParseContext) -> dict[str, Any]:
    if not isinstance(rec, dict):
        raise BadValue(f"record: expected a JSON object, got {type(rec).__name__}")
    body: dict[str, Any] = rec
    status: Any = None
    request_id: Any = None
    response = rec.get("response")
    if isinstance(response, dict):
        if isinstance(response.get("body"), dict):  # OpenAI Batch API output line
            status = response.get("status_code")
            request_id = rec.get("custom_id") or response.get("request_id")
            body = response["body"]
        else:
            body = response
    elif isinstance(rec.get("body"), dict):
        body = rec["body"]
    request = rec.get("request") if isinstance(rec.get("request"), dict) else {}

    for key in _REQUEST_ID_KEYS:
        if request_id in (None, "") and rec.get(key) not in (None, ""):
            request_id = rec[key]
    for key in _STATUS_KEYS:
        if status is None and isinstance(rec.get(key), int | str) and str(rec[key]).strip().isdigit():
            status = rec[key]
    status_code = read_int(status, "status_code")
    error = rec.get("error") or (body.get("error") if body is not rec else None)
    obj = str(body.get("object") or body.get("type") or "")
    if obj == "list" and isinstance(body.get("data"), list):
        obj = "embedding"
    failed = bool(error) or (status_code is not None and status_code >= 400)
    if obj == "response" and body.get("status") == "failed":
        failed = True
    if status_code is None and not failed and (body.get("usage") or body.get("choices") or obj):
        status_code = 200  # a completion body is only ever returned with a 2xx

    occurred = None
    for key in _TIME_KEYS:
        if rec.get(key) not in (None, ""):
            occurred = read_time(rec[key], key)
            break
    if occurred is None:
        for key in ("created", "created_at"):
            if body.get(key) not in (None, ""):
                occurred = read_time(body[key], key)
                break
    if occurred is None:
        raise BadValue("created: missing (no timestamp, time or created field)")

    model = _text(body.get("model")) or _text(rec.get("model")) or _text(request.get("model"))
    if not model and not failed:
        raise BadValue("model: missing")
    stream = _first_bool(rec, ("stream", "is_stream")) or _first_bool(request, ("stream",))
    is_stream = bool(stream) or obj == "chat.completion.chunk"

    usage = body.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise BadValue(f"usage: expected an object, got {type(usage).__name__}")
    meters = _meters(usage) if usage else None
    finish = _finish_reasons(body, obj)
    partial = any(r in _PARTIAL_REASONS for r in finish)
    if obj == "response" and body.get("status") == "incomplete":
        partial = True
    origin = "reported"
    if meters is None:
        origin = "missing"
        if is_stream and not failed:
            partial = True  # streamed without the final usage chunk: usage unknown, not zero
    elif is_stream and not failed and not finish and obj != "response":
        partial = True

    labels = extract_labels(
        *(rec.get(k) for k in _LABEL_HOLDERS),
        request.get("metadata"),
        body.get("metadata") if body is not rec else None,
        rec,
    )
    key_name = safe_name(labels.pop("api_key_name", None), ctx.secret_pattern)
    cost = None
    if isinstance(usage, dict) and usage.get("cost") is not None:
        cost = read_decimal(usage.get("cost"), "usage.cost")
    response_id = _text(body.get("id"))
    kind = "error" if failed else "consume"
    row: dict[str, Any] = {
        "record_kind": kind,
        "occurred_at": occurred[0],
        "original_offset": occurred[1],
        "provider": _text(rec.get("provider")) or ctx.options.get("provider") or "openai-compatible",
        "model_reported": model or None,
        "route_family": _ROUTES.get(obj) or _route_from_usage(usage),
        "request_id": _text(request_id) or None,
        "status_code": status_code,
        "status_class": status_class(status_code),
        "is_stream": is_stream,
        "is_partial": partial,
        "api_key_name": key_name or None,
        "pricing_group": _text(rec.get("group")) or None,
        **labels,
        "requests": 0 if failed else 1,
        "provider_reported_cost": cost,
        "provider_reported_currency": "USD" if cost is not None else None,
        "usage_origin": origin,
    }
    if meters is not None:
        row.update(meters)
    tokens = tuple(meters.values()) if meters else ()
    row["_identity"] = (
        _text(request_id),
        response_id,
        occurred[0].isoformat(),
        status_code,
        kind,
        model,
        key_name,
        *tokens,
    )
    return row


def _meters(usage: dict[str, Any]) -> dict[str, int]:
    """Disjoint meters from the three usage shapes; provider totals are split, never summed."""
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        total_in = read_int(usage.get("prompt_tokens"), "usage.prompt_tokens") or 0
        total_out = read_int(usage.get("completion_tokens"), "usage.completion_tokens") or 0
        in_details = _details(usage, "prompt_tokens_details")
        out_details = _details(usage, "completion_tokens_details")
        cached = read_int(in_details.get("cached_tokens"), "usage.prompt_tokens_details.cached_tokens")
        if cached is None:  # DeepSeek reports the cache split at the top level
            cached = read_int(usage.get("prompt_cache_hit_tokens"), "usage.prompt_cache_hit_tokens")
        cache_write = read_int(
            in_details.get("cache_creation_tokens", usage.get("cache_creation_input_tokens")),
            "usage.prompt_tokens_details.cache_creation_tokens",
        )
        audio_in = read_int(in_details.get("audio_tokens"), "usage.prompt_tokens_details.audio_tokens")
        reasoning = read_int(out_details.get("reasoning_tokens"), "usage.completion_tokens_details.reasoning_tokens")
        audio_out = read_int(out_details.get("audio_tokens"), "usage.completion_tokens_details.audio_tokens")
        return _split(
            total_in,
            total_out,
            cached,
            cache_write,
            audio_in,
            reasoning,
            audio_out,
            "prompt_tokens",
        )
    if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
        # Anthropic messages: input_tokens already excludes cache reads and writes
        cache_write = read_int(usage.get("cache_creation_input_tokens"), "usage.cache_creation_input_tokens") or 0
        return {
            "input_tokens": read_int(usage.get("input_tokens"), "usage.input_tokens") or 0,
            "cached_input_tokens": read_int(usage.get("cache_read_input_tokens"), "usage.cache_read_input_tokens") or 0,
            "cache_write_tokens": cache_write,
            "output_tokens": read_int(usage.get("output_tokens"), "usage.output_tokens") or 0,
            "reasoning_tokens": 0,
            "audio_input_tokens": 0,
            "audio_output_tokens": 0,
        }
    if "input_tokens" in usage or "output_tokens" in usage:
        total_in = read_int(usage.get("input_tokens"), "usage.input_tokens") or 0
        total_out = read_int(usage.get("output_tokens"), "usage.output_tokens") or 0
        in_details = _details(usage, "input_tokens_details")
        out_details = _details(usage, "output_tokens_details")
        cached = read_int(in_details.get("cached_tokens"), "usage.input_tokens_details.cached_tokens")
        audio_in = read_int(in_details.get("audio_tokens"), "usage.input_tokens_details.audio_tokens")
        reasoning = read_int(out_details.get("reasoning_tokens"), "usage.output_tokens_details.reasoning_tokens")
        audio_out = read_int(out_details.get("audio_tokens"), "usage.output_tokens_details.audio_tokens")
        return _split(total_in, total_out, cached, None, audio_in, reasoning, audio_out, "input_tokens")
    if "total_tokens" in usage:  # embeddings-style usage without a split
        return _split(
            read_int(usage.get("total_tokens"), "usage.total_tokens") or 0,
            0,
            None,
            None,
            None,
            None,
            None,
            "",
        )
    raise BadValue("usage: no token counts (prompt_tokens / input_tokens) in the usage object")


def _split(
    total_in: int,
    total_out: int,
    cached: int | None,
    cache_write: int | None,
    audio_in: int | None,
    reasoning: int | None,
    audio_out: int | None,
    in_name: str,
) -> dict[str, int]:
    uncached = total_in - (cached or 0) - (cache_write or 0) - (audio_in or 0)
    if uncached < 0:
        raise BadValue(
            f"usage.{in_name or 'total_tokens'}: cached/cache-write/audio input "
            f"({total_in - uncached}) "
            f"exceeds the input total ({total_in})"
        )
    text_out = total_out - (reasoning or 0) - (audio_out or 0)
    if text_out < 0:
        out_name = "completion_tokens" if in_name == "prompt_tokens" else "output_tokens"
        raise BadValue(
            f"usage.{out_name}: reasoning/audio output ({total_out - text_out}) exceeds the output total ({total_out})"
        )
    return {
        "input_tokens": uncached,
        "cached_input_tokens": cached or 0,
        "cache_write_tokens": cache_write or 0,
        "output_tokens": text_out,
        "reasoning_tokens": reasoning or 0,
        "audio_input_tokens": audio_in or 0,
        "audio_output_tokens": audio_out or 0,
    }


def _details(usage: dict[str, Any], key: str) -> dict[str, Any]:
    value = usage.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadValue(f"usage.{key}: expected an object, got {type(value).__name__}")
    return value


def _finish_reasons(body: dict[str, Any], obj: str) -> list[str]:
    reasons: list[str] = []
    choices = body.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, dict) and choice.get("finish_reason"):
                reasons.append(str(choice["finish_reason"]))
    if body.get("stop_reason"):
        reasons.append(str(body["stop_reason"]))
    details = body.get("incomplete_details")
    if isinstance(details, dict) and details.get("reason"):
        reasons.append(str(details["reason"]))
    if obj == "response" and body.get("status") == "completed":
        reasons.append("stop")
    return reasons


def _route_from_usage(usage: Any) -> str | None:
    if not isinstance(usage, dict):
        return None
    if "prompt_tokens" in usage:
        return "chat.completions" if "completion_tokens" in usage else "embeddings"
    if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
        return "messages"
    if "input_tokens" in usage:
        return "responses"
    return None


def _first_bool(source: dict[str, Any], keys: tuple[str, ...]) -> bool | None:
    for key in keys:
        if source.get(key) not in (None, ""):
            return read_bool(source[key], key)
    return None


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()
