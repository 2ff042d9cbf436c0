"""`costproof ledger import`: statements to compare expected cost against."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costproof.cli import app
from costproof.cli.output import emit_json, guarded, now
from costproof.model.errors import InputError
from costproof.service import statements as svc

ledger_app = typer.Typer(help="Import statements: the internal ledger, FOCUS billing, CometAPI quota.",
                         no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("import")
@guarded
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="The statement file.")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="ledger-csv, focus, cometapi-quota "
                   "(auto-detected when omitted).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Import statement lines; each keeps its file, sha256 and line number. A bad line rejects the file (exit 2).

    ledger-csv columns: period (YYYY-MM), amount, currency, optional quantity, unit, line_id, and grain keys
    among model, cost_center, project, customer, api_key_name, environment, day.
    """
    path = Path(file)
    if not path.is_file():
        raise InputError("no such file", file=file)
    with ctx.obj.open() as ws:
        result = svc.import_statement(ws, path, fmt=fmt, now=now())
    if json_:
        emit_json(result)
        return
    if result.get("already_imported"):
        typer.echo(f"{result['file']}: already imported as {result['import_id']}; nothing added")
        return
    typer.echo(f"{result['file']}: imported {result['import_id']} ({result['format']}): {result['lines']} lines "
               f"for {', '.join(result['periods'])}")
    for skipped in result.get("not_compared", []):
        lines = ", ".join(str(n) for n in skipped.get("lines", []))
        typer.echo(f"  not compared: {skipped['rows']} {skipped['charge_category']} row(s), {skipped['amount']} "
                   f"{skipped['currency']} (line {lines}; periods {', '.join(skipped.get('periods', []))})")
