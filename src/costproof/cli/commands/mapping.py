"""`costproof mapping ...` and `costproof labels ...`: model aliases and label rules, versioned."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costproof.cli import app
from costproof.cli.output import emit_json, guarded, now, table
from costproof.model.errors import InputError
from costproof.service import mapping as svc

mapping_app = typer.Typer(help="Map internal model aliases to source model ids (approved, dated, versioned).",
                          no_args_is_help=True)
labels_app = typer.Typer(help="Label rules: key name or project globs to cost center, project, environment.",
                         no_args_is_help=True)
app.add_typer(mapping_app, name="mapping")
app.add_typer(labels_app, name="labels")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@mapping_app.command("add")
@guarded
def add(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="The model name as it appears in usage, e.g. gpt-4o-mini-prod.")],
    model: Annotated[str, typer.Argument(help="The source model id in the price snapshot, e.g. gpt-4o-mini.")],
    approved_by: Annotated[str, typer.Option(help="Who approved this mapping.")],
    effective_from: Annotated[str | None, typer.Option(help="From when (ISO 8601 date or time).")] = None,
    pricing_unit: Annotated[str | None, typer.Option(help="The pricing unit, e.g. '1M tokens'.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Add a mapping row (a new version; earlier rows are kept)."""
    with ctx.obj.open() as ws:
        row = svc.add(ws, alias, model, approved_by=approved_by, effective_from=effective_from,
                      pricing_unit=pricing_unit, now=now())
    if json_:
        emit_json(row)
        return
    typer.echo(f"mapped {alias} -> {model} from {row['effective_from']} (version {row['version']}, "
               f"approved by {approved_by})")


@mapping_app.command("import")
@guarded
def import_(ctx: typer.Context, file: Annotated[str, typer.Argument(help="CSV: internal_model_alias, "
            "source_model_id, pricing_unit, effective_from, approved_by.")], json_: JsonOpt = False) -> None:
    """Import mapping rows from the checklist's CSV."""
    path = Path(file)
    if not path.is_file():
        raise InputError("no such file", file=file)
    with ctx.obj.open() as ws:
        rows = svc.import_csv(ws, path, now=now())
    if json_:
        emit_json({"mapping": rows})
        return
    typer.echo(f"imported {len(rows)} mapping rows (version {rows[0]['version']})")


@mapping_app.command("list")
@guarded
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the mapping rows in force."""
    with ctx.obj.open() as ws:
        rows = svc.current(ws)
    if json_:
        emit_json({"mapping": rows})
        return
    table("Model mapping", ["alias", "source model", "unit", "effective from", "approved by", "version"],
          [[r["alias"], r["source_model_id"], r["pricing_unit"], r["effective_from"] or "always", r["approved_by"],
            r["version"]] for r in rows])


@labels_app.command("import")
@guarded
def labels_import(ctx: typer.Context, file: Annotated[str, typer.Argument(help="CSV whose first column "
                  "(token_name, api_key_name or project) holds names or globs; other columns among cost_center, "
                  "project, customer, workflow, environment.")], json_: JsonOpt = False) -> None:
    """Import label rules (a new version replaces the old at the next run; first matching row wins)."""
    path = Path(file)
    if not path.is_file():
        raise InputError("no such file", file=file)
    with ctx.obj.open() as ws:
        info = svc.import_labels(ws, path, now=now())
    if json_:
        emit_json(info)
        return
    typer.echo(f"imported {info['rules']} label rules on {info['match_key']} (version {info['version']})")


@labels_app.command("list")
@guarded
def labels_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the label rules in force, in match order."""
    with ctx.obj.open() as ws:
        rows = svc.list_labels(ws)
    if json_:
        emit_json({"labels": rows})
        return
    table("Label rules (first match wins)", ["match", "pattern", "cost center", "project", "customer",
          "workflow", "environment"], [[r["match_key"], r["pattern"], r["cost_center"], r["project"],
          r["customer"], r["workflow"], r["environment"]] for r in rows])
