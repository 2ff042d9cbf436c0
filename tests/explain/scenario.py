"""A generated period that plants one cause of variance per ledger line, with an independent oracle.

Each cost center has its own key name, so each ledger line (grain: cost_center) isolates one cause:
a stale price, double-counted retries, test traffic, billed errors, a UTC+8 cut, per-row cent
rounding, an unexplained 7%, an exact line, and a group ratio only the provider applied.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

OLD = {"gpt-4o": ("5.00", "15.00"), "gpt-4o-mini": ("0.30", "1.20")}  # effective 2026-05-01
NEW = {"gpt-4o": ("2.50", "10.00"), "gpt-4o-mini": ("0.15", "0.60")}  # effective 2026-06-01
NEW_FROM = datetime(2026, 6, 1, tzinfo=UTC)
JUNE = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
CENT = Decimal("0.01")


def price(model: str, at: datetime, prompt: int, completion: int, table: dict | None = None) -> Decimal:
    inp, out = (table or (NEW if at >= NEW_FROM else OLD))[model]
    return (prompt * Decimal(inp) + completion * Decimal(out)) / 1_000_000


@dataclass
class Row:
    at: datetime
    token: str
    model: str
    prompt: int
    completion: int
    kind: int = 2  # 2 consume, 5 error
    group: str = "default"
    group_ratio: Decimal = Decimal(1)

    def cost(self, table: dict | None = None) -> Decimal:
        return price(self.model, self.at, self.prompt, self.completion, table)


@dataclass
class Scenario:
    rows: list[Row] = field(default_factory=list)
    ledger: dict[str, Decimal] = field(default_factory=dict)  # cost_center -> booked amount
    expected: dict[str, Decimal] = field(default_factory=dict)  # cost_center -> engine should expect

    def in_june(self, token: str) -> list[Row]:
        return [r for r in self.rows if r.token == token and r.kind == 2 and JUNE[0] <= r.at < JUNE[1]]


def build(seed: int = 7) -> Scenario:
    rng = random.Random(seed)
    sc = Scenario()

    def spread(token: str, n: int, *, first_day: int = 2, last_day: int = 28, model: str = "gpt-4o",
               size: tuple[int, int] = (2000, 40000), **kw: object) -> list[Row]:
        out = []
        for i in range(n):
            at = datetime(2026, 6, first_day, tzinfo=UTC) + timedelta(
                seconds=int((last_day - first_day) * 86400 * i / n) + rng.randint(0, 600))
            out.append(Row(at, token, model, rng.randint(*size), rng.randint(100, 4000), **kw))  # type: ignore[arg-type]
        sc.rows.extend(out)
        return out

    # stale: the ledger used last month's prices
    stale = spread("stale-prod", 60)
    sc.expected["cc-stale"] = sum(r.cost() for r in stale)
    sc.ledger["cc-stale"] = sum(r.cost(OLD) for r in stale)
    # retries: each failed attempt (no tokens) is followed 10 s later by its retry; the ledger counted both
    retried = spread("retry-prod", 50)
    for r in retried[::5]:
        sc.rows.append(Row(r.at - timedelta(seconds=10), r.token, r.model, 0, 0, kind=5))
    sc.expected["cc-retry"] = sum(r.cost() for r in retried)
    sc.ledger["cc-retry"] = sc.expected["cc-retry"] + sum(r.cost() for r in retried[::5])
    # test traffic: qa keys share the cost center; the ledger did not separate environments
    prod = spread("mixed-prod", 40)
    test = spread("qa-mixed", 15, model="gpt-4o-mini")
    sc.expected["cc-mixed"] = sum(r.cost() for r in prod)
    sc.ledger["cc-mixed"] = sc.expected["cc-mixed"] + sum(r.cost() for r in test)
    # billed errors: failed requests that still carried tokens, billed by the ledger
    ok = spread("errs-prod", 40)
    errors = spread("errs-prod", 8, first_day=3, last_day=27, kind=5)
    for e in errors:  # keep errors more than the retry window away from any other row of the key
        e.at = e.at.replace(minute=37, second=0)
    sc.expected["cc-errs"] = sum(r.cost() for r in ok)
    sc.ledger["cc-errs"] = sc.expected["cc-errs"] + sum(e.cost() for e in errors)
    # timing: the ledger cut the month in UTC+8
    tz_rows = []
    for day_start in (datetime(2026, 5, 31, 12, tzinfo=UTC), datetime(2026, 6, 30, 12, tzinfo=UTC)):
        for k in range(24):  # every 30 minutes across 12 hours around each boundary
            tz_rows.append(Row(day_start + timedelta(minutes=30 * k + 7), "tz-prod", "gpt-4o", 20000, 1000))
    tz_rows += spread("tz-prod", 30, first_day=5, last_day=25)
    sc.rows.extend(tz_rows[:48])
    shifted = (JUNE[0] - timedelta(hours=8), JUNE[1] - timedelta(hours=8))
    sc.expected["cc-tz"] = sum(r.cost() for r in tz_rows if JUNE[0] <= r.at < JUNE[1])
    sc.ledger["cc-tz"] = sum(r.cost() for r in tz_rows if shifted[0] <= r.at < shifted[1])
    # rounding: many tiny requests, the ledger rounded each to the cent
    tiny = spread("round-prod", 300, first_day=5, last_day=25, model="gpt-4o-mini")
    for j, r in enumerate(tiny):  # each request costs a fraction just above half a cent
        r.prompt, r.completion = 35334 + (j % 7) * 66667, 0
    sc.expected["cc-round"] = sum(r.cost() for r in tiny)
    sc.ledger["cc-round"] = sum(r.cost().quantize(CENT, rounding=ROUND_HALF_UP) for r in tiny)
    # unknown: 7 % more than any evidence supports
    unk = spread("unk-prod", 50, first_day=3, last_day=27)
    sc.expected["cc-unk"] = sum(r.cost() for r in unk)
    sc.ledger["cc-unk"] = sc.expected["cc-unk"] * Decimal("1.07")
    # exact
    exact = spread("exact-prod", 40)
    sc.expected["cc-exact"] = sum(r.cost() for r in exact)
    sc.ledger["cc-exact"] = sc.expected["cc-exact"]
    # provider-only group ratio: the gateway charged 1.5x for the vip group; no pricing source says so
    vip = spread("vip-prod", 40, model="gpt-4o-mini", group="vip", group_ratio=Decimal("1.5"))
    sc.expected["cc-vip"] = sum(r.cost() for r in vip)
    sc.ledger["cc-vip"] = sc.expected["cc-vip"]
    sc.rows.sort(key=lambda r: (r.at, r.token))
    return sc


LABELS = "token_name,cost_center,environment\nqa-*,cc-mixed,test\n" + "".join(
    f"{t}-prod,cc-{t},production\n" for t in ("stale", "retry", "mixed", "errs", "tz", "round", "unk", "exact", "vip"))


def _models_doc(prices: dict[str, tuple[str, str]]) -> dict:
    return {"data": [{"id": m, "pricing": {"currency": "USD / M Tokens", "input": i, "output": o}}
                     for m, (i, o) in prices.items()]}


def write(sc: Scenario, target: Path) -> dict[str, Path]:
    target.mkdir(parents=True, exist_ok=True)
    items = []
    for n, r in enumerate(sc.rows, start=1):
        inp, out = (NEW if r.at >= NEW_FROM else OLD)[r.model]
        mr, cr = Decimal(inp) / 2, Decimal(out) / Decimal(inp)
        quota = ((r.prompt + r.completion * cr) * mr * r.group_ratio).quantize(Decimal(1), ROUND_HALF_UP)
        other = {"model_ratio": str(mr), "completion_ratio": str(cr), "group_ratio": str(r.group_ratio)}
        items.append({"id": n, "created_at": int(r.at.timestamp()), "type": r.kind, "token_name": r.token,
                      "model_name": r.model, "quota": int(quota), "prompt_tokens": r.prompt,
                      "completion_tokens": r.completion, "use_time": 1, "is_stream": False, "group": r.group,
                      "other": json.dumps(other)})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["line_id", "period", "cost_center", "amount", "currency"])
    for cc, amount in sorted(sc.ledger.items()):
        w.writerow([f"L-{cc}", "2026-06", cc, f"{amount.quantize(CENT, ROUND_HALF_UP)}", "USD"])
    files = {
        "old.json": json.dumps(_models_doc(OLD)), "new.json": json.dumps(_models_doc(NEW)),
        "log.json": json.dumps({"data": {"items": items}}), "labels.csv": LABELS, "ledger.csv": buf.getvalue(),
    }
    out = {}
    for name, text in files.items():
        (target / name).write_text(text, "utf-8")
        out[name] = target / name
    return out
