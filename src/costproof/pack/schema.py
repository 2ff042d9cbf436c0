"""The pack's layout and versioned schemas: file paths, artifact columns, figure names."""

from __future__ import annotations

from costproof.probe import REVIEW_LOG_FIELDS

PACK_SCHEMA = "costproof.pack/1"
SUPPORTED_PACK_SCHEMAS = (PACK_SCHEMA,)
ARTIFACTS_SCHEMA = "costproof.pack.artifacts/1"

PACK_JSON = "pack.json"
MANIFEST = "MANIFEST.sha256"
README = "README.md"
REPORT = "report.html"
REVIEW_LOG = "review_log.csv"
CONTRACT_DETAILS = "contract_details.csv"
WHAT_NOT_TO_ASSERT = "what_not_to_assert.md"
SCHEMAS = "artifacts/schemas.json"
SOURCES = "public/sources.csv"
INTERNAL_SOURCES = "internal/sources.csv"
ATTACHMENTS = "internal/attachments.csv"
LEDGER_LINES = "internal/ledger_lines.csv"
USAGE_IMPORTS = "internal/usage_imports.csv"
USAGE_BY_MODEL = "internal/usage_by_model.csv"
QUARANTINE = "internal/quarantine_summary.csv"
PROBES = "internal/probes.csv"

# name -> (path, schema id, columns); JSON artifacts carry their schema id in a "schema" key.
ARTIFACTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pricing_snapshot": ("artifacts/pricing_snapshot.csv", "costproof.pack.pricing_snapshot/1", (
        "snapshot_id", "source_url", "source_kind", "classification", "accessed_at", "effective_from", "model_id",
        "meter", "unit", "unit_price", "per_quantity", "multiplier", "verified_price", "currency", "tier_min",
        "group", "reviewer", "reviewed_at", "evidence")),
    "usage_export": ("artifacts/usage_export.csv", "costproof.pack.usage_export/1", (
        "day", "model", "model_reported", "cost_center", "environment", "status_class", "outcome", "rows",
        "requests", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "audio_input_tokens", "audio_output_tokens", "images", "seconds", "expected_cost",
        "currency", "provider_reported_cost", "provider_reported_currency")),
    "model_mapping": ("artifacts/model_mapping.csv", "costproof.pack.model_mapping/1", (
        "internal_model_alias", "source_model_id", "pricing_unit", "effective_from", "approved_by", "version")),
    "calculation_manifest": ("artifacts/calculation_manifest.json", "costproof.pack.calculation_manifest/1", ()),
    "variance_report": ("artifacts/variance_report.json", "costproof.pack.variance_report/1", ()),
    "approval_record": ("artifacts/approval_record.csv", "costproof.pack.approval_record/1", (
        "period", "run_id", "decision", "reviewer", "approved_at", "exceptions", "notes")),
}

# Evidence files beside the artifacts, with their own columns (checked like artifacts).
TABLES: dict[str, tuple[str, ...]] = {
    REVIEW_LOG: REVIEW_LOG_FIELDS,
    CONTRACT_DETAILS: ("area", "what_to_verify", "source_url", "accessed", "verified_value", "verifier",
                       "safe_candidate_wording"),
    SOURCES: ("snapshot_id", "page", "url", "accessed_at", "http_status", "content_type", "classification",
              "sha256", "size", "path", "included", "note"),
    INTERNAL_SOURCES: ("snapshot_id", "page", "url", "accessed_at", "http_status", "content_type",
                       "classification", "sha256", "size", "path", "included", "note"),
    LEDGER_LINES: ("line_key", "statement", "statement_sha256", "line_no", "period", "grain", "amount", "currency",
                   "quantity", "unit", "variance_id", "status"),
    USAGE_IMPORTS: ("import_id", "file", "format", "sha256", "records", "rows_stored", "duplicates", "quarantined"),
    USAGE_BY_MODEL: ("model", "status_class", "outcome", "rows", "requests", "input_tokens", "output_tokens",
                     "expected_cost", "currency"),
    QUARANTINE: ("import_id", "field", "records"),
    ATTACHMENTS: ("sha256", "size", "referenced_by", "path", "included", "note"),
    PROBES: ("probe_id", "timestamp", "check", "route_family", "base_url", "model", "request_owner", "status_class",
             "expected_class", "passed", "usage_seen", "response_id_hash", "latency_class", "error_class"),
}

# Figures stated in README.md and report.html; `pack verify` recomputes each from the artifacts.
FIGURES: dict[str, str] = {
    "expected": "Expected cost, recomputed from evidence",
    "provider_reported": "Provider-reported cost",
    "ledger": "Internal ledger",
    "difference": "Ledger minus expected, at ledger grain",
    "lines": "Ledger lines",
    "matched": "Lines matched within tolerance",
    "open": "Open variances",
    "closed": "Closed variances",
}
MONEY_FIGURES = ("expected", "provider_reported", "ledger", "difference")

# (area, the workflow's contract_checks item or "", what to verify, safe candidate wording)
CONTRACT_AREAS: tuple[tuple[str, str, str, str], ...] = (
    ("endpoint paths", "endpoint_paths",
     "the API root and route paths the team calls (e.g. POST /v1/chat/completions)",
     "Requests to <route> on <host> returned 2xx in a validation probe on <date>."),
    ("auth headers", "auth_headers",
     "the header that carries the key (Authorization: Bearer, x-api-key) and how a bad key fails",
     "An invalid key was rejected with <status> on <date>."),
    ("request fields", "request_fields",
     "the request fields relied on (model, max_tokens, stream, stream_options)",
     "The fields <list> were accepted on <date>."),
    ("response fields", "response_fields",
     "where usage is reported (usage block, stream's final chunk) and the token field names",
     "Responses on <route> carried a usage block with <fields> on <date>."),
    ("error behavior", "error_behavior",
     "status codes for an unknown model, a bad request, an overload; whether failed calls are billed",
     "An unknown model was rejected with <status> on <date>."),
    ("rate-limit and billing assumptions", "rate_limit_billing",
     "documented per-key limits and 429 handling; what is billed (failed, streamed, cached, retried) and when",
     "The provider's page at <URL> (accessed <date>) states <quote>; costproof did not test it."),
    ("support caveat: rate multipliers", "",
     "group, model and completion ratios applied on top of list prices",
     "The pricing source at <URL> lists ratio <value> for group <group> (accessed <date>)."),
    ("support caveat: price adjustments", "",
     "how and when list prices change, and notice given",
     "Prices were read from <URL> on <date>; later changes are not covered."),
    ("support caveat: request monitoring", "",
     "what the provider logs about requests and how long it keeps logs",
     "The provider states <policy> at <URL> (accessed <date>)."),
    ("support caveat: abnormal-charge handling", "",
     "how disputed or abnormal charges are raised and refunded",
     "Abnormal charges are raised via <channel> per <URL> (accessed <date>)."),
    ("support caveat: recharge credits", "",
     "how top-ups, credits and refunds appear in the usage log and the ledger",
     "Top-ups and refunds appear as <types> in the usage export of <period>."),
    ("unit metric", "",
     "the unit prices are quoted in (USD per 1M tokens, per request, per second)",
     "Prices in the captured source are quoted as <unit> (accessed <date>)."),
)
