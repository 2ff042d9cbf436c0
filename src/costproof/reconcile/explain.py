"""Name a variance's cause from re-run figures: the hypothesis that closes the gap, or unknown."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from costproof.model.money import to_str
from costproof.model.variance import BUCKET_OWNERS

ESTIMATE_SHARE = Decimal("0.05")


def decide(actual: Decimal, expected: Decimal, reruns: list[dict[str, Any]], tolerance: Decimal) -> dict[str, Any]:
    """Pure: given the statement amount, the run's expected and each hypothesis's figure, pick the cause.

    A hypothesis closes the gap when |actual - figure| <= tolerance. One bucket among the closers wins
    (the closer with the smallest residual is the winning hypothesis); closers in different buckets
    make the variance ambiguous (bucket unknown, all candidates listed); no closer leaves it unknown,
    with the hypothesis that reduced the gap most shown as the best partial explanation.
    """
    gap = actual - expected
    scored = []
    for r in reruns:
        figure = Decimal(r["figure"])
        residual = actual - figure
        scored.append({**r, "figure": figure, "residual": residual,
                       "closes": abs(residual) <= tolerance, "reduction": abs(gap) - abs(residual)})
    scored.sort(key=lambda r: (abs(r["residual"]), r["order"]))
    # Estimates (rows missing, inferred from counts or gaps) only count when no exact re-run closes
    # the gap, and then within ESTIMATE_SHARE of it: an estimate matching to the cent is a coincidence.
    exact = [r for r in scored if r["closes"] and not r.get("estimate")]
    for r in scored:
        if r.get("estimate"):
            r["closes"] = not exact and abs(r["residual"]) <= max(tolerance, abs(gap) * ESTIMATE_SHARE)
    closers = [r for r in scored if r["closes"]]
    buckets = sorted({r["bucket"] for r in closers})
    result: dict[str, Any] = {"gap": gap, "ambiguous": False, "candidates": [], "hypothesis": None,
                              "runner_up": None}
    if len(buckets) == 1:
        win = closers[0]
        result.update(bucket=win["bucket"], hypothesis=_public(win))
        others = [r for r in scored if r is not win]
        result["runner_up"] = _public(others[0]) if others else None
        result["explanation"] = (f"{win['title']}: re-run gives {to_str(win['figure'])}, residual "
                                 f"{to_str(win['residual'])} (within tolerance {tolerance})")
    elif len(buckets) > 1:
        result.update(bucket="unknown", ambiguous=True, candidates=[_public(r) for r in closers])
        result["explanation"] = ("ambiguous: " + "; ".join(f"{r['bucket']} ({r['title']})" for r in closers)
                                 + " each close the gap — evidence does not tell them apart")
    else:
        best = next((r for r in scored if r["reduction"] > 0), None)
        result["bucket"] = "unknown"
        if best:
            result["runner_up"] = _public(best)
            result["explanation"] = (f"no hypothesis closes the gap of {to_str(gap)}; closest: {best['title']} "
                                     f"leaves {to_str(best['residual'])}")
        else:
            result["explanation"] = f"no hypothesis closes or reduces the gap of {to_str(gap)}"
    result["owner"] = BUCKET_OWNERS[result["bucket"]]
    result["reruns"] = [_public(r) for r in scored]
    return result


def _public(r: dict[str, Any]) -> dict[str, Any]:
    return {"name": r["name"], "bucket": r["bucket"], "title": r["title"], "figure": to_str(r["figure"]),
            "residual": to_str(r["residual"]), "closes": r["closes"], "estimate": bool(r.get("estimate")),
            "evidence": r.get("evidence", {})}
