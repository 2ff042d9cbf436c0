"""Render the pack's view as README.md (Markdown) and report.html (self-contained, charts inline as SVG)."""

from __future__ import annotations

import html
from typing import Any

from costproof.pack import schema as S

DESCRIPTIONS: dict[str, str] = {
    S.README: "this overview",
    S.REPORT: "the same, with charts; opens offline in any browser",
    S.PACK_JSON: "schema version, costproof version, generated_at, workspace id, run id",
    S.MANIFEST: "sha256 of every other file; `sha256sum -c MANIFEST.sha256` checks it",
    S.WHAT_NOT_TO_ASSERT: "claims this pack does not support",
    S.REVIEW_LOG: "review log: who checked what, when, with which result",
    S.CONTRACT_DETAILS: "contract areas to verify, with source, verifier and safe wording",
    S.SCHEMAS: "schema id and columns of every artifact and table",
    S.ARTIFACTS["pricing_snapshot"][0]: "prices used: source URL, access time, model, unit, verified price",
    S.ARTIFACTS["usage_export"][0]: "sanitized usage: counts and meters by day, model, cost center, status class",
    S.ARTIFACTS["model_mapping"][0]: "alias → source model id, with approver",
    S.ARTIFACTS["calculation_manifest"][0]: "code version, rounding rule, exclusions, run id, inputs' sha256",
    S.ARTIFACTS["variance_report"][0]: "mismatches grouped by bucket, with owner, status, explanation, evidence",
    S.ARTIFACTS["approval_record"][0]: "reviewer, date, exceptions",
    S.SOURCES: "public pricing evidence: URL, access time, sha256, file",
    S.INTERNAL_SOURCES: "pricing evidence the team holds privately (contract price sheets)",
    S.LEDGER_LINES: "the ledger lines compared, each with its statement file's sha256 and status",
    S.USAGE_IMPORTS: "usage files imported: name, sha256, records, quarantined",
    S.USAGE_BY_MODEL: "usage rolled up by model, status class and outcome",
    S.QUARANTINE: "unreadable usage records counted by field",
    S.PROBES: "validation probe outcomes (classes and hashes only)",
}
STATUS_TEXT = {"done": "✓ done", "partial": "◐ partial", "open": "! open", "missing": "✕ missing"}


def describe(path: str) -> str:
    if path in DESCRIPTIONS:
        return DESCRIPTIONS[path]
    if path.startswith(("public/evidence/", "internal/evidence/")):
        return "captured pricing source, named by its sha256"
    return ""


def _link(path: str, text: str | None = None) -> str:
    return f"[{text or path}]({path})"


# ------------------------------------------------------------------ Markdown
def readme(v: dict[str, Any], paths: list[str]) -> str:
    out = [f"# Source pack — {v['period']}", ""]
    out += [f"Period **{v['period']}** (UTC), latest run `{v['run_id']}` (engine {v['engine']}, rounding "
            f"`{v['rounding']}`), computed by costproof {v['code_version']}, packed by costproof {v['packed_by']}. "
            f"Which workspace and when it was packed: {_link(S.PACK_JSON)}.", ""]
    out += ["## Direct answer", "", "| Figure | Value |", "|---|---|"]
    for f in v["figures"]:
        out.append(f"| {f['label']} | {f['value']}{' ' + f['currency'] if f['currency'] else ''} |")
    out += ["", f"Sources: {_link(S.ARTIFACTS['calculation_manifest'][0])}, {_link(S.ARTIFACTS['usage_export'][0])}, "
            f"{_link(S.LEDGER_LINES)}, {_link(S.ARTIFACTS['variance_report'][0])}. `costproof pack verify` "
            "recomputes every figure above from them.", ""]
    if v["buckets"]:
        out += ["### Variances by bucket", "", "| Bucket | First owner | Open | Closed | Difference |",
                "|---|---|---:|---:|---:|"]
        for b in v["buckets"]:
            diff = ", ".join(f"{a} {c}" for c, a in sorted(b["difference"].items()))
            out.append(f"| {b['bucket']} | {b['owner']} | {b['open']} | {b['closed']} | {diff} |")
        out.append("")
    else:
        out += ["No variance beyond tolerance: every compared ledger line matched.", ""]
    out += ["## Minimum assertions", "", "| Assertion | Status | Detail | Evidence |", "|---|---|---|---|"]
    for a in v["assertions"]:
        links = ", ".join(_link(p, t) for t, p in a["links"])
        out.append(f"| {a['title']} | {STATUS_TEXT[a['status']]} | {_md_cell(a['detail'])} | {links} |")
    out += ["", "## Approval", ""]
    if v["approval"]:
        for a in v["approval"]:
            out.append(f"- {a['decision']} by {a['reviewer']} at {a['approved_at']}"
                       f"{'; exceptions: ' + a['exceptions'] if a['exceptions'] else ''} "
                       f"({_link(S.ARTIFACTS['approval_record'][0])})")
    else:
        out.append(f"**No approval recorded** for {v['period']}: {_link(S.ARTIFACTS['approval_record'][0])} "
                   "holds its header only.")
    out.append("")
    if v["missing_tables"]:
        out += [f"This workspace has no review-workflow tables ({', '.join(v['missing_tables'])}).", ""]
    if v["headers_only"]:
        out += [f"No records yet, written with headers only: {', '.join(_link(p) for p in v['headers_only'])}.", ""]
    out += ["## Handoff note", "", "### Commands run", "", "```"] + v["commands"] + ["```", "", "### Results", ""]
    out += [f"- {r}" for r in v["results"]] + ["", "### Remaining uncertainty", ""]
    out += [f"- {_md_cell(u)}" for u in v["uncertainty"]] or ["- none recorded"]
    out += ["", "## What this pack does not assert", "",
            f"Claims about model availability, invoices, discounts, limits, uptime or timings are out of scope "
            f"unless a linked source supports them: {_link(S.WHAT_NOT_TO_ASSERT)}.", "",
            "## Files", "", "| File | What it holds |", "|---|---|"]
    for p in paths:
        out.append(f"| {_link(p)} | {describe(p)} |")
    out += ["", f"Public evidence (what the provider documents) is under `public/`; the team's own evidence (usage "
            f"summaries, ledger lines, probes) under `internal/`. No request row, prompt, response body or key is "
            f"included. Check the pack with `costproof pack verify PACK`, or without costproof: "
            f"`sha256sum -c {S.MANIFEST}`.", ""]
    return "\n".join(out)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ------------------------------------------------------------------ HTML
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _a(path: str, text: str | None = None) -> str:
    return f'<a href="{_e(path)}">{_e(text or path)}</a>'


def _figure(f: dict[str, Any], *, split: bool = False) -> str:
    """A stated figure, machine-readable for `pack verify`; `split` sets the currency apart (cards)."""
    cur = f" {f['currency']}" if f["currency"] else ""
    tag = f'<data class="figure" data-figure="{_e(f["key"])}" value="{_e(f["value"])}">'
    if split and cur:
        return f"{tag}{_e(f['value'])}</data> <span class='cur'>{_e(f['currency'])}</span>"
    return f"{tag}{_e(f['value'])}{_e(cur)}</data>"


def _pill(status: str) -> str:
    return f'<span class="pill {_e(status.replace(" ", "-"))}">{_e(STATUS_TEXT.get(status, status))}</span>'


def _var_pill(status: str) -> str:
    text = {"open": "! open", "closed": "✓ closed", "matched": "= matched"}.get(status, status)
    cls = {"open": "open", "closed": "done", "matched": "matched"}.get(status, "partial")
    return f'<span class="pill {cls}">{_e(text)}</span>'


def report_html(v: dict[str, Any], paths: list[str], charts: dict[str, str | None]) -> str:
    figs = {f["key"]: f for f in v["figures"]}
    money = [f for f in v["figures"] if f["currency"]]
    counts = [f for f in v["figures"] if not f["currency"]]
    h: list[str] = []
    h.append(f"<header><p class='eyebrow'>costproof source pack</p><h1>Reconciliation {_e(v['period'])}</h1>"
             f"<p class='meta'>Run <code>{_e(v['run_id'])}</code> · engine {_e(v['engine'])} · rounding "
             f"<code>{_e(v['rounding'])}</code> · costproof {_e(v['code_version'])} · workspace and packing time in "
             f"{_a(S.PACK_JSON)}</p></header>")
    h.append("<section><h2>Direct answer</h2><div class='cards'>")
    for f in money:
        if f["key"].startswith(("expected.", "ledger.", "provider_reported.")):
            h.append(f"<div class='card'><div class='label'>{_e(f['label'])}</div>"
                     f"<div class='big'>{_figure(f, split=True)}</div></div>")
    open_n = int(figs["open"]["value"]) if "open" in figs else 0
    h.append(f"<div class='card {'alert' if open_n else 'calm'}'><div class='label'>Open variances</div>"
             f"<div class='big'>{_figure(figs['open'])}</div></div></div>")
    h.append("<table class='figures'><thead><tr><th>Figure</th><th class='num'>Value</th></tr></thead><tbody>")
    for f in [*money, *counts]:
        h.append(f"<tr><td>{_e(f['label'])}</td><td class='num'>{_figure(f)}</td></tr>")
    h.append("</tbody></table>")
    h.append(f"<p class='note'>Every figure is recomputed by <code>costproof pack verify</code> from "
             f"{_a(S.ARTIFACTS['calculation_manifest'][0], 'the calculation manifest')}, "
             f"{_a(S.ARTIFACTS['usage_export'][0], 'the usage export')}, {_a(S.LEDGER_LINES, 'the ledger lines')} "
             f"and {_a(S.ARTIFACTS['variance_report'][0], 'the variance report')}.</p></section>")
    h.append("<section><h2>Where the difference comes from</h2>")
    h.append(_chart(charts.get("waterfall"), "Expected cost, each bucket's difference, then the ledger total. "
                    "The axis does not start at zero, so that small differences stay visible.",
                    "No ledger lines to compare in this period."))
    if v["buckets"]:
        h.append("<table><thead><tr><th>Bucket</th><th>First owner</th><th class='num'>Open</th>"
                 "<th class='num'>Closed</th><th class='num'>Difference</th></tr></thead><tbody>")
        for b in v["buckets"]:
            diff = ", ".join(f"{a} {c}" for c, a in sorted(b["difference"].items()))
            h.append(f"<tr><td>{_e(b['bucket'])}</td><td>{_e(b['owner'])}</td><td class='num'>{b['open']}</td>"
                     f"<td class='num'>{b['closed']}</td><td class='num'>{_e(diff)}</td></tr>")
        h.append("</tbody></table>")
    h.append("<h3>Ledger lines</h3><table class='lines'><thead><tr><th>Line</th><th>Grain</th>"
             "<th class='num'>Ledger</th><th>Status</th></tr></thead><tbody>")
    for ln in v["ledger"]:
        grain = ", ".join(f"{k}={x}" for k, x in _grain(ln["grain"]).items()) or "whole period"
        h.append(f"<tr><td><code>{_e(ln['line_key'])}</code></td><td>{_e(grain)}</td>"
                 f"<td class='num'>{_e(ln['amount'])} {_e(ln['currency'])}</td><td>{_var_pill(ln['status'])}</td></tr>")
    h.append("</tbody></table>")
    for item in v["variances"]:
        h.append(f"<div class='variance {_e(item['status'])}'><div class='vhead'>{_var_pill(item['status'])} "
                 f"<code>{_e(item['id'])}</code> · line <code>{_e(item['line_id'])}</code> · bucket "
                 f"<b>{_e(item['bucket'])}</b> → {_e(item['owner'])}</div>"
                 f"<p>Expected {_e(item['expected'])}, ledger {_e(item['actual'])}, difference "
                 f"<b>{_e(item['difference'])} {_e(item['currency'])}</b>. {_e(item['explanation'])}.</p>"
                 f"<p class='note'>Evidence: {', '.join(_a(x.split('#')[0], x) for x in item['evidence'])}</p></div>")
    h.append("</section>")
    h.append("<section><h2>Expected cost by day and model</h2>")
    h.append(_chart(charts.get("daily"), "Priced usage only; excluded rows (errors, test traffic, refunds) are "
                    "counted in the usage export, not here.", "No priced usage in this period."))
    h.append("</section>")
    h.append("<section><h2>Minimum assertions</h2><table><thead><tr><th>Assertion</th><th>Status</th>"
             "<th>Detail</th><th>Evidence</th></tr></thead><tbody>")
    for a in v["assertions"]:
        h.append(f"<tr><td>{_e(a['title'])}</td><td>{_pill(a['status'])}</td><td>{_e(a['detail'])}</td>"
                 f"<td>{'<br>'.join(_a(p, t) for t, p in a['links'])}</td></tr>")
    h.append("</tbody></table>")
    if v["approval"]:
        for a in v["approval"]:
            h.append(f"<p><b>{_e(a['decision'])}</b> by {_e(a['reviewer'])} at {_e(a['approved_at'])}"
                     f"{'; exceptions: ' + _e(a['exceptions']) if a['exceptions'] else ''} "
                     f"({_a(S.ARTIFACTS['approval_record'][0], 'approval record')}).</p>")
    else:
        h.append(f"<p class='callout'><b>No approval recorded</b> for {_e(v['period'])}; "
                 f"{_a(S.ARTIFACTS['approval_record'][0], 'the approval record')} holds its header only.</p>")
    if v["missing_tables"]:
        h.append(f"<p class='note'>This workspace has no review-workflow tables "
                 f"({_e(', '.join(v['missing_tables']))}).</p>")
    if v["headers_only"]:
        h.append(f"<p class='note'>No records yet, written with headers only: "
                 f"{', '.join(_a(p) for p in v['headers_only'])}.</p>")
    h.append("</section>")
    h.append("<section><h2>Handoff note</h2><h3>Commands run</h3><pre>" + _e("\n".join(v["commands"])) + "</pre>")
    h.append("<h3>Results</h3><ul>" + "".join(f"<li>{_e(r)}</li>" for r in v["results"]) + "</ul>")
    h.append("<h3>Remaining uncertainty</h3><ul>" + ("".join(f"<li>{_e(u)}</li>" for u in v["uncertainty"])
                                                     or "<li>none recorded</li>") + "</ul>")
    h.append(f"<p class='note'>Out of scope unless a linked source supports it: model availability, invoices, "
             f"discounts, limits, uptime, timings — {_a(S.WHAT_NOT_TO_ASSERT)}.</p></section>")
    if v["pricing"]:
        h.append("<section><h2>Prices used</h2><table><thead><tr><th>Model</th><th>Meter</th>"
                 "<th class='num'>Price</th><th>Unit</th><th>Snapshot</th><th>Evidence</th></tr></thead><tbody>")
        for r in v["pricing"]:
            ev = " ".join(_a(p, "source") for p in r["evidence"].split()) or "withheld"
            h.append(f"<tr><td>{_e(r['model_id'])}</td><td>{_e(r['meter'])}</td>"
                     f"<td class='num'>{_e(r['verified_price'])}</td><td>{_e(r['unit'])}</td>"
                     f"<td><code>{_e(r['snapshot_id'])}</code></td><td>{ev}</td></tr>")
        h.append("</tbody></table></section>")
    h.append("<section><h2>Files in this pack</h2><table class='files'><tbody>")
    for p in paths:
        h.append(f"<tr><td>{_a(p)}</td><td>{_e(describe(p))}</td></tr>")
    h.append("</tbody></table></section>")
    body = "\n".join(h)
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Source pack {_e(v['period'])}</title><style>{CSS}</style></head>\n<body><main>\n{body}\n"
            f"</main></body></html>\n")


def _grain(text: str) -> dict[str, str]:
    import json

    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _chart(svg: str | None, caption: str, empty: str) -> str:
    if not svg:
        return f"<p class='note'>{_e(empty)}</p>"
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


CSS = """
:root{--ink:#111827;--muted:#4B5563;--line:#E5E7EB;--bg:#F8FAFC;--open:#B84A00;--done:#00785A;
--partial:#8A6100;--matched:#005B8F}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.55 Inter,"Segoe UI",system-ui,-apple-system,Helvetica,Arial,sans-serif}
main{max-width:980px;margin:0 auto;padding:32px 28px 64px}
header{border-bottom:1px solid var(--line);padding-bottom:18px;margin-bottom:8px}
.eyebrow{text-transform:uppercase;letter-spacing:.08em;font-size:12px;color:var(--muted);margin:0}
h1{font-size:30px;line-height:1.2;margin:4px 0 8px;font-weight:650}
h2{font-size:20px;margin:0 0 12px;font-weight:620}
h3{font-size:15px;margin:20px 0 8px;color:var(--muted);font-weight:600}
.meta{color:var(--muted);margin:0;font-size:13.5px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:22px 24px;margin:18px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:12px;margin-bottom:16px}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 14px;background:#FBFCFE}
.card .label{font-size:12.5px;color:var(--muted)}
.card .big .cur{font-size:13px;color:var(--muted);font-weight:500}
.card .big{white-space:nowrap;font-size:21px;font-weight:600;font-variant-numeric:tabular-nums;margin-top:2px}
.card.alert{border-color:#F2B27E;background:#FFF6EE}.card.alert .big{color:var(--open)}
.card.calm{border-color:#9ED9C4;background:#F0FAF6}.card.calm .big{color:var(--done)}
table{border-collapse:collapse;width:100%;margin:8px 0 4px;font-size:14px}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12.5px;color:var(--muted);font-weight:600;background:#F9FAFB}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#F3F4F6;padding:1px 4px;
border-radius:4px}
pre{font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#0F172A;color:#E2E8F0;
padding:14px 16px;border-radius:8px;overflow-x:auto;white-space:pre}
a{color:#005B8F;text-decoration:underline;text-underline-offset:2px}
.note{color:var(--muted);font-size:13px}
.callout{border-left:4px solid #E69F00;background:#FFF8E6;padding:10px 14px;border-radius:4px}
.pill{display:inline-block;font-size:12px;font-weight:600;padding:1px 9px;border-radius:999px;white-space:nowrap;
border:1px solid currentColor}
.pill.open,.pill.missing{color:var(--open);background:#FFF1E6}.pill.done{color:var(--done);background:#E9F7F1}
.pill.partial{color:var(--partial);background:#FFF8E1}.pill.matched{color:var(--matched);background:#E8F3FA}
.variance{border:1px solid var(--line);border-left:4px solid var(--open);border-radius:6px;padding:10px 14px;
margin:12px 0;background:#FFFCFA}
.variance.closed{border-left-color:var(--done);background:#FAFFFD}
.variance p{margin:6px 0 0}.vhead{font-size:14px}
figure{margin:8px 0 12px}figure svg{max-width:100%;height:auto}
figcaption{font-size:12.5px;color:var(--muted);margin-top:4px}
ul{padding-left:20px}li{margin:3px 0}
table.files td:first-child{width:45%;word-break:break-all}
"""
