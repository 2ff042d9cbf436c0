"""`costproof probe`: validation requests against an OpenAI-compatible gateway, recorded for the review log."""

from __future__ import annotations

from typing import Annotated

import typer

from costproof.cli import State, app
from costproof.cli.output import emit_json, err_console, guarded, now, table
from costproof.probe import DEFAULT_KEY_ENV, DEFAULT_MODEL, DEFAULT_OWNER, ROUTES, ProbeError, read_api_key, run_probe


@app.command("probe")
@guarded
def probe(
    ctx: typer.Context,
    base_url: Annotated[str, typer.Option("--base-url", help="The gateway's API root, e.g. https://api.cometapi.com "
                                          "(/v1 is appended unless present).")],
    key_env: Annotated[str, typer.Option("--key-env", help="Name of the environment variable holding the key. "
                                         "There is no --key: keys never go on the command line.")] = DEFAULT_KEY_ENV,
    model: Annotated[str, typer.Option("--model", help="A cheap model for the happy path.")] = DEFAULT_MODEL,
    owner: Annotated[str, typer.Option("--owner", help="The request owner recorded with each probe.")]
    = DEFAULT_OWNER,
    route: Annotated[str, typer.Option("--route", help=f"One of {', '.join(ROUTES)}.")] = "chat.completions",
    operator: Annotated[str | None, typer.Option("--operator", help="Who ran the probe (review log; default: "
                                                 "the owner).")] = None,
    period: Annotated[str | None, typer.Option("--period", "-p", help="Ledger period the records belong to "
                                               "(default: the probe's month).")] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Also send the streamed request.")] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per request.")] = 20.0,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Send the source-pack validation requests: models list, one tiny happy-path request, a streamed one, one
    with a deliberately invalid key and one with an unknown model. Records status classes, usage presence,
    token counts, a hash of the response id and a latency class — never the prompt, a response body or the key.

    With a workspace, the report is kept under probes/<period>/ for `costproof pack`, and each probe becomes a
    review-log entry. Exit 0 all passed, 1 the gateway broke an assumption or was unreachable, 2 bad arguments.
    """
    state: State = ctx.obj
    if period is not None:
        from costproof.service.common import period_bounds

        period_bounds(period)
    key = read_api_key(key_env)
    try:
        report = run_probe(base_url, api_key=key, model=model, owner=owner, now=now, route=route, stream=stream,
                           timeout=timeout)
    except ProbeError as exc:
        err_console.print(f"[bold red]probe failed:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    stored: dict[str, object] = {"workspace": None}
    if (state.workspace_path / "catalog.duckdb").exists():
        from costproof.pack.probes import store

        with state.open() as ws:
            stored = {"workspace": str(state.workspace_path),
                      **store(ws, report, operator=operator, period=period, follow_up_owner=None, now=now())}
    if json_:
        emit_json({**report.as_dict(), "stored": stored})
    else:
        table(f"Probe {report.base_url} ({report.route}, model {report.model})",
              ["check", "route", "status", "expected", "usage", "latency", "result"],
              [[p.check, p.route_family, p.status_code if p.status_code is not None else p.error_class or "none",
                p.expected_class, "yes" if p.usage_seen else "no", p.latency_class, "pass" if p.passed else "FAIL"]
               for p in report.probes])
        for problem in report.problems:
            typer.echo(f"  problem: {problem}")
        if stored["workspace"]:
            n = len(stored.get("review_log_entries") or [])  # type: ignore[arg-type]
            typer.echo(f"kept {stored['record']} in {stored['workspace']}"
                       + (f"; {n} review-log entries added" if n else ""))
        else:
            err_console.print(f"no workspace at {state.workspace_path}: nothing stored (run `costproof init`)")
    raise typer.Exit(report.exit_code)
