"""Billable meters and the explicit fallbacks used when a snapshot has no rule for a meter."""

from __future__ import annotations

from enum import StrEnum


class Meter(StrEnum):
    INPUT_TOKENS = "input_tokens"
    CACHED_INPUT_TOKENS = "cached_input_tokens"
    CACHE_WRITE_TOKENS = "cache_write_tokens"
    OUTPUT_TOKENS = "output_tokens"
    REASONING_TOKENS = "reasoning_tokens"
    AUDIO_INPUT_TOKENS = "audio_input_tokens"
    AUDIO_OUTPUT_TOKENS = "audio_output_tokens"
    IMAGES = "images"
    REQUESTS = "requests"
    SECONDS = "seconds"


METERS: tuple[str, ...] = tuple(m.value for m in Meter)

# Normalized usage keeps meters disjoint: input_tokens are uncached text input, output_tokens
# exclude reasoning. When a snapshot has no rule for a meter, it is priced at its fallback's
# rule (reasoning is billed as output unless a rule says otherwise). Recorded in the manifest.
METER_FALLBACK: dict[str, str] = {
    Meter.CACHED_INPUT_TOKENS: Meter.INPUT_TOKENS,
    Meter.CACHE_WRITE_TOKENS: Meter.INPUT_TOKENS,
    Meter.REASONING_TOKENS: Meter.OUTPUT_TOKENS,
    Meter.AUDIO_INPUT_TOKENS: Meter.INPUT_TOKENS,
    Meter.AUDIO_OUTPUT_TOKENS: Meter.OUTPUT_TOKENS,
}

TOKEN_METERS: tuple[str, ...] = tuple(m for m in METERS if m.endswith("_tokens"))
