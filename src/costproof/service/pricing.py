"""Capture a pricing source as evidence, parse it into dated rules, list and show snapshots."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from costproof import __version__
from costproof.engine.rates import Snapshot
from costproof.model.errors import InputError
from costproof.model.pricing import PriceRule, PricingParse
from costproof.model.sanitize import redact
from costproof.service.common import iso, parse_when, short_hash
from costproof.sources import pricing as adapters
from costproof.workspace import Workspace, dumps

KEPT_HEADERS = ("date", "etag", "last-modified", "content-type", "content-length")
MAX_PAGES = 200


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch_pages(url: str, *, fmt: str | None, api_key: str | None, timeout: float = 30.0,
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
            except httpx.HTTPError as exc:
                raise InputError(f"could not fetch: {_scrub(str(exc), api_key)}", file=_scrub(next_url, api_key)) from None
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
            next_url = _next_page(next_url, resp.content, fmt)
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
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    if is_url(source):
        pages = fetch_pages(source, fmt=fmt, api_key=api_key, transport=transport)
        source_kind, label_text = "url", pages[0]["url"]
        source_text = label_text
    elif source.split(":", 1)[0] in getattr(adapters, "BUILTIN_SOURCES", ()):
        pages, source_kind, label_text = [], "builtin", source
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
        if not bodies:
            raise InputError("pass --format for a built-in source", file=source)
        fmt = adapters.detect(bodies[0][:65536], label_text)
    adapter = adapters.get(fmt)
    parsed: PricingParse = adapter.parse(bodies, label_text) if bodies or source_kind == "builtin" else None
    if source_kind == "builtin" and hasattr(adapter, "source_bytes"):
        bodies = [adapter.source_bytes(source)]
    shas = [ws.evidence.put(b) for b in bodies]
    eff = parse_when(effective_from, "--effective-from") if effective_from else None
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
             source_kind, label, operator, now, eff or now, eff is not None,
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
                  s.effective_from, s.classification, s.crosscheck_only, s.reviewer, s.frozen,
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
    text = format(value.normalize(), "f")
    return text


def load_snapshots(ws: Workspace, *, include_crosscheck: bool = False) -> list[Snapshot]:
    snaps = ws.rows("SELECT snapshot_id, seq, effective_from, crosscheck_only FROM snapshots ORDER BY seq")
    rules = ws.rows("SELECT * FROM price_rules ORDER BY snapshot_id, rule_no")
    ratios = ws.rows("SELECT * FROM group_ratios")
    by_snap: dict[str, list[PriceRule]] = {}
    for r in rules:
        by_snap.setdefault(r["snapshot_id"], []).append(PriceRule(
            model=r["model"], meter=r["meter"], unit_price=r["unit_price"], per_quantity=int(r["per_quantity"]),
            currency=r["currency"], tier_min=int(r["tier_min"] or 0), multiplier=r["multiplier"],
            multiplier_source=r["multiplier_source"] or "", group=r["grp"],
            effective_from=r["effective_from"], effective_to=r["effective_to"],
            source_ref=r["source_ref"] or "", notes=r["notes"] or ""))
    gr: dict[str, dict[str, Decimal]] = {}
    for r in ratios:
        gr.setdefault(r["snapshot_id"], {})[r["grp"]] = r["ratio"]
    return [
        Snapshot(s["snapshot_id"], s["seq"], s["effective_from"], tuple(by_snap.get(s["snapshot_id"], ())),
                 gr.get(s["snapshot_id"], {}))
        for s in snaps
        if include_crosscheck or not s["crosscheck_only"]
    ]
