"""new-api `/api/pricing`: model/completion/cache ratios, fixed per-call prices, group ratios."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import RATIO_USD_PER_M
from costproof.model.pricing import PriceRule, PricingParse
from costproof.sources.pricing.common import load_json, price

NAME = "newapi-pricing"
VERSION = "newapi-pricing/2"
PER_M = 1_000_000
# Ratios new-api documents that have no price rule here yet; a value other than 1 is reported
# so that nobody takes the engine's fallback (audio billed as text) for the gateway's price.
UNREPRESENTED = ("image_ratio", "audio_ratio", "audio_completion_ratio")


def sniff(head: bytes, name: str) -> bool:
    text = head[:16384].decode("utf-8", "replace")
    return "model_ratio" in text and "quota_type" in text


def parse(pages: list[bytes], label: str) -> PricingParse:
    out = PricingParse(format=NAME, parser_version=VERSION)
    seen: set[str] = set()
    for data in pages:
        doc = load_json(data, label)
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            raise InputError("expected {success, data: [...], group_ratio: {...}}", file=label, field="data")
        if doc.get("success") is False:
            raise InputError("the API answered success=false", file=label, field="success")
        groups = doc.get("group_ratio") or {}
        if not isinstance(groups, dict):
            raise InputError("expected an object of group: ratio", file=label, field="group_ratio")
        # Group ratios stay apart from the rules: the engine applies the row's group's ratio.
        for group, ratio in sorted(groups.items()):
            value = price(ratio, label=label, record="group_ratio", field=str(group), allow_none=False)
            assert value is not None
            out.group_ratios[str(group)] = value
        if groups:
            out.meta["group_ratio_source"] = "group_ratio (top level)"
        for index, item in enumerate(doc["data"]):
            _model(item, f"data[{index}]", label, out, seen)
        if doc.get("pricing_version"):
            out.meta["pricing_version"] = str(doc["pricing_version"])
    if not out.rules:
        raise InputError("no priced models found", file=label, field="data")
    return out


def _model(item: Any, ref: str, label: str, out: PricingParse, seen: set[str]) -> None:
    if not isinstance(item, dict):
        raise InputError("expected an object", file=label, record=ref)
    model = str(item.get("model_name") or "").strip()
    if not model:
        raise InputError("model has no model_name", file=label, record=ref, field="model_name")
    if model in seen:
        out.warnings.append(f"{ref}: {model} listed twice; first entry kept")
        return
    seen.add(model)
    quota_type = _quota_type(item.get("quota_type"), label, ref)
    if quota_type == 1:
        fixed = price(item.get("model_price"), label=label, record=ref, field="model_price", allow_none=False)
        assert fixed is not None
        out.rules.append(
            PriceRule(
                model=model,
                meter="requests",
                unit_price=fixed,
                per_quantity=1,
                currency="USD",
                source_ref=f"{ref}.model_price",
                notes="quota_type 1: fixed USD price per call",
            )
        )
        return
    ratio = price(item.get("model_ratio"), label=label, record=ref, field="model_ratio", allow_none=False)
    assert ratio is not None
    base = ratio * RATIO_USD_PER_M
    note = f"quota_type 0: model_ratio {ratio} x 2 USD per 1M tokens"
    rules: list[tuple[str, Decimal, str, str]] = [("input_tokens", Decimal(1), "", "model_ratio")]
    completion = price(item.get("completion_ratio"), label=label, record=ref, field="completion_ratio")
    if completion is None:
        # new-api treats a missing completion ratio as 1: output costs what input costs.
        rules.append(("output_tokens", Decimal(1), "completion_ratio absent, 1", "model_ratio"))
    else:
        rules.append(("output_tokens", completion, f"{ref}.completion_ratio", "completion_ratio"))
    for key, meter in (
        ("cache_ratio", "cached_input_tokens"),
        ("create_cache_ratio", "cache_write_tokens"),
    ):
        value = price(item.get(key), label=label, record=ref, field=key)
        if value is not None:
            rules.append((meter, value, f"{ref}.{key}", key))
    for meter, multiplier, mult_src, field in rules:
        out.rules.append(
            PriceRule(
                model=model,
                meter=meter,
                unit_price=base,
                per_quantity=PER_M,
                currency="USD",
                multiplier=multiplier,
                multiplier_source=mult_src,
                source_ref=f"{ref}.{field}",
                notes=note,
            )
        )
    for key in UNREPRESENTED:
        value = price(item.get(key), label=label, record=ref, field=key)
        if value is not None and value != 1:
            out.warnings.append(f"{ref}: {model} {key} {value} is not represented as a price rule")
    if item.get("billing_mode") or item.get("billing_expr"):
        out.warnings.append(
            f"{ref}: {model} has billing_mode {item.get('billing_mode')!r}; only its base ratios are represented"
        )


def _quota_type(value: Any, label: str, ref: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or str(value).strip() not in ("0", "1"):
        raise InputError(
            f"unknown quota_type {value!r} (0 = ratio per token, 1 = fixed price per call)",
            file=label,
            record=ref,
            field="quota_type",
        )
    return int(str(value).strip())
