"""Review-workflow domain types: checklist items, escalations, dispositions, contract and review-log fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DISPOSITIONS = ("accepted", "corrected", "escalated")
LEGS = ("expected", "statement", "provider")

# (number, id, title): exactly the reconciliation checklist's 13 items, in order.
CHECKLIST_ITEMS: tuple[tuple[int, str, str], ...] = (
    (1, "pricing_captured", "Pricing source URLs were captured with access timestamp"),
    (2, "pricing_crosschecked", "Public pricing and pricing documentation were cross-checked"),
    (3, "contract_verified", "API contract assumptions were verified from the current API docs"),
    (4, "usage_coverage", "Usage export covers the full reporting period"),
    (5, "environments_separated", "Test, staging, and production usage are separated"),
    (6, "failures_classified", "Failed, retried, and partial requests are classified separately"),
    (7, "models_priced", "Every model ID maps to a verified pricing row"),
    (8, "unmapped_handled", "Unmapped models are excluded or explicitly approved"),
    (9, "code_version", "Calculation code version is recorded"),
    (10, "rounding_documented", "Rounding and aggregation rules are documented"),
    (11, "variances_bucketed", "Variances are bucketed by cause"),
    (12, "adjustments_evidenced", "Manual adjustments include owner, reason, and evidence"),
    (13, "report_links", "Final report links to the pricing snapshot and usage export"),
)
ITEM_IDS: tuple[str, ...] = tuple(i for _, i, _ in CHECKLIST_ITEMS)
# Items a named operator may attest when the workspace cannot show the fact itself.
ATTESTABLE: dict[str, str] = {
    "pricing_captured": "a snapshot captured from a local file: attest the URL it was downloaded from",
    "pricing_crosschecked": "the pricing documentation is prose, not capturable: attest the manual comparison",
    "usage_coverage": "days without usage rows: attest that no traffic ran on them",
}

# The contract-details table: each assumption needs a verified value, a source and a verifier.
CONTRACT_ITEMS: dict[str, str] = {
    "endpoint_paths": "Endpoint paths (e.g. POST /v1/chat/completions)",
    "auth_headers": "Auth headers (e.g. Authorization: Bearer <key>)",
    "request_fields": "Request fields (model, messages, stream, max_tokens, ...)",
    "response_fields": "Response fields (usage.prompt_tokens, usage.completion_tokens, ...)",
    "error_behavior": "Error behavior (status codes, error body, whether failed calls are billed)",
    "rate_limit_billing": "Rate-limit and billing assumptions (429 handling, quota units, billing granularity)",
}

# The seed's sanitized review-log fields, exactly.
REVIEW_LOG_FIELDS: tuple[str, ...] = (
    "review_date",
    "operator",
    "source_urls_checked",
    "ledger_period",
    "request_owner",
    "status_class",
    "evidence_attached",
    "follow_up_owner",
    "result",
    "notes",
)


def item_ref(ref: str) -> tuple[int, str, str]:
    """A checklist item by number ("4") or id ("usage_coverage"); ValueError when neither."""
    for n, ident, title in CHECKLIST_ITEMS:
        if ref.strip() in (str(n), ident):
            return n, ident, title
    raise ValueError(f"no checklist item {ref!r}: use 1-13 or one of {', '.join(ITEM_IDS)}")


def disposition_applies(row: dict[str, Any] | None, difference: Any, tolerance: Any) -> bool:
    """A variance disposition closes the figures it was given for: once the difference has moved beyond
    tolerance the variance is open again (the old disposition stays in the history)."""
    if row is None:
        return False
    if row["target_kind"] != "variance" or difference is None or row["difference_at"] is None:
        return True
    return bool(abs(difference - row["difference_at"]) <= tolerance)


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One checklist item as computed: `subjects` are what fails (and what an attestation would cover)."""

    n: int
    id: str
    title: str
    passed: bool
    detail: str
    evidence: str | None
    subjects: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Escalation:
    """A rule that fired: blocks approval (through `item`) until a disposition closes it."""

    id: str
    rule: str
    owner: str
    item: str
    subject: str
    detail: str
    evidence: tuple[str, ...] = ()
    pauses: bool = False
    variance_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Facts:
    """Everything the checklist and the escalation rules read, gathered once from the workspace."""

    period: str
    start: Any  # datetime, period start (UTC, inclusive)
    end: Any  # datetime, period end (UTC, exclusive)
    as_of: Any  # datetime, the caller's clock
    tolerance: Any  # Decimal, the matching tolerance
    review: Any  # workspace.config.ReviewSettings
    exclude_environments: tuple[str, ...] = ()
    run: dict[str, Any] | None = None  # runs row + parsed manifest + integrity flags
    previous_run_id: str | None = None
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_snapshots: list[str] = field(default_factory=list)
    crosschecks: list[dict[str, Any]] = field(default_factory=list)
    contract: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    billing: list[dict[str, Any]] = field(default_factory=list)
    mapping: list[dict[str, Any]] = field(default_factory=list)
    variances: list[dict[str, Any]] = field(default_factory=list)
    previous_differences: dict[str, Any] = field(default_factory=dict)
    dispositions: dict[str, dict[str, Any]] = field(default_factory=dict)
    attestations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ledger_rates: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
