"""`costproof pricing ...`: capture price evidence, list, show, review, diff and cross-check snapshots."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from costproof.cli import State, app
from costproof.cli.output import PROBLEMS, console, emit_json, guarded, kv, now, table
from costproof.model.errors import InputError
from costproof.service import pricing as svc
from costproof.service.common import parse_when

pricing_app = typer.Typer(help="Capture pricing sources as evidence and inspect the snapshots.",
                          no_args_is_help=True)
app.add_typer(pricing_app, name="pricing")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@pricing_app.command("capture")
@guarded
def capture(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="A URL (fetched with httpx; pages followed) or a local file.")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="cometapi-models, newapi-pricing, "
                   "html-table, price-csv, genai-prices (auto-detected when omitted).")] = None,
    label: Annotated[str | None, typer.Option(help="A label for this snapshot, e.g. 'june-close'.")] = None,
    operator: Annotated[str | None, typer.Option(help="Who captured it.")] = None,
    effective_from: Annotated[str | None, typer.Option(help="When these prices took effect (ISO 8601, e.g. "
                              "2026-06-01T00:00:00Z). Default: the access time.")] = None,
    classification: Annotated[str | None, typer.Option(help="public-doc or internal-evidence (default: "
                              "public-doc for URLs, internal-evidence for files).")] = None,
    key_env: Annotated[str | None, typer.Option(help="Name of an environment variable holding an API key "
                       "to send as a Bearer token. The key is never stored or printed.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait to connect and for each read from a URL.",
                                           min=0.1)] = svc.DEFAULT_TIMEOUT,
    json_: JsonOpt = False,
) -> None:
    """Snapshot a pricing source: raw bytes to the evidence store (sha256), parsed Decimal rules to the catalog.

    SOURCE is a URL, a file, or a built-in catalog: `genai-prices` or `genai-prices:openai,anthropic`
    (a third-party cross-check; a run uses it only when `run --snapshot` names it).

    Example: `costproof pricing capture https://api.cometapi.com/api/models --operator alice`
    """
    api_key = None
    if key_env:
        api_key = os.environ.get(key_env)
        if not api_key:
            raise InputError(f"environment variable {key_env} is not set", field="--key-env")
    state: State = ctx.obj
    with state.open() as ws:
        snap = svc.capture(ws, source, fmt=fmt, label=label, operator=operator, effective_from=effective_from,
                           classification=classification, now=now(), api_key=api_key, timeout=timeout)
    if json_:
        emit_json(_brief(snap))
        return
    verb = "already captured as" if snap.get("already_captured") else "captured"
    typer.echo(f"{verb} {snap['snapshot_id']}: {len({r['model'] for r in snap['rules']})} models, "
               f"{len(snap['rules'])} price rules from {snap['source']} ({snap['format']}), "
               f"effective from {snap['effective_from']}, {snap['classification']}"
               + (", cross-check only" if snap["crosscheck_only"] else "")
               + (f", frozen (reviewed by {snap['reviewer']})" if snap["frozen"] else ""))
    for w in snap["warnings"]:
        typer.echo(f"  warning: {w}")


def _brief(snap: dict) -> dict:
    out = {k: v for k, v in snap.items() if k != "rules"}
    out["rules"] = len(snap["rules"])
    out["models"] = len({r["model"] for r in snap["rules"]})
    return out


@pricing_app.command("list")
@guarded
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List price snapshots, oldest first."""
    with ctx.obj.open() as ws:
        snaps = svc.list_snapshots(ws)
    if json_:
        emit_json({"snapshots": snaps})
        return
    table("Price snapshots", ["id", "format", "source", "effective from", "models", "rules", "class", "use",
                              "reviewer"],
          [[s["snapshot_id"], s["format"], s["source"], s["effective_from"], s["models"], s["rules"],
            s["classification"], "cross-check only" if s["crosscheck_only"] else "pricing",
            f"{s['reviewer']} (frozen)" if s["frozen"] else ""] for s in snaps], right=("models", "rules"))


@pricing_app.command("show")
@guarded
def show(ctx: typer.Context, snapshot_id: Annotated[str, typer.Argument(help="A snapshot id.")],
         json_: JsonOpt = False) -> None:
    """Show a snapshot's provenance and every price rule with where it was read."""
    with ctx.obj.open() as ws:
        snap = svc.show(ws, snapshot_id)
    if json_:
        emit_json(snap)
        return
    kv(f"Snapshot {snap['snapshot_id']}", [
        ("format", f"{snap['format']} ({snap['parser_version']})"), ("source", snap["source"]),
        ("accessed at", snap["accessed_at"]), ("effective from", snap["effective_from"]),
        ("http status", snap["http_status"]), ("sha256", snap["sha256"]),
        ("evidence", ", ".join(snap["evidence"])), ("operator", snap["operator"]), ("label", snap["label"]),
        ("classification", snap["classification"]),
        ("use", "cross-check only (a run uses it only with --snapshot)" if snap["crosscheck_only"] else "pricing"),
        ("reviewer", f"{snap['reviewer']} at {snap['reviewed_at']} (frozen)" if snap["frozen"] else "not reviewed"),
        ("group ratios", ", ".join(f"{g}={r}" for g, r in snap["group_ratios"].items()) or None),
    ])
    table("Rules", ["model", "meter", "unit price", "per", "currency", "tier ≥", "multiplier", "read from"],
          [[r["model"], r["meter"], r["unit_price"], r["per_quantity"], r["currency"], r["tier_min"] or "",
            r["multiplier"] if r["multiplier"] != "1" else "", r["source_ref"]] for r in snap["rules"]],
          right=("unit price", "per", "tier ≥", "multiplier"))


@pricing_app.command("review")
@guarded
def review(ctx: typer.Context, snapshot_id: Annotated[str, typer.Argument(help="A snapshot id.")],
           reviewer: Annotated[str, typer.Option(help="Who reviewed the snapshot against its source.")],
           json_: JsonOpt = False) -> None:
    """Record the reviewer of a snapshot and freeze it: its rules never change; a re-capture is a new snapshot.

    Example: `costproof pricing review snap-731c93498c14 --reviewer bob`
    """
    with ctx.obj.open() as ws:
        snap = svc.review(ws, snapshot_id, reviewer=reviewer, now=now())
    if json_:
        emit_json(_brief(snap))
        return
    verb = "already reviewed" if snap.get("already_reviewed") else "reviewed"
    typer.echo(f"{verb}: {snap['snapshot_id']} by {snap['reviewer']} at {snap['reviewed_at']}; frozen "
               f"({len(snap['rules'])} price rules, sha256 {snap['sha256']})")


def _when(text: str | None) -> datetime:
    return parse_when(text, "--at") if text else now()


AtOpt = Annotated[str | None, typer.Option("--at", help="Compare the rules in force at this time (ISO 8601). "
                                           "Default: now.")]


@pricing_app.command("diff")
@guarded
def diff(ctx: typer.Context, a: Annotated[str, typer.Argument(metavar="A", help="The older snapshot id.")],
         b: Annotated[str, typer.Argument(metavar="B", help="The newer snapshot id.")], at: AtOpt = None,
         all_: Annotated[bool, typer.Option("--all", help="Also list unchanged prices.")] = False,
         json_: JsonOpt = False) -> None:
    """What changed from snapshot A to B: per model and meter old and new price (per 1M tokens or per unit),
    change in percent, models added and removed; unit, currency and multiplier changes flagged.

    Example: `costproof pricing diff snap-old snap-new`
    """
    with ctx.obj.open() as ws:
        result = svc.diff_snapshots(ws, a, b, at=_when(at))
    if json_:
        emit_json(result)
        return
    _header("Diff", result)
    rows = [r for r in result["rules"] if all_ or r["status"] != "unchanged" or r["flags"]]
    t = Table(title="Price changes (per 1M tokens, or per unit)", title_justify="left", header_style="bold")
    for col in ("model", "meter", "tier ≥", "group", "old", "new", "unit", "change %", "status", "flags"):
        t.add_column(col, justify="right" if col in ("tier ≥", "old", "new", "change %") else "left",
                     overflow="fold")
    for r in rows:
        style = STATUS_STYLE.get(r["status"], "")
        old_unit, new_unit = _unit(r["old_unit"], r["meter"]), _unit(r["new_unit"], r["meter"])
        unit = new_unit or old_unit
        if old_unit and new_unit and old_unit != new_unit:
            unit = f"{old_unit} → {new_unit}"
        t.add_row(*_cells(Text(r["model"], style=style), r["meter"], str(r["tier_min"] or ""), r["group"] or "",
                  r["old_price"] or "", r["new_price"] or "", unit,
                  Text(_pct(r["change_pct"]), style=style), Text(r["status"], style=style),
                  Text(" ".join(f.replace("_", " ") for f in r["flags"]), style=LOUD)))
    console.print(t)
    s = result["summary"]
    if not rows:
        console.print("no price changed" + ("" if all_ else " (--all lists the unchanged prices)"))
    _names("models added", result["models_added"], "green")
    _names("models removed", result["models_removed"], "red")
    for f in result["flags"]:
        console.print(Text.assemble((f["flag"].replace("_", " "), LOUD), f"  {f['model']} {f['meter']}: ",
                                    f["message"], f"  (was {f['old']}; now {f['new']})"))
    console.print(f"{s['changed']} changed, {s['added']} added, {s['removed']} removed, {s['unchanged']} "
                  f"unchanged; {s['flagged']} flag(s)")
    for w in result["warnings"]:
        console.print(f"warning: {w}", style="yellow", markup=False)


@pricing_app.command("crosscheck")
@guarded
def crosscheck(ctx: typer.Context,
               a: Annotated[str, typer.Argument(metavar="A", help="A snapshot id (e.g. the primary).")],
               b: Annotated[str, typer.Argument(metavar="B", help="The snapshot to check it against "
                                                "(e.g. genai-prices).")],
               tolerance: Annotated[str, typer.Option(help="Largest relative difference |a-b|/max(a,b) "
                                                      "that still agrees.")] = "0.01",
               at: AtOpt = None, json_: JsonOpt = False) -> None:
    """Do two pricing sources agree? Matches models (mapping aliases, exact, case, provider prefix and date
    suffix stripped), lists price disagreements beyond the tolerance as `source` findings for FinOps, and
    models on one side only. The check is recorded for the checklist's "sources agree" item.
    Exit 1 when the sources disagree.

    Example: `costproof pricing crosscheck snap-cometapi snap-genai --tolerance 0.02`
    """
    with ctx.obj.open() as ws:
        result = svc.crosscheck_snapshots(ws, a, b, tolerance=svc.parse_tolerance(tolerance), at=_when(at),
                                          now=now())
    findings = result["disagreements"]
    if json_:
        emit_json(result)
    else:
        _print_crosscheck(result)
    if findings:
        raise typer.Exit(PROBLEMS)


def _print_crosscheck(result: dict) -> None:
    _header("Crosscheck", result)
    s = result["summary"]
    findings = result["disagreements"]
    if findings:
        t = Table(title="Disagreements (bucket source, owner FinOps)", title_justify="left", header_style="bold")
        for col in ("model", "meter", "tier ≥", "A", "B", "unit", "rel. diff", "kind", "used in"):
            t.add_column(col, justify="right" if col in ("tier ≥", "A", "B", "rel. diff") else "left",
                         overflow="fold")
        for f in findings:
            unit_a, unit_b = _unit(f["unit_a"], f["meter"]), _unit(f["unit_b"], f["meter"])
            unit = unit_a if unit_a == unit_b else f"{unit_a} vs {unit_b}"
            model = Text(f["model_a"], style="bold")
            if f["model_b"] != f["model_a"]:
                model.append(f" = {f['model_b']} ({f['mapping']})", style="")
            t.add_row(*_cells(model, f["meter"], str(f["tier_min"] or ""), f["price_a"], f["price_b"], unit,
                              f["relative_difference"] or "", Text(f["kind"].replace("_", " ").upper(), style=LOUD),
                              ", ".join(f["used_in_periods"])))
        console.print(t)
    t = Table(title="Matched models", title_justify="left", header_style="bold")
    for col in ("model A", "model B", "matched by", "meters compared", "agree", "priced on one side only"):
        t.add_column(col, overflow="fold")
    for m in result["matched"]:
        one_side = "; ".join([*(f"A: {x}" for x in m["only_in_a"]), *(f"B: {x}" for x in m["only_in_b"])])
        t.add_row(*_cells(m["model_a"], m["model_b"], m["mapping"], str(m["compared"]),
                          Text("yes", style="green") if m["agree"] else Text("NO", style=LOUD), one_side))
    console.print(t)
    _names("only in A", result["only_in_a"], "yellow", limit=ONE_SIDE_LIMIT)
    _names("only in B", result["only_in_b"], "", limit=ONE_SIDE_LIMIT)
    for w in result["warnings"]:
        console.print(f"warning: {w}", style="yellow", markup=False)
    verdict = (Text(f"SOURCES DISAGREE: {s['disagreements']} finding(s) on {s['matched'] - s['agree']} of "
                    f"{s['matched']} matched models", style=LOUD) if result["disagreements"]
               else Text(f"sources agree on all {s['matched']} matched models", style="bold green"))
    console.print(Text.assemble(verdict, f" (tolerance {result['tolerance']}; recorded as {result['crosscheck_id']})"))


STATUS_STYLE = {"added": "green", "removed": "red", "changed": "yellow", "unchanged": "dim"}
LOUD = "bold red"
ONE_SIDE_LIMIT = 40  # a catalog such as genai-prices lists hundreds of models the other side never sells


def _header(what: str, result: dict) -> None:
    for side in ("a", "b"):
        snap = result[side]
        extra = ", cross-check only" if snap["crosscheck_only"] else ""
        console.print(f"{side.upper()}: {snap['snapshot_id']}  {snap['format']}  {snap['source']}  "
                      f"(effective {snap['effective_from']}, {snap['classification']}{extra})",
                      soft_wrap=True, markup=False)
    console.print(f"{what} of the rules in force at {result['at']}", markup=False)


def _names(title: str, names: list[str], style: str, *, limit: int | None = None) -> None:
    if names:
        shown = ", ".join(names[:limit])
        if limit is not None and len(names) > limit:
            shown += f", … and {len(names) - limit} more (--json lists them all)"
        console.print(Text.assemble((f"{title} ({len(names)}): ", f"bold {style}".strip()), shown))


def _cells(*values: object) -> list[Text]:
    """Table cells as Text, so a model id such as `x[vip]` is never read as rich markup."""
    return [v if isinstance(v, Text) else Text("" if v is None else str(v)) for v in values]


def _unit(label: str | None, meter: str) -> str | None:
    """'USD per 1M input_tokens' in a row that already names the meter: 'USD per 1M'."""
    return None if label is None else label.removesuffix(f" {meter}")


def _pct(value: str | None) -> str:
    if value is None:
        return ""
    return value if value.startswith("-") or value == "0.00" else f"+{value}"
