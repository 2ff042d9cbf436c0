"""Validation probes against an OpenAI-compatible gateway (happy path, auth and error paths)."""

from costproof.probe.probe import (
    CHECKS,
    DEFAULT_KEY_ENV,
    DEFAULT_MODEL,
    DEFAULT_OWNER,
    REVIEW_LOG_FIELDS,
    ROUTES,
    SCHEMA,
    ProbeError,
    ProbeReport,
    ProbeResult,
    hash_response_id,
    read_api_key,
    review_log_record,
    run_probe,
)

__all__ = [
    "CHECKS",
    "DEFAULT_KEY_ENV",
    "DEFAULT_MODEL",
    "DEFAULT_OWNER",
    "REVIEW_LOG_FIELDS",
    "ROUTES",
    "SCHEMA",
    "ProbeError",
    "ProbeReport",
    "ProbeResult",
    "hash_response_id",
    "read_api_key",
    "review_log_record",
    "run_probe",
]
