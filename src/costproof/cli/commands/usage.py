"""`costproof usage ...`: import usage exports, list imports, show the quarantine."""

from __future__ import annotations

from typing import Annotated

import typer

from costproof.cli import app
from costproof.cli.output import PROBLEMS, emit_json, guarded, now, progress_bar, table
from costproof.service import usage as svc

usage_app = typer.Typer(help="Import request-level usage; inspect imports and quarantined rows.",
                        no_args_is_help=True)
app.add_typer(usage_app, name="usage")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@usage_app.command("import")
@guarded
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A usage export: a file, a directory or a glob.")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="newapi-log, openai-jsonl, otel-genai, "
                   "litellm-spend, focus, usage-csv (auto-detected when omitted).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Import usage rows: normalized to Parquet by period; bad rows quarantined with file, record, field, reason.

    Importing the same file twice adds nothing. Exit 1 when rows were quarantined.
    """
    paths = svc.expand(file)
    results = []
    with ctx.obj.open() as ws:
        for path in paths:
            with progress_bar(None, f"importing {path.name}", not json_) as tick:
                results.append(svc.import_file(ws, path, fmt=fmt, now=now(), progress=tick))
    quarantined = sum(r["quarantined"] for r in results if not r.get("already_imported"))
    if json_:
        emit_json(results[0] if len(results) == 1 else {"imports": results})
    else:
        for r in results:
            if r.get("already_imported"):
                typer.echo(f"{r['file']}: already imported as {r['import_id']}; nothing added")
                continue
            typer.echo(f"{r['file']}: imported {r['import_id']} ({r['format']}): {r['records']} records, "
                       f"{r['rows_stored']} stored, {r['duplicates']} duplicates, {r['quarantined']} quarantined; "
                       f"periods {', '.join(r['periods']) or '-'}")
        if quarantined:
            typer.echo("see `costproof usage quarantine` for the quarantined rows")
    if quarantined:
        raise typer.Exit(PROBLEMS)


@usage_app.command("quarantine")
@guarded
def quarantine(ctx: typer.Context, import_id: Annotated[str | None, typer.Option("--import",
               help="Only this import.")] = None, json_: JsonOpt = False) -> None:
    """List quarantined rows with file, record number, field and reason."""
    with ctx.obj.open() as ws:
        rows = svc.quarantine(ws, import_id)
    if json_:
        emit_json({"quarantined": rows})
        return
    table(f"Quarantined rows ({len(rows)})", ["import", "file", "record", "field", "reason"],
          [[r["import_id"], r["file"], r["record"], r["field"], r["reason"]] for r in rows], right=("record",))


@usage_app.command("list")
@guarded
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List usage imports with their row accounting."""
    with ctx.obj.open() as ws:
        rows = svc.list_imports(ws)
    if json_:
        emit_json({"imports": rows})
        return
    table("Usage imports", ["import", "format", "file", "records", "stored", "dupes", "quarantined", "periods"],
          [[r["import_id"], r["format"], r["file"], r["records"], r["rows_stored"], r["duplicates"],
            r["quarantined"], ", ".join(r["periods"])] for r in rows],
          right=("records", "stored", "dupes", "quarantined"))
