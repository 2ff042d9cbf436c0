"""The claims guard: README.md and report.html never state a claim listed in what_not_to_assert.md without a link."""

from __future__ import annotations

import html
import re

# Claim -> a pattern for wording that would state it.
CLAIMS: dict[str, str] = {
    "exact model availability": r"\bavailab(?:le|ility)\b",
    "final invoice totals": r"\binvoic(?:e|es|ed)\b",
    "future discounts": r"\bdiscount",
    "rate limits": r"\brate[- ]?limit",
    "uptime": r"\buptime\b|\bSLA\b|\bdowntime\b",
    "latency": r"\blatenc(?:y|ies)\b|\bresponse times?\b",
    "billing outcomes": r"\bwill be (?:billed|charged|invoiced)\b|\bbilling outcomes?\b",
}
_PATTERN = re.compile("|".join(f"(?P<c{i}>{p})" for i, p in enumerate(CLAIMS.values())), re.IGNORECASE)
_NAMES = list(CLAIMS)
_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
_BLOCK_END = re.compile(r"</(?:p|li|tr|h[1-6]|div|td|th|figcaption|caption|pre|section|dd|dt)>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_SVG = re.compile(r"<svg\b.*?</svg>", re.IGNORECASE | re.DOTALL)
_STYLE = re.compile(r"<style\b.*?</style>", re.IGNORECASE | re.DOTALL)


def _hits(text: str) -> list[str]:
    out = []
    for m in _PATTERN.finditer(text):
        out.append(_NAMES[int(next(k for k, v in m.groupdict().items() if v)[1:])])
    return out


def markdown_claims(text: str) -> list[str]:
    """Unsupported claims in Markdown: a paragraph, list item or table row naming one, with no link in it."""
    problems = []
    in_code = False
    for n, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code or _MD_LINK.search(line):
            continue
        for claim in _hits(line):
            problems.append(f"line {n}: states {claim!r} without an evidence link")
    return problems


def html_claims(text: str) -> list[str]:
    """Unsupported claims in HTML: a block (paragraph, cell, item, heading) naming one, with no link in it."""
    body = _STYLE.sub("", _SVG.sub("", text))
    problems = []
    for n, block in enumerate(_BLOCK_END.split(body), start=1):
        if "href=" in block:
            continue
        plain = html.unescape(_TAG.sub(" ", block))
        for claim in _hits(plain):
            problems.append(f"block {n}: states {claim!r} without an evidence link: {' '.join(plain.split())[:80]}")
    return problems


WHAT_NOT_TO_ASSERT = """\
# What this pack does not assert

This pack reconciles evidence: captured pricing sources, the team's own usage
records and ledger lines, and the calculation that joins them. It does **not**
support the claims below, and nobody should quote it for them, unless a
verified source inside this pack is linked right next to the claim (a row of
`contract_details.csv` with a source URL, access time and verifier, or a file
under `public/`).

| Do not assert | Why this pack cannot support it |
|---|---|
| Exact model availability | A price row shows a model was listed when the page was captured, not that it \
can be called now, in every region, for every key. |
| Final invoice totals | Expected cost is recomputed from usage and captured prices; the provider's invoice \
can add taxes, credits, minimums or adjustments this pack has not seen. |
| Future discounts | Prices are as captured at the access time in `public/sources.csv`; later changes are \
not covered. |
| Rate limits | No limit was measured; a documented limit belongs in `contract_details.csv` with its source. |
| Uptime | A validation probe shows one request's outcome at one moment, not availability over time. |
| Latency | Probe timings are coarse classes of single requests, not a service level. |
| Billing outcomes | How a disputed, failed, retried or refunded request will be charged is the provider's \
decision; see the support caveats in `contract_details.csv`. |

Safe wording names the source and the time: "CometAPI's model list, captured
2026-05-01T00:00:00Z (sha256 …), lists gpt-4o at 2.50 USD per 1M input tokens."

`costproof pack verify` flags any line of README.md or report.html that states
one of these without a link.
"""
