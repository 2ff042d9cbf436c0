"""`costproof init`, `run`, `variances` and `demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costproof.cli import State, app
from costproof.cli.output import PROBLEMS, emit_json, guarded, kv, now, table
from costproof.service import run as run_svc
from costproof.service import variances as var_svc
from costproof.workspace import Workspace

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
PeriodOpt = Annotated[str, typer.Option("--period", "-p", help="The ledger period, YYYY-MM (UTC).")]


@app.command("init")
@guarded
def init(ctx: typer.Context, path: Annotated[str | None, typer.Argument(
        help="Where to create the workspace (default: --workspace, COSTPROOF_WORKSPACE or ./costproof-workspace).")]
        = None, json_: JsonOpt = False) -> None:
    """Create a workspace: catalog.duckdb, evidence/, usage/ (Parquet by period), costproof.toml."""
    state: State = ctx.obj
    root = Path(path) if path else state.workspace_path
    ws, created = Workspace.create(root)
    with ws:
        info = {"workspace": str(root), "created": created, "schema_version": ws.schema_version,
                "workspace_id": ws.workspace_id}
    if json_:
        emit_json(info)
        return
    typer.echo(f"{'created' if created else 'already a workspace:'} {root} (schema {info['schema_version']})")


@app.command("run")
@guarded
def run(
    ctx: typer.Context,
    period: PeriodOpt,
    snapshot: Annotated[str | None, typer.Option(help="Price with this snapshot only (default: the snapshot "
                        "in force at each row's time).")] = None,
    rounding: Annotated[str | None, typer.Option(help="none, or GRAIN-MODE-PLACES: row-half-up-0.01, "
                        "line-half-even-0.01, day-half-up-0.01 (default from costproof.toml).")] = None,
    engine: Annotated[str, typer.Option(help="duckdb (embedded) or spark.")] = "duckdb",
    json_: JsonOpt = False,
) -> None:
    """Recompute expected cost for a period from evidence, prove row conservation, compare with statements.

    Exit 1 when variances are open or models are unpriced.
    """
    with ctx.obj.open() as ws:
        result = run_svc.run_period(ws, period, snapshot=snapshot, rounding=rounding, engine=engine, now=now())
    if json_:
        emit_json(result)
    else:
        _print_run(result)
    if result["variances_open"] or result["exclusions"].get("unpriced_model"):
        raise typer.Exit(PROBLEMS)


def _print_run(r: dict) -> None:
    kv(f"Run {r['run_id']} — {r['period']} ({r['engine']}, rounding {r['rounding']})", [
        ("expected", ", ".join(f"{v} {c}" for c, v in r["expected"].items()) or "0"),
        ("provider-reported", ", ".join(f"{v} {c}" for c, v in r["provider_reported"].items()) or "-"),
        ("rows in", r["rows_in"]),
        ("  priced", r["rows_priced"]),
        ("  excluded", r["rows_excluded"]),
        ("  quarantined", r["rows_quarantined"]),
        ("statement lines matched", r["lines_matched"]),
        ("variances open", r["variances_open"]),
        ("snapshots", ", ".join(r["snapshot_ids"])),
        ("manifest sha256", r["manifest_sha256"]),
    ])
    if r["exclusions"]:
        table("Excluded rows by reason", ["reason", "rows"], [[k, v] for k, v in r["exclusions"].items()],
              right=("rows",))
    for u in r["unpriced_models"]:
        typer.echo(f"  unpriced model: {u['model']} ({u['rows']} rows) — add a price or `costproof mapping add`")


@app.command("variances")
@guarded
def variances(ctx: typer.Context, period: PeriodOpt,
              all_: Annotated[bool, typer.Option("--all", help="Include matched lines.")] = False,
              json_: JsonOpt = False) -> None:
    """List statement lines beyond tolerance in the period's latest run, with bucket and owner.

    Exit 1 while any is open (no disposition closes it)."""
    with ctx.obj.open() as ws:
        result = var_svc.list_variances(ws, period, include_matched=all_)
    if json_:
        emit_json(result)
    else:
        rows = result["variances"]
        typer.echo(f"Variances {period} (run {result['run_id']}): {len(rows)} shown")
        for v in rows:
            _print_variance(v)
    if any(v["status"] == "open" for v in result["variances"]):
        raise typer.Exit(PROBLEMS)


def _print_variance(v: dict) -> None:
    grain = ", ".join(f"{k}={x}" for k, x in v["grain"].items()) or "(whole period)"
    typer.echo(f"  {v['id']}  {v['statement']} {v['line_id']}  [{v['status']}]  {grain}")
    typer.echo(f"      expected {v['expected']} {v['currency']} · statement {v['actual']} · "
               f"difference {v['difference']}")
    if v["bucket"]:
        typer.echo(f"      bucket {v['bucket']} → {v['owner']}: {v['explanation']}")


@app.command("demo")
@guarded
def demo(path: Annotated[str, typer.Option(help="Where to build the demo workspace (replaced if it is one).")]
         = "costproof-demo", json_: JsonOpt = False) -> None:
    """Build a demo workspace from bundled sample data (CometAPI prices, a month of new-api logs, a ledger),
    run June 2026 and print what a reviewer sees. Offline, a few seconds."""
    from costproof.service import demo as demo_svc

    try:
        result = demo_svc.build(Path(path), now=now())
    except FileExistsError as exc:
        from costproof.model.errors import InputError

        raise InputError(str(exc)) from None
    if json_:
        emit_json(result)
        return
    imp = result["usage_import"]
    typer.echo(f"Demo workspace: {result['workspace']}")
    typer.echo(f"  price snapshot {result['snapshot']} (CometAPI /api/models, effective 2026-05-01)")
    typer.echo(f"  usage import {imp['import_id']}: {imp['records']} log records, {imp['quarantined']} quarantined")
    typer.echo(f"  ledger {result['statement']['file']}: {result['statement']['lines']} lines\n")
    _print_run(result["run"])
    open_ = [v for v in result["variances"] if v["status"] == "open"]
    if open_:
        typer.echo("\nOpen variances:")
        for v in open_:
            _print_variance(v)
    typer.echo(f"\nNext: costproof -w {result['workspace']} variances --period 2026-06 | "
               f"usage quarantine | pricing show {result['snapshot']}")


@app.command("explain")
@guarded
def explain(ctx: typer.Context, variance: Annotated[str, typer.Argument(help="A variance id (v-...).")],
            json_: JsonOpt = False) -> None:
    """Show why a variance is in its bucket: every hypothesis re-run with its figure and residual."""
    with ctx.obj.open() as ws:
        result = var_svc.explain(ws, variance)
    if json_:
        emit_json(result)
        return
    _print_variance(result)
    if result.get("candidates"):
        typer.echo("  candidates (each closes the gap):")
        for c in result["candidates"]:
            typer.echo(f"    {c['bucket']}: {c['title']} → {c['figure']}")
    table(f"Re-runs for {result['id']} (gap {result['gap']} {result['currency']})",
          ["hypothesis", "bucket", "figure", "residual", "closes"],
          [[r["title"], r["bucket"], r["figure"], r["residual"], "yes" if r["closes"] else ""]
           for r in result["reruns"]], right=("figure", "residual"))
