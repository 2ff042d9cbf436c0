"""Workspace settings in costproof.toml, with defaults for everything."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path

TEMPLATE = """\
# costproof workspace settings. Every key is optional; defaults shown.
[reconcile]
# a statement line within this amount of the currency is matched
tolerance = "0.01"
# rounding rule: none, or GRAIN-MODE-PLACES (row-half-up-0.01, line-half-even-0.01, day-half-up-0.01)
rounding = "none"
# environments whose usage is imported and counted but excluded from expected cost
exclude_environments = ["test"]
# a failed attempt followed within this many seconds by a row of the same key, model and
# is_stream is the same request (a retry)
retry_window_s = 60

[sanitize]
# extra regular expressions treated as secrets (hashed in key names, rejected in review logs)
secret_patterns = []

[review]
# escalation rules (docs/workflow.md); each open escalation blocks approval until a disposition closes it
# two pricing sources disagree on a price used in the period by more than this share -> period paused
price_disagreement_tolerance = "0.01"
# an `unknown`-bucket variance above this share of its line, or above this amount, goes to the incident owner
unknown_escalation_share = "0.01"
unknown_escalation_amount = "100"
# in-period rows lacking the usage fields pricing needs (model, tokens) tolerated before escalating
missing_fields_max_rows = 0
# a ledger rate (amount / quantity) matching no captured price within this share -> source unidentified
ledger_rate_tolerance = "0.005"
# a variance whose difference grows by more than this between two runs of a period is flagged
variance_growth_tolerance = "0.01"
# an `unverified` billing class with priced exposure above this (per currency) is escalated
billing_exposure_threshold = "0"
# contract details verified longer ago than this (days before the period end) no longer count
contract_max_age_days = 90

[review.billing_policy]
# failed, retried and partial calls: excluded, billable or unverified (kept out of expected cost,
# priced exposure shown as its own line, escalated to API integration)
failed = "unverified"
retried = "unverified"
partial = "unverified"
"""

BILLING_CLASSES = ("failed", "retried", "partial")
BILLING_POLICIES = ("excluded", "billable", "unverified")


@dataclass(frozen=True)
class ReviewSettings:
    """The `[review]` section: escalation thresholds and the billing policy per call class."""

    price_disagreement_tolerance: Decimal = Decimal("0.01")
    unknown_escalation_share: Decimal = Decimal("0.01")
    unknown_escalation_amount: Decimal = Decimal("100")
    missing_fields_max_rows: int = 0
    ledger_rate_tolerance: Decimal = Decimal("0.005")
    variance_growth_tolerance: Decimal = Decimal("0.01")
    billing_exposure_threshold: Decimal = Decimal("0")
    contract_max_age_days: int = 90
    billing_policy: tuple[tuple[str, str], ...] = tuple((c, "unverified") for c in BILLING_CLASSES)

    @classmethod
    def from_doc(cls, doc: dict[str, object]) -> ReviewSettings:
        from costproof.model.errors import InputError

        raw = dict(doc)
        policy_doc = raw.pop("billing_policy", {}) or {}
        if not isinstance(policy_doc, dict):
            raise InputError("[review.billing_policy] must be a table", field="review.billing_policy")
        policy = []
        for cls_name in BILLING_CLASSES:
            value = str(policy_doc.get(cls_name, "unverified"))
            if value not in BILLING_POLICIES:
                raise InputError(f"must be one of {', '.join(BILLING_POLICIES)}, got {value!r}",
                                 field=f"review.billing_policy.{cls_name}")
            policy.append((cls_name, value))
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "billing_policy" or f.name not in raw:
                continue
            try:
                kwargs[f.name] = int(raw[f.name]) if f.type == "int" else Decimal(str(raw[f.name]))
            except (ValueError, ArithmeticError):
                raise InputError(f"not a number: {raw[f.name]!r}", field=f"review.{f.name}") from None
        return cls(**kwargs, billing_policy=tuple(policy))  # type: ignore[arg-type]

    def policy(self, billing_class: str) -> str:
        return dict(self.billing_policy)[billing_class]

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {f.name: str(getattr(self, f.name)) for f in fields(self)
                                  if f.name != "billing_policy"}
        out["billing_policy"] = dict(self.billing_policy)
        return out


@dataclass(frozen=True)
class Settings:
    tolerance: Decimal = Decimal("0.01")
    rounding: str = "none"
    exclude_environments: tuple[str, ...] = ("test",)
    retry_window_s: int = 60
    secret_patterns: tuple[str, ...] = field(default_factory=tuple)
    review: ReviewSettings = field(default_factory=ReviewSettings)

    @classmethod
    def load(cls, path: Path) -> Settings:
        if not path.exists():
            return cls()
        try:
            doc = tomllib.loads(path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            from costproof.model.errors import InputError

            raise InputError(f"invalid TOML: {exc}", file=str(path)) from None
        rec = doc.get("reconcile", {})
        san = doc.get("sanitize", {})
        return cls(
            tolerance=Decimal(str(rec.get("tolerance", "0.01"))),
            rounding=str(rec.get("rounding", "none")),
            exclude_environments=tuple(rec.get("exclude_environments", ["test"])),
            retry_window_s=int(rec.get("retry_window_s", 60)),
            secret_patterns=tuple(san.get("secret_patterns", [])),
            review=ReviewSettings.from_doc(doc.get("review", {})),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "tolerance": str(self.tolerance),
            "rounding": self.rounding,
            "exclude_environments": list(self.exclude_environments),
            "retry_window_s": self.retry_window_s,
            "secret_patterns": len(self.secret_patterns),
            # recorded in each run's manifest: how failed / retried / partial calls are to be treated
            "billing_policy": dict(self.review.billing_policy),
        }
