"""The `costproof` command line: a thin layer that parses, calls one library function, formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costproof import __version__
from costproof.workspace import Workspace, resolve_path

app = typer.Typer(
    name="costproof",
    help=(
        "Reconcile AI API spend with evidence: capture pricing sources, import usage and ledgers, "
        "recompute expected cost exactly, explain every variance, and export a checksummed source pack.\n\n"
        "Start with `costproof demo`, or `costproof init` for your own workspace."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)


class State:
    def __init__(self, workspace: str | None) -> None:
        self.workspace_path: Path = resolve_path(workspace)

    def open(self) -> Workspace:
        return Workspace.open(self.workspace_path)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"costproof {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", "-w", help="Workspace folder (or COSTPROOF_WORKSPACE; default "
                     "./costproof-workspace).", show_default=False),
    ] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = State(workspace)


from costproof.cli import commands  # noqa: E402,F401  (registers the commands on `app`)


def main() -> None:
    app()
