"""The genai-prices bundled catalog, frozen to JSON: a cross-check source, never the primary."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from costproof.model.errors import InputError
from costproof.model.pricing import PriceRule, PricingParse
from costproof.sources.pricing.common import load_json, price

NAME = "genai-prices"
VERSION = "genai-prices/1"
PACKAGE = "genai-prices"
PINNED_VERSION = "0.2.3"  # keep in step with pyproject.toml; the snapshot records what ran
CATALOG_FORMAT = "costproof/genai-prices-catalog/1"

# genai-prices price key -> (meter, per_quantity). Keys with no costproof meter (web searches,
# image tokens, document pages, hours of audio, 1-hour cache writes) are left out and counted.
KEY_METERS: dict[str, tuple[str, int]] = {
    "input_mtok": ("input_tokens", 1_000_000),
    "output_mtok": ("output_tokens", 1_000_000),
    "cache_read_mtok": ("cached_input_tokens", 1_000_000),
    "cache_write_mtok": ("cache_write_tokens", 1_000_000),
    "input_audio_mtok": ("audio_input_tokens", 1_000_000),
    "output_audio_mtok": ("audio_output_tokens", 1_000_000),
    # The catalog states a separate reasoning price for a few models; only then is one emitted.
    "output_reasoning_mtok": ("reasoning_tokens", 1_000_000),
    "requests_kcount": ("requests", 1_000),
}
# When the whole catalog is captured, a model id listed by several providers (a Claude model on
# Anthropic, Bedrock and Vertex) keeps the model maker's own price.
FIRST_PARTY: tuple[str, ...] = (
    "openai",
    "anthropic",
    "google",
    "deepseek",
    "mistral",
    "x-ai",
    "cohere",
    "moonshotai",
    "zai",
    "zhipuai",
    "minimax",
    "meta",
    "perplexity",
    "voyageai",
    "elevenlabs",
)


def sniff(head: bytes, name: str) -> bool:
    # Never auto-detected: a user's file is never the third-party catalog. It is chosen by
    # SOURCE `genai-prices[:provider,...]` or an explicit `--format genai-prices`.
    return False


def is_source(source: str) -> bool:
    """True for a capture SOURCE that names the catalog: `genai-prices` or `genai-prices:ids`."""
    return source == NAME or source.startswith(NAME + ":")


def installed_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        raise InputError(f"the {PACKAGE} package is not installed (pin {PINNED_VERSION})") from None


def capture(source: str = NAME) -> bytes:
    """The bundled catalog (optionally some providers) as canonical JSON bytes, to be stored as
    evidence and parsed like any captured page. No network: the catalog ships in the package."""
    from genai_prices import data, types

    wanted = _selection(source)
    by_id = {p.id: p for p in data.providers}
    if wanted:
        unknown = [p for p in wanted if p not in by_id]
        if unknown:
            raise InputError(
                f"unknown genai-prices provider(s) {', '.join(unknown)}; known: {', '.join(sorted(by_id))}",
                file=source,
            )
        chosen = [by_id[p] for p in wanted]
    else:
        first = [by_id[p] for p in FIRST_PARTY if p in by_id]
        chosen = first + [p for p in data.providers if p.id not in FIRST_PARTY]
    doc = {
        "catalog_format": CATALOG_FORMAT,
        "package": PACKAGE,
        "package_version": installed_version(),
        "selection": ",".join(wanted) if wanted else "all",
        "providers": [_provider(p, types) for p in chosen],
    }
    return (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


# The name the capture service looks for on built-in sources.
source_bytes = capture


def parse(pages: list[bytes], label: str) -> PricingParse:
    if not any(pages):
        # Called with the SOURCE itself: capture now (the CLI normally stores capture() first).
        pages = [capture(label if is_source(label) else NAME)]
    out = PricingParse(format=NAME, parser_version=VERSION)
    out.meta["crosscheck_only"] = "true"
    out.meta["pinned_version"] = PINNED_VERSION
    seen: dict[str, str] = {}
    counts: dict[str, Counter[str]] = {"unmapped": Counter(), "duplicate": Counter()}
    skipped_time_of_day: list[str] = []
    variants = 0
    for data in pages:
        doc = load_json(data, label)
        if not isinstance(doc, dict) or doc.get("catalog_format") != CATALOG_FORMAT:
            raise InputError(
                f"not a genai-prices catalog capture (expected catalog_format {CATALOG_FORMAT})",
                file=label,
                field="catalog_format",
            )
        out.meta["package_version"] = str(doc.get("package_version", ""))
        out.meta["selection"] = str(doc.get("selection", ""))
        providers = doc.get("providers")
        if not isinstance(providers, list):
            raise InputError("expected a providers list", file=label, field="providers")
        out.meta["providers"] = ",".join(str(p.get("id")) for p in providers)
        for p_index, provider in enumerate(providers):
            for m_index, model in enumerate(provider.get("models") or []):
                ref = f"providers[{p_index}].models[{m_index}]"
                pid, mid = str(provider.get("id")), str(model.get("id") or "")
                if not mid:
                    raise InputError("model has no id", file=label, record=ref, field="id")
                if mid in seen:
                    counts["duplicate"][pid] += 1
                    continue
                seen[mid] = pid
                if any(c.get("time_of_day") for c in model.get("prices") or []):
                    skipped_time_of_day.append(f"{pid}:{mid}")
                    continue
                variants += 1 if model.get("variants") else 0
                _model(pid, mid, model, ref, label, out, counts["unmapped"])
    if out.meta["package_version"] != PINNED_VERSION:
        out.warnings.append(f"catalog from {PACKAGE} {out.meta['package_version']}, not the pinned {PINNED_VERSION}")
    if skipped_time_of_day:
        out.warnings.append(
            f"{len(skipped_time_of_day)} model(s) left out: time-of-day (off-peak) prices cannot "
            f"be represented as price rules: {', '.join(skipped_time_of_day)}"
        )
    if counts["unmapped"]:
        keys = ", ".join(f"{k} ({n})" for k, n in sorted(counts["unmapped"].items()))
        out.warnings.append(f"price keys with no costproof meter, left out: {keys}")
    if counts["duplicate"]:
        by = ", ".join(f"{k} ({n})" for k, n in sorted(counts["duplicate"].items()))
        out.warnings.append(
            f"model ids listed by an earlier provider kept that provider's price; later listings left out: {by}"
        )
    if variants:
        out.warnings.append(
            f"{variants} model(s) have request-context price variants (service tier, batch); the standard price is used"
        )
    if not out.rules:
        raise InputError("no priced models in the genai-prices catalog selection", file=label)
    return out


def _model(
    pid: str,
    mid: str,
    model: dict[str, Any],
    ref: str,
    label: str,
    out: PricingParse,
    unmapped: Counter[str],
) -> None:
    for start, end, index in _windows(model.get("prices") or []):
        block = model["prices"][index]
        for key in sorted(block.get("prices") or {}):
            value = block["prices"][key]
            if key not in KEY_METERS:
                unmapped[key] += 1
                continue
            meter, per = KEY_METERS[key]
            where = f"{ref}.prices[{index}].{key}"
            tiers: list[tuple[int, Any, str]] = []
            if isinstance(value, dict):
                tiers.append((0, value.get("base"), f"{where}.base"))
                for t_index, tier in enumerate(value.get("tiers") or []):
                    # genai-prices applies a tier when the request's input tokens are *above*
                    # `start`; a costproof tier applies from tier_min on, hence start + 1.
                    start_tokens = int(tier["start"]) + 1
                    tiers.append((start_tokens, tier.get("price"), f"{where}.tiers[{t_index}]"))
            else:
                tiers.append((0, value, where))
            for tier_min, amount, source_ref in tiers:
                unit_price = price(amount, label=label, record=ref, field=source_ref)
                if unit_price is None:
                    continue
                note = f"provider {pid}"
                if tier_min:
                    note += f"; tier: request input tokens > {tier_min - 1:,}"
                out.rules.append(
                    PriceRule(
                        model=mid,
                        meter=meter,
                        unit_price=unit_price,
                        per_quantity=per,
                        currency="USD",
                        tier_min=tier_min,
                        effective_from=start,
                        effective_to=end,
                        source_ref=f"{pid}:{mid} {source_ref}",
                        notes=note,
                    )
                )


def _windows(blocks: list[dict[str, Any]]) -> list[tuple[datetime | None, datetime | None, int]]:
    """Half-open date windows and the price block in force in each, by the catalog's own rule:
    the last block whose start date has passed wins, the first block before any start date."""
    if not blocks:
        return []
    starts = sorted({_day(b["start_date"]) for b in blocks if b.get("start_date")})
    bounds: list[datetime | None] = [None, *starts]
    windows: list[tuple[datetime | None, datetime | None, int]] = []
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] if i + 1 < len(bounds) else None
        winner = 0
        for index, block in enumerate(blocks):
            start = _day(block["start_date"]) if block.get("start_date") else None
            if start is None or (lo is not None and start <= lo):
                winner = index
        if windows and windows[-1][2] == winner:
            windows[-1] = (windows[-1][0], hi, winner)
        else:
            windows.append((lo, hi, winner))
    return windows


def _day(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)


def _selection(source: str) -> list[str]:
    if not is_source(source):
        raise InputError(f"a genai-prices source is {NAME} or {NAME}:PROVIDER[,PROVIDER]", file=source)
    _, _, rest = source.partition(":")
    return [p.strip() for p in rest.split(",") if p.strip()]


def _provider(provider: Any, types: Any) -> dict[str, Any]:
    return {
        "id": provider.id,
        "name": provider.name,
        "pricing_urls": list(provider.pricing_urls or []),
        "models": [_model_doc(m, types) for m in provider.models],
    }


def _model_doc(model: Any, types: Any) -> dict[str, Any]:
    if isinstance(model.prices, types.ModelPrice):
        blocks = [{"start_date": None, "time_of_day": None, "prices": _prices(model.prices, types)}]
    else:
        blocks = []
        for conditional in model.prices:
            constraint = conditional.constraint
            start = getattr(constraint, "start_date", None)
            tod = None
            if isinstance(constraint, types.TimeOfDateConstraint):
                tod = f"{constraint.start_time.isoformat()}/{constraint.end_time.isoformat()}"
            blocks.append(
                {
                    "start_date": start.isoformat() if start else None,
                    "time_of_day": tod,
                    "prices": _prices(conditional.prices, types),
                }
            )
    return {
        "id": model.id,
        "name": model.name,
        "prices": blocks,
        "variants": len(model.price_variants or []),
    }


def _prices(model_price: Any, types: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sorted(vars(model_price).items()):
        if key.startswith("_") or value is None:
            continue
        if isinstance(value, types.TieredPrices):
            out[key] = {
                "base": _money(value.base),
                "tiers": [{"start": t.start, "price": _money(t.price)} for t in value.tiers],
            }
        else:
            out[key] = _money(value)
    return out


def _money(value: Decimal) -> str:
    # The catalog holds Decimals; a string keeps them exact through JSON.
    if not isinstance(value, Decimal):
        raise TypeError(f"genai-prices price is {type(value).__name__}, expected Decimal")
    return str(value)
