"""Deterministic generator for the demo data (and for tests); `python -m costproof.demo.generate DIR`.

The ledger is computed by an independent Decimal oracle here, not by the engine, so the demo also
cross-checks the engine: every ledger line matches except the one deliberate difference.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

PERIOD = "2026-06"
START = datetime(2026, 6, 1, tzinfo=UTC)
# CometAPI-style list prices, USD per 1M tokens
MODELS = {
    "gpt-4o-mini": ("0.15", "0.60"),
    "gpt-4o": ("2.50", "10.00"),
    "claude-3-5-sonnet-20241022": ("3.00", "15.00"),
    "deepseek-chat": ("0.27", "1.10"),
    "gemini-2.0-flash": ("0.10", "0.40"),
    "o3-mini": ("1.10", "4.40"),
    "text-embedding-3-small": ("0.02", "0"),
}
EXTRA_LISTED = {"dall-e-3": {"per_request": "0.04"}, "veo-3": {"per_second": "0.50"}}
# token name -> (models it calls, weight)
KEYS = {
    "billing-svc-prod": (["gpt-4o-mini-prod", "gpt-4o"], 5),
    "search-prod": (["gpt-4o-mini", "text-embedding-3-small", "gemini-2.0-flash"], 6),
    "support-bot-prod": (["claude-3-5-sonnet-20241022", "gpt-4o-mini"], 4),
    "ml-research-staging": (["o3-mini", "deepseek-chat"], 2),
    "qa-smoke-test": (["gpt-4o-mini"], 1),
}
LABELS = [
    ("token_name", "cost_center", "project", "environment"),
    ("billing-*", "cc-billing", "invoicing", "production"),
    ("search-*", "cc-search", "site-search", "production"),
    ("support-*", "cc-support", "helpdesk", "production"),
    ("*-staging", "cc-ml", "research", "staging"),
    ("qa-*", "cc-qa", "qa", "test"),
]
ALIASES = {"gpt-4o-mini-prod": "gpt-4o-mini"}
# The deliberate difference: finance booked the support team's Claude usage at last quarter's price
# (an older CometAPI snapshot, also shipped), so the explainer should name a stale price (bucket source).
STALE_LINE = ("cc-support", "claude-3-5-sonnet-20241022")
OLD_MODELS = {**MODELS, "claude-3-5-sonnet-20241022": ("3.75", "18.75")}
LEAKED_KEY_NAME = "sk-demo-0000000000000000000000000000"  # a key pasted as a token name: must be hashed


def models_json(models: dict[str, tuple[str, str]] = MODELS) -> bytes:
    data = []
    for model, (inp, out) in models.items():
        data.append({"id": model, "object": "model", "owned_by": "cometapi",
                     "pricing": {"currency": "USD / M Tokens", "input": inp, "output": out,
                                 "per_request": 0, "per_second": 0}})
    for model, extra in EXTRA_LISTED.items():
        pricing = {"currency": "USD / M Tokens", "input": 0, "output": 0, "per_request": 0, "per_second": 0}
        pricing.update(extra)
        data.append({"id": model, "object": "model", "owned_by": "cometapi", "pricing": pricing})
    doc = {"success": True, "data": data, "page": 1, "page_size": 100, "total": len(data)}
    return (json.dumps(doc, indent=2) + "\n").encode()


def _ratio(price: str) -> Decimal:
    return Decimal(price) / 2


def log_rows(seed: int = 20260601, n: int = 3000) -> list[dict]:
    rng = random.Random(seed)
    names = list(KEYS)
    weights = [KEYS[k][1] for k in names]
    rows: list[dict] = []
    step = timedelta(days=30) / n
    for i in range(n):
        at = START + step * i + timedelta(seconds=rng.randint(0, 40))
        key = rng.choices(names, weights)[0]
        model = rng.choice(KEYS[key][0])
        base_model = ALIASES.get(model, model)
        prompt = rng.randint(2000, 60000) if "embedding" not in model else rng.randint(500, 20000)
        completion = 0 if "embedding" in model else rng.randint(200, 8000)
        cache = rng.choice([0, 0, 0, prompt // 2]) if base_model.startswith("gpt-4o") else 0
        stream = rng.random() < 0.3
        if rng.random() < 0.015:  # a failed attempt, retried a few seconds later
            rows.append(_row(at, 5, key, model, 0, 0, 0, stream, ratio=None))
            at = at + timedelta(seconds=rng.randint(2, 20))
        rows.append(_row(at, 2, key, model, prompt, completion, cache, stream, ratio=base_model))
    rows.append(_row(START + timedelta(days=12, hours=3), 6, "search-prod", "gpt-4o", 0, 0, 0, False,
                     ratio=None, quota=250000))  # a refund of 0.50 USD
    rows.append(_row(START + timedelta(days=2), 1, "", "", 0, 0, 0, False, ratio=None, quota=50000000))
    for j in range(5):
        rows.append(_row(START + timedelta(days=20, minutes=7 * j), 2, "ml-research-staging", "mystery-model-x",
                         900, 300, 0, False, ratio=None, quota=1200))
    rows.append(_row(START + timedelta(days=9, hours=5), 2, LEAKED_KEY_NAME, "gpt-4o-mini", 1000, 100, 0, False,
                     ratio="gpt-4o-mini"))
    for j in range(3):  # just after the period: counted, excluded as outside_period
        rows.append(_row(datetime(2026, 7, 1, 0, 10 + j, tzinfo=UTC), 2, "search-prod", "gpt-4o-mini", 500, 50, 0,
                         False, ratio="gpt-4o-mini"))
    rows.sort(key=lambda r: (r["created_at"], r["id"]))
    for i, r in enumerate(rows, start=1):
        r["id"] = i
    bad1 = dict(rows[100], prompt_tokens=-5, id=len(rows) + 1)  # negative tokens
    bad2 = dict(rows[200], created_at="not-a-time", id=len(rows) + 2)  # unparseable time
    rows.insert(101, bad1)
    rows.insert(202, bad2)
    return rows


def _row(at: datetime, kind: int, key: str, model: str, prompt: int, completion: int, cache: int, stream: bool,
         *, ratio: str | None, quota: int | None = None) -> dict:
    other: dict = {}
    if ratio is not None:
        inp, out = MODELS[ratio]
        mr = _ratio(inp)
        cr = (Decimal(out) / Decimal(inp)) if Decimal(inp) else Decimal(0)
        other = {"model_ratio": float(mr), "group_ratio": 1, "completion_ratio": float(cr),
                 "cache_tokens": cache, "cache_ratio": 1, "frt": 420}
        if quota is None:
            q = (Decimal(prompt) + Decimal(completion) * cr) * mr
            quota = int(q.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return {
        "id": 0, "user_id": 1, "created_at": int(at.timestamp()), "type": kind,
        "content": "" if kind != 5 else "upstream error: status 503",
        "username": "acme", "token_name": key, "model_name": model, "quota": quota or 0,
        "prompt_tokens": prompt, "completion_tokens": completion, "use_time": 2 if kind == 2 else 0,
        "is_stream": stream, "channel": 3, "token_id": 7, "group": "default",
        "other": json.dumps(other, sort_keys=True) if other else "",
    }


def _label_for(key: str) -> tuple[str, str] | None:
    import fnmatch

    for pattern, cc, _project, env in LABELS[1:]:
        if fnmatch.fnmatchcase(key, pattern):
            return cc, env
    return None


def expected_by_line(rows: list[dict], prices: dict[str, tuple[str, str]] = MODELS) -> dict[tuple[str, str], Decimal]:
    """The oracle: plain Decimal arithmetic over the log, independent of the engine."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["type"] != 2 or not isinstance(r["created_at"], int) or r["prompt_tokens"] < 0:
            continue
        at = datetime.fromtimestamp(r["created_at"], UTC)
        if at.strftime("%Y-%m") != PERIOD:
            continue
        model = ALIASES.get(r["model_name"], r["model_name"])
        if model not in MODELS:
            continue
        label = _label_for(r["token_name"])
        if label is None or label[1] == "test":
            continue
        inp, out = (Decimal(p) / 1_000_000 for p in prices[model])
        cache = json.loads(r["other"]).get("cache_tokens", 0) if r["other"] else 0
        cost = (r["prompt_tokens"] - cache) * inp + cache * inp + r["completion_tokens"] * out
        totals[(label[0], model)] += cost
    return totals


def ledger_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["line_id", "period", "cost_center", "model", "amount", "currency"])
    stale = expected_by_line(rows, OLD_MODELS)
    for n, ((cc, model), amount) in enumerate(sorted(expected_by_line(rows).items()), start=1):
        if (cc, model) == STALE_LINE:
            amount = stale[(cc, model)]
        booked = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        w.writerow([f"GL-{PERIOD}-{n:03d}", PERIOD, cc, model, f"{booked}", "USD"])
    return buf.getvalue().encode()


def labels_csv() -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(LABELS)
    return buf.getvalue().encode()


def write(target: Path) -> dict[str, Path]:
    target.mkdir(parents=True, exist_ok=True)
    rows = log_rows()
    files = {
        "cometapi_models.json": models_json(),
        "cometapi_models_2026-q1.json": models_json(OLD_MODELS),
        "newapi_log_2026-06.json": (json.dumps({"success": True, "message": "", "data": {
            "page": 1, "page_size": len(rows), "total": len(rows), "items": rows}},
            separators=(",", ":")) + "\n").encode(),
        "labels.csv": labels_csv(),
        "ledger_2026-06.csv": ledger_csv(rows),
    }
    out = {}
    for name, data in files.items():
        (target / name).write_bytes(data)
        out[name] = target / name
    return out


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "data"))
