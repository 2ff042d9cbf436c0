"""Capture a pricing source as evidence, parse it into dated rules, list and show snapshots."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import duckdb
import httpx

from costproof import __version__
from costproof.engine.rates import Snapshot
from costproof.model.errors import InputError
from costproof.model.pricing import PriceRule, PricingParse
from costproof.model.sanitize import redact
from costproof.reconcile import pricecompare
from costproof.review import lock as review_lock
from costproof.service import mapping as mapping_svc
from costproof.service.common import iso, parse_when, period_bounds, short_hash
from costproof.sources import pricing as adapters
from costproof.workspace import Workspace, dumps

KEPT_HEADERS = ("date", "etag", "last-modified", "content-type", "content-length")
MAX_PAGES = 200
DEFAULT_TIMEOUT = 30.0  # seconds, for connect, each read and write (httpx applies it per operation)


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch_pages(url: str, *, fmt: str | None, api_key: str | None, timeout: float = DEFAULT_TIMEOUT,
                transport: httpx.BaseTransport | None = None) -> list[dict[str, Any]]:
    """GET the URL (and its following pages when the listing is paginated); refuse non-2xx."""
    headers = {"Accept": "application/json, text/html;q=0.9, */*;q=0.5",
               "User-Agent": f"costproof/{__version__}"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    pages: list[dict[str, Any]] = []
    with httpx.Client(timeout=timeout, follow_redirects=True, transport=transport) as client:
        next_url: str | None = url
        while next_url and len(pages) < MAX_PAGES:
            try:
                resp = client.get(next_url, headers=headers)
            except httpx.TimeoutException:
                raise InputError(f"no complete answer within {timeout:g} s (--timeout); nothing stored",
                                 file=_scrub(next_url, api_key)) from None
            except httpx.HTTPError as exc:
                raise InputError(f"could not fetch: {_scrub(str(exc), api_key)}",
                                 file=_scrub(next_url, api_key)) from None
            if not 200 <= resp.status_code < 300:
                raise InputError(
                    f"HTTP {resp.status_code}: a non-2xx answer is not price evidence; nothing stored",
                    file=_scrub(next_url, api_key),
                )
            pages.append({
                "url": _scrub(str(resp.url), api_key),
                "status": resp.status_code,
                "headers": {k: resp.headers[k] for k in KEPT_HEADERS if k in resp.headers},
                "body": resp.content,
            })
            # the next page follows from where a redirect landed, not from the URL first asked for
            next_url = _next_page(str(resp.url), resp.content, fmt)
    return pages


def _next_page(url: str, body: bytes, fmt: str | None) -> str | None:
    from costproof.sources.pricing import cometapi_models

    if fmt not in (None, cometapi_models.NAME):
        return None
    info = cometapi_models.page_info(body)
    if not info:
        return None
    page, size, total = info
    if size <= 0 or page * size >= total:
        return None
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["page"] = str(page + 1)
    query.setdefault("page_size", str(size))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _scrub(text: str, key: str | None) -> str:
    if key:
        text = text.replace(key, "[REDACTED]")
    return redact(text)


def capture(
    ws: Workspace,
    source: str,
    *,
    fmt: str | None,
    label: str | None,
    operator: str | None,
    effective_from: str | None,
    classification: str | None,
    now: datetime,
    api_key: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    if is_url(source):
        pages = fetch_pages(source, fmt=fmt, api_key=api_key, timeout=timeout, transport=transport)
        source_kind, label_text = "url", pages[0]["url"]
        source_text = label_text
    elif source.split(":", 1)[0] in adapters.BUILTIN_SOURCES:
        # A catalog shipped in a package: its name is its format, and the bytes stored as evidence
        # are the very bytes parsed, so the snapshot never moves when the package does.
        builtin = source.split(":", 1)[0]
        if fmt not in (None, builtin):
            raise InputError(f"{builtin} is a built-in source read as --format {builtin}, not {fmt}", file=source)
        fmt = builtin
        body = adapters.get(fmt).source_bytes(source)
        pages = [{"url": None, "status": None, "headers": {}, "body": body}]
        source_kind, label_text = "builtin", source
        source_text = source
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError("no such file (and not an http(s) URL)", file=source)
        pages = [{"url": None, "status": None, "headers": {}, "body": path.read_bytes()}]
        source_kind, label_text = "file", path.name
        source_text = str(path.resolve())
    bodies = [p["body"] for p in pages]
    if fmt is None:
        fmt = adapters.detect(bodies[0][:65536], label_text)
    adapter = adapters.get(fmt)
    parsed: PricingParse = adapter.parse(bodies, label_text)
    eff = parse_when(effective_from, "--effective-from") if effective_from else None
    review_lock.ensure_unlocked(ws, [review_lock.period_of(eff or now)], "a pricing capture effective in it")
    shas = [ws.evidence.put(b) for b in bodies]
    snapshot_id = "snap-" + short_hash(fmt, parsed.parser_version, shas, iso(eff), label or "")
    existing = ws.one("SELECT snapshot_id FROM snapshots WHERE snapshot_id = ?", [snapshot_id])
    if existing:
        result = show(ws, snapshot_id)
        result["already_captured"] = True
        return result
    kind = classification or ("public-doc" if source_kind in ("url", "builtin") else "internal-evidence")
    if kind not in ("public-doc", "internal-evidence"):
        raise InputError("classification must be public-doc or internal-evidence", field="--classification")
    crosscheck_only = parsed.meta.get("crosscheck_only") == "true"
    with ws.transaction() as con:
        seq = ws.next_seq("snapshots")
        for sha, body in zip(shas, bodies, strict=True):
            con.execute("INSERT OR IGNORE INTO evidence VALUES (?, ?, ?, ?)",
                        [sha, len(body), _media(pages, sha, shas), now])
        con.execute(
            "INSERT INTO snapshots VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [snapshot_id, seq, fmt, parsed.parser_version, source_text,
             source_kind, redact(label) if label else label, redact(operator) if operator else operator,
             now, eff or now, eff is not None,
             pages[0]["status"] if pages else None,
             dumps([{"url": p["url"], "status": p["status"], "headers": p["headers"]} for p in pages]),
             dumps(shas), short_hash(shas, n=64), kind, crosscheck_only, None, None, False,
             dumps(parsed.meta), dumps(parsed.warnings)],
        )
        con.executemany(
            "INSERT INTO price_rules VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [[snapshot_id, i, r.model, r.meter, r.unit_price, r.per_quantity, r.currency, r.tier_min,
              r.multiplier, r.multiplier_source, r.group, r.effective_from, r.effective_to, r.source_ref,
              r.notes] for i, r in enumerate(parsed.rules, start=1)],
        )
        if parsed.group_ratios:
            con.executemany("INSERT INTO group_ratios VALUES (?,?,?)",
                            [[snapshot_id, g, v] for g, v in sorted(parsed.group_ratios.items())])
    return show(ws, snapshot_id)


def _media(pages: list[dict[str, Any]], sha: str, shas: list[str]) -> str | None:
    for page, s in zip(pages, shas, strict=False):
        if s == sha:
            return page["headers"].get("content-type")
    return None


def list_snapshots(ws: Workspace) -> list[dict[str, Any]]:
    rows = ws.rows(
        """SELECT s.snapshot_id, s.format, s.source, s.source_kind, s.label, s.operator, s.accessed_at,
                  s.effective_from, s.classification, s.crosscheck_only, s.reviewer, s.reviewed_at, s.frozen,
                  s.sha256, (SELECT count(*) FROM price_rules r WHERE r.snapshot_id = s.snapshot_id) AS rules,
                  (SELECT count(DISTINCT model) FROM price_rules r WHERE r.snapshot_id = s.snapshot_id) AS models
           FROM snapshots s ORDER BY s.seq""")
    return [_snap_dict(r) for r in rows]


def _snap_dict(r: dict[str, Any]) -> dict[str, Any]:
    out = dict(r)
    for k in ("accessed_at", "effective_from", "reviewed_at"):
        if k in out:
            out[k] = iso(out[k])
    return out


def show(ws: Workspace, snapshot_id: str) -> dict[str, Any]:
    snap = ws.one("SELECT * FROM snapshots WHERE snapshot_id = ?", [snapshot_id])
    if not snap:
        raise InputError(f"no snapshot {snapshot_id!r} (see `costproof pricing list`)")
    rules = ws.rows("SELECT * FROM price_rules WHERE snapshot_id = ? ORDER BY rule_no", [snapshot_id])
    ratios = ws.rows("SELECT grp, ratio FROM group_ratios WHERE snapshot_id = ? ORDER BY grp", [snapshot_id])
    out = _snap_dict(snap)
    out["headers"] = json.loads(snap["headers"] or "[]")
    out["evidence"] = json.loads(snap["evidence"] or "[]")
    out["meta"] = json.loads(snap["meta"] or "{}")
    out["warnings"] = json.loads(snap["warnings"] or "[]")
    out.pop("seq", None)
    out["group_ratios"] = {r["grp"]: _num(r["ratio"]) for r in ratios}
    out["rules"] = [
        {
            "model": r["model"], "meter": r["meter"], "unit_price": _num(r["unit_price"]),
            "per_quantity": r["per_quantity"], "currency": r["currency"], "tier_min": r["tier_min"],
            "multiplier": _num(r["multiplier"]), "multiplier_source": r["multiplier_source"] or None,
            "group": r["grp"], "effective_from": iso(r["effective_from"]), "effective_to": iso(r["effective_to"]),
            "source_ref": r["source_ref"], "notes": r["notes"] or None,
        }
        for r in rules
    ]
    return out


def _num(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(_plain(value), "f")


def load_snapshots(ws: Workspace, *, include_crosscheck: bool = False) -> list[Snapshot]:
    snaps = ws.rows("SELECT snapshot_id, seq, effective_from, crosscheck_only FROM snapshots ORDER BY seq")
    rules = ws.rows("SELECT * FROM price_rules ORDER BY snapshot_id, rule_no")
    ratios = ws.rows("SELECT * FROM group_ratios")
    by_snap: dict[str, list[PriceRule]] = {}
    for r in rules:
        by_snap.setdefault(r["snapshot_id"], []).append(_rule(r))
    gr: dict[str, dict[str, Decimal]] = {}
    for r in ratios:
        gr.setdefault(r["snapshot_id"], {})[r["grp"]] = r["ratio"]
    return [
        Snapshot(s["snapshot_id"], s["seq"], s["effective_from"], tuple(by_snap.get(s["snapshot_id"], ())),
                 gr.get(s["snapshot_id"], {}))
        for s in snaps
        if include_crosscheck or not s["crosscheck_only"]
    ]


# ---------------------------------------------------------------- review (freeze)
def review(ws: Workspace, snapshot_id: str, *, reviewer: str, now: datetime) -> dict[str, Any]:
    """Record who reviewed a snapshot and freeze it. Rules are never rewritten; a frozen snapshot
    keeps its reviewer for good (a re-review by the same person is a no-op)."""
    reviewer = (reviewer or "").strip()
    if not reviewer:
        raise InputError("a review needs a reviewer name", field="--reviewer")
    snap = ws.one("SELECT snapshot_id, reviewer, reviewed_at, frozen FROM snapshots WHERE snapshot_id = ?",
                  [snapshot_id])
    if not snap:
        raise InputError(f"no snapshot {snapshot_id!r} (see `costproof pricing list`)")
    if snap["frozen"]:
        if snap["reviewer"] != reviewer:
            raise InputError(f"snapshot {snapshot_id} was reviewed by {snap['reviewer']} at "
                             f"{iso(snap['reviewed_at'])} and is frozen; capture the source again for a new "
                             "snapshot to review")
        out = show(ws, snapshot_id)
        out["already_reviewed"] = True
        return out
    with ws.transaction() as con:
        con.execute("UPDATE snapshots SET reviewer = ?, reviewed_at = ?, frozen = TRUE WHERE snapshot_id = ?",
                    [reviewer, now, snapshot_id])
    return show(ws, snapshot_id)


# ---------------------------------------------------------------- diff and crosscheck
def snapshot_rules(ws: Workspace, snapshot_id: str) -> list[PriceRule]:
    """The price rules of one snapshot (any snapshot, cross-check-only ones included)."""
    if not ws.one("SELECT snapshot_id FROM snapshots WHERE snapshot_id = ?", [snapshot_id]):
        raise InputError(f"no snapshot {snapshot_id!r} (see `costproof pricing list`)")
    rows = ws.rows("SELECT * FROM price_rules WHERE snapshot_id = ? ORDER BY rule_no", [snapshot_id])
    # the catalog pads to DECIMAL(38, 18); compare and print the figures as the source stated them
    return [replace(rule, unit_price=_plain(rule.unit_price), multiplier=_plain(rule.multiplier))
            for rule in map(_rule, rows)]


def _plain(value: Decimal) -> Decimal:
    """The same value without trailing zeros and never in exponent form. Done on the text, because
    normalize() and quantize() round to the context's 28 digits and DECIMAL(38, 18) holds 38."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return Decimal(text)


def _rule(r: dict[str, Any]) -> PriceRule:
    return PriceRule(
        model=r["model"], meter=r["meter"], unit_price=r["unit_price"], per_quantity=int(r["per_quantity"]),
        currency=r["currency"], tier_min=int(r["tier_min"] or 0), multiplier=r["multiplier"],
        multiplier_source=r["multiplier_source"] or "", group=r["grp"],
        effective_from=r["effective_from"], effective_to=r["effective_to"],
        source_ref=r["source_ref"] or "", notes=r["notes"] or "")


def snapshot_brief(ws: Workspace, snapshot_id: str) -> dict[str, Any]:
    snap = ws.one("""SELECT snapshot_id, format, source, classification, crosscheck_only, frozen, reviewer,
                            accessed_at, effective_from, sha256 FROM snapshots WHERE snapshot_id = ?""",
                  [snapshot_id])
    if not snap:
        raise InputError(f"no snapshot {snapshot_id!r} (see `costproof pricing list`)")
    return _snap_dict(snap)


def diff_snapshots(ws: Workspace, a: str, b: str, *, at: datetime) -> dict[str, Any]:
    """What changed from snapshot A (old) to B (new), for the rules in force at `at`."""
    rules_a, rules_b = snapshot_rules(ws, a), snapshot_rules(ws, b)
    return {"a": snapshot_brief(ws, a), "b": snapshot_brief(ws, b), **pricecompare.diff(rules_a, rules_b, at=at)}


def parse_tolerance(text: str | Decimal) -> Decimal:
    try:
        value = text if isinstance(text, Decimal) else Decimal(str(text).strip())
    except InvalidOperation:
        raise InputError(f"not a decimal number: {text!r} (e.g. 0.01 for 1 %)", field="--tolerance") from None
    if not value.is_finite() or not 0 <= value < 1:
        raise InputError("a relative tolerance is at least 0 and below 1 (0.01 = 1 %)", field="--tolerance")
    return value


def crosscheck_aliases(ws: Workspace, models_b: set[str], *, at: datetime) -> dict[str, str]:
    """Mapping rows in force at `at` whose source model id is priced by B: alias -> that model.
    The others are left out so that ordinary id matching still applies to them."""
    in_force: dict[str, tuple[str, str]] = {}
    for row in mapping_svc.current(ws):
        when = row["effective_from"] or ""
        if when and parse_when(when, "effective_from") > at:
            continue
        if row["alias"] not in in_force or when >= in_force[row["alias"]][0]:
            in_force[row["alias"]] = (when, row["source_model_id"])
    return {alias: model for alias, (_, model) in sorted(in_force.items()) if model in models_b}


def crosscheck_snapshots(ws: Workspace, a: str, b: str, *, tolerance: Decimal, at: datetime,
                         now: datetime) -> dict[str, Any]:
    """Do two snapshots agree? Records the check and its findings (bucket `source`, owner FinOps),
    each with the periods whose latest run priced a model it touches."""
    rules_a, rules_b = snapshot_rules(ws, a), snapshot_rules(ws, b)
    aliases = crosscheck_aliases(ws, {r.model for r in rules_b}, at=at)
    result = pricecompare.crosscheck(rules_a, rules_b, tolerance=tolerance, aliases=aliases, at=at)
    used = used_models_by_period(ws)
    for finding in result["disagreements"]:
        touched = {finding["model_a"], finding["model_b"]}
        finding["used_in_periods"] = sorted(p for p, models in used.items() if touched & models)
    seq = ws.next_seq("crosschecks")
    crosscheck_id = "xc-" + short_hash(seq, a, b, str(tolerance), iso(at), aliases, result["disagreements"])
    with ws.transaction() as con:
        con.execute("INSERT INTO crosschecks VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [crosscheck_id, seq, a, b, at, tolerance, dumps(aliases), len(result["disagreements"]),
                     dumps(result["disagreements"]), dumps(result["summary"]), now])
    return {"crosscheck_id": crosscheck_id, "a": snapshot_brief(ws, a), "b": snapshot_brief(ws, b),
            "aliases": aliases, "recorded_at": iso(now), **result}


def used_models_by_period(ws: Workspace) -> dict[str, set[str]]:
    """For each period, the models (after mapping, and as reported) with priced usage in its latest run."""
    latest = ws.rows("""SELECT period, run_id FROM runs
                        QUALIFY row_number() OVER (PARTITION BY period ORDER BY seq DESC) = 1 ORDER BY period""")
    return {r["period"]: _priced_models(ws, r["run_id"]) for r in latest}


def _priced_models(ws: Workspace, run_id: str) -> set[str]:
    path = ws.run_dir(run_id) / "rows.parquet"
    if not path.is_file():
        return set()
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT DISTINCT model, model_reported FROM read_parquet(?) WHERE exclusion IS NULL", [str(path)]
        ).fetchall()
    finally:
        con.close()
    return {m for pair in rows for m in pair if m}


def open_findings(ws: Workspace) -> list[dict[str, Any]]:
    """Disagreements still standing: those of the latest crosscheck of each snapshot pair (in either
    order). A later check of the same pair without a disagreement supersedes it."""
    checks = ws.rows("SELECT * FROM crosschecks ORDER BY seq")
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for c in checks:
        latest[tuple(sorted((c["snapshot_a"], c["snapshot_b"])))] = c  # type: ignore[index]
    out = []
    for c in sorted(latest.values(), key=lambda c: c["seq"]):
        for f in json.loads(c["findings"] or "[]"):
            out.append({**f, "crosscheck_id": c["crosscheck_id"], "snapshot_a": c["snapshot_a"],
                        "snapshot_b": c["snapshot_b"], "compared_at": iso(c["compared_at"]),
                        "tolerance": _num(c["tolerance"])})
    return out


def sources_agree(ws: Workspace, period: str) -> dict[str, Any]:
    """Checklist item "sources agree": fails while an unresolved crosscheck disagreement touches a
    model with priced usage in the period's latest run."""
    period_bounds(period)
    run = ws.one("SELECT run_id FROM runs WHERE period = ? ORDER BY seq DESC LIMIT 1", [period])
    models = _priced_models(ws, run["run_id"]) if run else set()
    findings = [f for f in open_findings(ws) if {f["model_a"], f["model_b"]} & models]
    checks = ws.one("SELECT count(*) AS n FROM crosschecks")
    if findings:
        detail = (f"{len(findings)} pricing source disagreement(s) on models used in {period} "
                  f"({', '.join(sorted({f['model_a'] for f in findings}))}); owner FinOps")
    elif not run:
        detail = f"no run for {period} yet, so no model in use to check"
    else:
        detail = f"no open crosscheck disagreement on the {len(models)} model id(s) priced in {period}"
        if not checks or not checks["n"]:
            detail += " (no crosscheck recorded)"
    return {"passed": not findings, "findings": findings, "run_id": run["run_id"] if run else None,
            "detail": detail}
