"""new-api `/api/pricing`: model/completion/cache ratios, fixed per-call prices, group ratios."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import RATIO_USD_PER_M
from costproof.model.pricing import PriceRule, PricingParse
from costproof.sources.pricing.common import load_json, price

NAME = "newapi-pricing"
VERSION = "newapi-pricing/1"
PER_M = 1_000_000


def sniff(head: bytes, name: str) -> bool:
    text = head[:16384].decode("utf-8", "replace")
    return "model_ratio" in text and "quota_type" in text


def parse(pages: list[bytes], label: str) -> PricingParse:
    out = PricingParse(format=NAME, parser_version=VERSION)
    for data in pages:
        doc = load_json(data, label)
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            raise InputError(
                "expected {success, data: [...], group_ratio: {...}}", file=label, field="data"
            )
        if doc.get("success") is False:
            raise InputError("the API answered success=false", file=label, field="success")
        for group, ratio in (doc.get("group_ratio") or {}).items():
            out.group_ratios[str(group)] = price(
                ratio, label=label, record="group_ratio", field=str(group), allow_none=False
            )  # type: ignore[assignment]
        for index, item in enumerate(doc["data"]):
            _model(item, f"data[{index}]", label, out)
        if doc.get("pricing_version"):
            out.meta["pricing_version"] = str(doc["pricing_version"])
    if not out.rules:
        raise InputError("no priced models found", file=label, field="data")
    return out


def _model(item: Any, ref: str, label: str, out: PricingParse) -> None:
    if not isinstance(item, dict):
        raise InputError("expected an object", file=label, record=ref)
    model = str(item.get("model_name") or "").strip()
    if not model:
        raise InputError("model has no model_name", file=label, record=ref, field="model_name")
    quota_type = int(item.get("quota_type") or 0)
    if quota_type == 1:
        fixed = price(
            item.get("model_price"), label=label, record=ref, field="model_price", allow_none=False
        )
        out.rules.append(
            PriceRule(
                model=model,
                meter="requests",
                unit_price=fixed,
                per_quantity=1,  # type: ignore[arg-type]
                currency="USD",
                source_ref=f"{ref}.model_price",
                notes="quota_type 1: fixed price per call",
            )
        )
        return
    if quota_type != 0:
        raise InputError(
            f"unknown quota_type {quota_type}", file=label, record=ref, field="quota_type"
        )
    ratio = price(
        item.get("model_ratio"), label=label, record=ref, field="model_ratio", allow_none=False
    )
    base = ratio * RATIO_USD_PER_M  # type: ignore[operator]
    note = f"model_ratio {ratio} x 2 USD per 1M tokens"
    rules = [("input_tokens", Decimal(1), "", "model_ratio")]
    completion = price(
        item.get("completion_ratio"), label=label, record=ref, field="completion_ratio"
    )
    rules.append(
        (
            "output_tokens",
            completion if completion is not None else Decimal(1),
            "completion_ratio",
            "completion_ratio",
        )
    )
    cache = price(item.get("cache_ratio"), label=label, record=ref, field="cache_ratio")
    if cache is not None:
        rules.append(("cached_input_tokens", cache, "cache_ratio", "cache_ratio"))
    create_cache = price(
        item.get("create_cache_ratio"), label=label, record=ref, field="create_cache_ratio"
    )
    if create_cache is not None:
        rules.append(
            ("cache_write_tokens", create_cache, "create_cache_ratio", "create_cache_ratio")
        )
    for meter, multiplier, mult_src, field in rules:
        out.rules.append(
            PriceRule(
                model=model,
                meter=meter,
                unit_price=base,
                per_quantity=PER_M,
                currency="USD",
                multiplier=multiplier,
                multiplier_source=f"{ref}.{mult_src}" if mult_src else "",
                source_ref=f"{ref}.{field}",
                notes=note,
            )
        )
