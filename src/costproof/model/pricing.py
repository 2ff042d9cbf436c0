"""Price rules as parsed from a pricing source: Decimal, per meter, dated, with provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from costproof.model.meters import METERS


@dataclass(frozen=True, slots=True)
class PriceRule:
    """`unit_price` per `per_quantity` units of `meter` for `model`, times `multiplier`.

    `tier_min` is the per-request input-token threshold from which the rule applies (0 = base
    tier). `group` limits a rule to one gateway group (None = any). `source_ref` says where in
    the captured bytes the number was read (e.g. ``data[3].pricing.input``).
    """

    model: str
    meter: str
    unit_price: Decimal
    per_quantity: int
    currency: str
    tier_min: int = 0
    multiplier: Decimal = Decimal(1)
    multiplier_source: str = ""
    group: str | None = None
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    source_ref: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if self.meter not in METERS:
            raise ValueError(f"unknown meter {self.meter!r}")
        for name in ("unit_price", "multiplier"):
            if not isinstance(getattr(self, name), Decimal):
                raise TypeError(f"{name} must be Decimal, got {type(getattr(self, name)).__name__}")
        if self.unit_price < 0:
            raise ValueError("unit_price must not be negative")
        if self.per_quantity <= 0:
            raise ValueError("per_quantity must be positive")

    def price_per_unit(self) -> Decimal:
        """The resolved price of one unit of the meter (before any group ratio)."""
        return self.unit_price / Decimal(self.per_quantity) * self.multiplier


@dataclass(slots=True)
class PricingParse:
    """What a pricing adapter returns: rules, documented group multipliers, facts about the source."""

    format: str
    parser_version: str
    rules: list[PriceRule] = field(default_factory=list)
    group_ratios: dict[str, Decimal] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
