"""The normalized usage columns every usage adapter maps into (FOCUS-aligned names)."""

from __future__ import annotations

from costproof.model.meters import METERS

# (name, logical type). Logical types: str, int, bool, ts (UTC microseconds), dec (DECIMAL(38,12)).
# Meters are disjoint: input_tokens excludes cached/cache-write/audio input; output_tokens
# excludes reasoning and audio output. Adapters split provider totals accordingly.
USAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("record_id", "str"),
    ("import_id", "str"),
    ("source_record", "int"),
    ("record_kind", "str"),
    ("occurred_at", "ts"),
    ("original_offset", "str"),
    ("provider", "str"),
    ("model_reported", "str"),
    ("route_family", "str"),
    ("request_id", "str"),
    ("status_code", "int"),
    ("status_class", "str"),
    ("attempt", "int"),
    ("is_retry", "bool"),
    ("is_stream", "bool"),
    ("is_partial", "bool"),
    ("environment", "str"),
    ("api_key_name", "str"),
    ("pricing_group", "str"),
    ("cost_center", "str"),
    ("project", "str"),
    ("customer", "str"),
    ("workflow", "str"),
    *((m, "int") for m in METERS),
    ("provider_reported_cost", "dec"),
    ("provider_reported_currency", "str"),
    ("provider_ratios", "str"),
    ("usage_origin", "str"),
)
USAGE_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in USAGE_COLUMNS)
LABEL_COLUMNS: tuple[str, ...] = ("cost_center", "project", "customer", "workflow", "environment")

# record_kind: what a row is, before any pricing decision.
RECORD_KINDS = ("consume", "refund", "topup", "manage", "system", "error", "login", "unknown")
ENVIRONMENTS = ("production", "staging", "test")
USAGE_ORIGINS = ("reported", "estimated", "missing", "computed-by-litellm")


def status_class(code: int | None) -> str:
    if code is None:
        return ""
    return f"{code // 100}xx"
