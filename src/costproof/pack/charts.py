"""Charts for report.html: Vega-Lite specs built with altair, rendered offline to inline SVG."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import altair as alt
import vl_convert as vlc

from costproof.model.money import to_str

# Okabe-Ito: distinguishable under the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999")
OPEN, CLOSED, MATCHED, NEUTRAL = "#D55E00", "#009E73", "#0072B2", "#5F6B7A"
FONT = "Inter, 'Segoe UI', Helvetica, Arial, sans-serif"
MAX_MODELS = 6
CHART_WIDTH = 820


def _config(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return (chart.configure(font=FONT, background="white")
            .configure_view(stroke=None)
            .configure_axis(labelColor="#374151", titleColor="#374151", gridColor="#E5E7EB", domainColor="#9CA3AF",
                            labelFontSize=11, titleFontSize=12, titleFontWeight="normal")
            .configure_legend(labelColor="#374151", titleColor="#374151", labelFontSize=11, titleFontSize=12,
                              orient="bottom", columns=4, symbolType="square")
            .configure_title(color="#111827", fontSize=13, anchor="start", fontWeight="normal"))


def svg(chart: alt.TopLevelMixin) -> str:
    """Render to SVG without a browser or network; the same spec gives the same bytes."""
    text = vlc.vegalite_to_svg(_config(chart).to_dict())
    return text.replace('<?xml version="1.0" encoding="utf-8"?>', "").strip()


def daily_by_model(usage: list[dict[str, str]], currency: str) -> str | None:
    """Stacked bars: expected cost per day, one colour per model (the largest few; the rest as `other`)."""
    cells: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in usage:
        if r.get("outcome") != "priced" or r.get("currency") != currency or not r.get("expected_cost"):
            continue
        cost = Decimal(r["expected_cost"])
        cells[(r["day"], r["model"])] += cost
        totals[r["model"]] += cost
    if not cells:
        return None
    top = [m for m, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))][:MAX_MODELS]
    if len(totals) > MAX_MODELS:
        top = top[: MAX_MODELS - 1]
    merged: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for (day, model), cost in cells.items():
        merged[(day, model if model in top else "other")] += cost
    legend = [*top, *(["other"] if len(totals) > len(top) else [])]
    values = [{"day": d, "model": m, "cost": to_str(c), "rank": legend.index(m)}
              for (d, m), c in sorted(merged.items())]
    data = alt.Data(values=values, format=alt.DataFormat(parse={"cost": "number", "day": "date"}))
    chart = alt.Chart(data).mark_bar(width={"band": 0.8}).encode(
        x=alt.X("day:T", timeUnit="yearmonthdate", title=None,
                axis=alt.Axis(format="%d %b", labelAngle=0, tickCount=10)),
        y=alt.Y("sum(cost):Q", title=f"expected cost ({currency})", axis=alt.Axis(format=",.2f")),
        color=alt.Color("model:N", title="model", sort=legend,
                        scale=alt.Scale(domain=legend, range=list(PALETTE[: len(legend)]))),
        order=alt.Order("rank:Q", sort="ascending"),
    ).properties(width=CHART_WIDTH, height=220)
    return svg(chart)


def waterfall(steps: list[dict[str, Any]], currency: str) -> str | None:
    """Expected → each bucket's difference → ledger, as floating bars.

    `steps`: [{"label", "kind": total|step, "amount": Decimal}] in order, first and last totals. The axis
    starts near the smallest running total so that differences of a few percent stay visible; the caption
    says so.
    """
    if len(steps) < 2:
        return None
    levels = []
    running = Decimal(0)
    for s in steps:
        running = Decimal(s["amount"]) if s["kind"] == "total" else running + Decimal(s["amount"])
        levels.append(running)
    low, high = min(levels), max(levels)
    base = _floor_nice(low - (high - low) * Decimal("0.6") - abs(high) * Decimal("0.02")) if low > 0 else low
    base = max(base, Decimal(0)) if low >= 0 else base
    values = []
    running = Decimal(0)
    for i, s in enumerate(steps):
        amount = Decimal(s["amount"])
        if s["kind"] == "total":
            start, end, kind = base, amount, "total"
            running = amount
        else:
            start, end = running, running + amount
            kind = "ledger higher" if amount > 0 else "ledger lower" if amount < 0 else "no difference"
            running = end
        values.append({"i": i, "label": s["label"], "start": to_str(start), "end": to_str(end), "kind": kind,
                       "text": _short(amount, signed=s["kind"] != "total"), "top": to_str(max(start, end))})
    domain = ["total", "ledger higher", "ledger lower", "no difference"]
    data = alt.Data(values=values, format=alt.DataFormat(parse={"start": "number", "end": "number",
                                                                "top": "number", "i": "number"}))
    x = alt.X("label:N", sort=alt.EncodingSortField(field="i", order="ascending"), title=None,
              axis=alt.Axis(labelAngle=0, labelLimit=160, labelFontSize=12))
    y_scale = alt.Scale(domain=[float(base), float(high + (high - base) * Decimal("0.08"))], zero=False, nice=False)
    bars = alt.Chart(data).mark_bar(size=52, cornerRadiusTopLeft=2, cornerRadiusTopRight=2).encode(
        x=x, y=alt.Y("start:Q", title=currency, scale=y_scale, axis=alt.Axis(format=",.2f", tickCount=6)),
        y2="end:Q",
        color=alt.Color("kind:N", title=None, scale=alt.Scale(domain=domain,
                                                              range=[NEUTRAL, OPEN, CLOSED, "#BBBBBB"])),
    )
    labels = alt.Chart(data).mark_text(dy=-8, fontSize=12, color="#111827").encode(
        x=x, y=alt.Y("top:Q", scale=y_scale), text="text:N")
    return svg(alt.layer(bars, labels).properties(width=CHART_WIDTH, height=260))


def _floor_nice(value: Decimal) -> Decimal:
    """Round down to a readable axis start (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return Decimal(0)
    exp = Decimal(10) ** (len(str(int(value))) - 1)
    return (value // exp) * exp


def _short(amount: Decimal, *, signed: bool) -> str:
    """A bar label: two places, thousands separated; more places when two would show a non-zero as zero."""
    q = amount.quantize(Decimal("0.01"))
    if q == 0 and amount != 0:
        q = amount.quantize(Decimal("0.0001"))
    text = f"{abs(q):,}"
    sign = "−" if q < 0 else "+" if signed and q > 0 else ""
    return sign + text
