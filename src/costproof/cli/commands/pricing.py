"""`costproof pricing ...`: capture price evidence, list and show snapshots."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from costproof.cli import State, app
from costproof.cli.output import emit_json, guarded, kv, now, table
from costproof.model.errors import InputError
from costproof.service import pricing as svc

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
    json_: JsonOpt = False,
) -> None:
    """Snapshot a pricing source: raw bytes to the evidence store (sha256), parsed Decimal rules to the catalog.

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
                           classification=classification, now=now(), api_key=api_key)
    if json_:
        emit_json(_brief(snap))
        return
    verb = "already captured as" if snap.get("already_captured") else "captured"
    typer.echo(f"{verb} {snap['snapshot_id']}: {len({r['model'] for r in snap['rules']})} models, "
               f"{len(snap['rules'])} price rules from {snap['source']} ({snap['format']}), "
               f"effective from {snap['effective_from']}")
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
    table("Price snapshots", ["id", "format", "source", "effective from", "models", "rules", "class", "frozen"],
          [[s["snapshot_id"], s["format"], s["source"], s["effective_from"], s["models"], s["rules"],
            s["classification"], "yes" if s["frozen"] else ""] for s in snaps], right=("models", "rules"))


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
        ("classification", snap["classification"]), ("reviewer", snap["reviewer"]),
        ("group ratios", ", ".join(f"{g}={r}" for g, r in snap["group_ratios"].items()) or None),
    ])
    table("Rules", ["model", "meter", "unit price", "per", "currency", "tier ≥", "multiplier", "read from"],
          [[r["model"], r["meter"], r["unit_price"], r["per_quantity"], r["currency"], r["tier_min"] or "",
            r["multiplier"] if r["multiplier"] != "1" else "", r["source_ref"]] for r in snap["rules"]],
          right=("unit price", "per", "tier ≥", "multiplier"))
