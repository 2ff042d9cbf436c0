"""`costproof pack` and `pack verify`: export a period's source pack, check one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costproof.cli import app
from costproof.cli.output import PROBLEMS, emit_json, err_console, guarded, now
from costproof.model.errors import InputError

pack_app = typer.Typer(
    help="Export a period's source pack (a directory, or a zip when --out ends in .zip), or verify one.\n\n"
         "`costproof pack --period 2026-06 --out pack-2026-06.zip` · `costproof pack verify pack-2026-06.zip`",
    invoke_without_command=True,
)
app.add_typer(pack_app, name="pack")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@pack_app.callback()
@guarded
def pack(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option("--period", "-p", help="The ledger period, YYYY-MM (UTC); its "
                                               "latest run is packed.")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Where to write: a directory, or a zip when "
                                            "the path ends in .zip. An earlier pack there is replaced.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Export the period's source pack: README.md, report.html, public/ and internal/ evidence, the six
    checklist artifacts, contract_details.csv, review_log.csv, what_not_to_assert.md, MANIFEST.sha256, pack.json.

    Same inputs give the same bytes apart from pack.json's generated_at. Exit 2 when the period has no run.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not period or not out:
        raise InputError("pass --period YYYY-MM and --out PATH (or use `costproof pack verify PATH`)",
                         field="--period" if not period else "--out")
    from costproof.pack.export import PackSafetyError, export

    with ctx.obj.open() as ws:
        try:
            result = export(ws, period, Path(out), now=now())
        except PackSafetyError as exc:
            raise InputError(str(exc)) from None
    if json_:
        emit_json(result)
        return
    typer.echo(f"wrote {result['format']} {result['path']}: {result['files']} files, run {result['run_id']}, "
               f"MANIFEST.sha256 {result['manifest_sha256'][:16]}…")
    typer.echo(f"check it with: costproof pack verify {result['path']}")


@pack_app.command("verify")
@guarded
def verify(
    path: Annotated[str, typer.Argument(help="A pack directory or zip.")],
    json_: JsonOpt = False,
) -> None:
    """Recompute every checksum, check the schema versions, resolve every evidence link, match the manifest's
    input hashes with the included evidence, and recompute the totals stated in report.html and README.md.

    Reports every problem; exit 1 if there is any. Needs no workspace.
    """
    from costproof.pack.verify import verify as run_verify

    result = run_verify(Path(path))
    if json_:
        emit_json(result)
    else:
        if result["ok"]:
            typer.echo(f"ok: {path}: {result['files_checked']} files checked, no problems")
        else:
            err_console.print(f"[bold red]{len(result['problems'])} problem(s)[/] in {path} "
                              f"({result['files_checked']} files checked):", soft_wrap=True)
            for p in result["problems"]:
                typer.echo(f"  {p['file']}: [{p['check']}] {p['message']}")
    if not result["ok"]:
        raise typer.Exit(PROBLEMS)
