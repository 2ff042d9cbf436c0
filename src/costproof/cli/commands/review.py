"""`resolve`, `checklist`, `approve`, `reopen`, `runs`, `review log`, `contract`: the review workflow."""

from __future__ import annotations

from typing import Annotated

import typer

from costproof.cli import app
from costproof.cli.output import PROBLEMS, emit_json, err_console, guarded, now, table
from costproof.model.review import CONTRACT_ITEMS, DISPOSITIONS, LEGS
from costproof.review import contract as contract_mod
from costproof.review import reviewlog
from costproof.service import review as svc
from costproof.service import runs as runs_svc

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
PeriodOpt = Annotated[str, typer.Option("--period", "-p", help="The ledger period, YYYY-MM (UTC).")]


# --------------------------------------------------------------------------------------------- resolve
@app.command("resolve")
@guarded
def resolve(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A variance id (v-…) or an escalation id (esc-…).")],
    disposition: Annotated[str, typer.Option(help="accepted, corrected or escalated.")],
    owner: Annotated[str, typer.Option(help="Who owns the outcome (a name or a team).")],
    reason: Annotated[str, typer.Option(help="Why: the cause found, or why it is handed on.")],
    evidence: Annotated[list[str] | None, typer.Option(help="A URL, or a file (copied into the evidence store "
                        "by sha256). Repeatable. Required by checklist item 12.")] = None,
    amount: Annotated[str | None, typer.Option(help="corrected: the adjustment to the wrong leg, signed, in the "
                      "line's currency (e.g. -12.50).")] = None,
    leg: Annotated[str | None, typer.Option(help=f"corrected: which leg is wrong: {', '.join(LEGS)}.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Close a variance or an escalation: accepted, corrected (with an adjustment) or escalated.

    Dispositions are append-only: a later one supersedes, the history is kept. A disposition closes the
    figures it was given for; if a re-run moves the difference beyond tolerance, the variance is open again.
    """
    with ctx.obj.open() as ws:
        row = svc.resolve(ws, target, disposition=disposition, owner=owner, reason=reason, evidence=evidence or [],
                          amount=amount, leg=leg, now=now())
    if json_:
        emit_json(row)
        return
    typer.echo(f"{row['target']}: {row['disposition']} by {row['owner']} ({row['id']})")
    if "adjustment" in row:
        adj = row["adjustment"]
        typer.echo(f"  adjustment {adj['amount']} {adj['currency']} on the {adj['leg']} leg; raw difference "
                   f"{row['variance']['difference']} -> adjusted {row.get('adjusted_difference')} (raw figures kept)")
    if not row["evidence"]:
        err_console.print("warning: no --evidence; checklist item 12 fails until a disposition with evidence")
resolve.__doc__ = (resolve.__doc__ or "") + f"\n\nDispositions: {', '.join(DISPOSITIONS)}."


# ------------------------------------------------------------------------------------------- checklist
checklist_app = typer.Typer(help="The 13-item operator checklist of a period (exit 1 while failing); "
                            "`checklist attest` records a human attestation.", invoke_without_command=True)
app.add_typer(checklist_app, name="checklist")


@checklist_app.callback()
@guarded
def checklist(ctx: typer.Context,
              period: Annotated[str | None, typer.Option("--period", "-p", help="The ledger period, YYYY-MM.")] = None,
              json_: JsonOpt = False) -> None:
    """Compute the 13 checklist items and the escalations for a period's latest run. Exit 1 while failing."""
    if ctx.invoked_subcommand:
        return
    if not period:
        from costproof.model.errors import InputError

        raise InputError("pass --period YYYY-MM", field="--period")
    with ctx.obj.open() as ws:
        result = svc.checklist(ws, period, now=now())
    if json_:
        emit_json(result)
    else:
        print_checklist(result)
    if not result["passed"]:
        raise typer.Exit(PROBLEMS)


def print_checklist(r: dict) -> None:
    verdict = "PASSES" if r["passed"] else "FAILS"
    typer.echo(f"Checklist {r['period']} — {verdict} (state {r['state']}, run {r['run_id'] or '-'})")
    for i in r["items"]:
        typer.echo(f"{i['n']:>3}. [{'ok' if i['passed'] else 'FAIL':>4}] {i['title']}")
        typer.echo(f"             {i['detail']}")
        if i["evidence"]:
            typer.echo(f"             evidence: {i['evidence']}")
    if r["escalations"]:
        typer.echo("Escalations:")
        for e in r["escalations"]:
            typer.echo(f"  {e['id']}  [{e['status']}] → {e['owner']}: {e['detail']}")
    b = r["billing"]
    typer.echo("Failed, retried and partial calls (priced exposure, kept on its own line):")
    for ln in b["lines"]:
        exposure = ", ".join(f"{v} {c}" for c, v in ln["exposure"].items()) or "0"
        typer.echo(f"  {ln['class']:<8} {ln['rows']:>6} rows  timed out {ln['timed_out']:<4} exposure {exposure}"
                   f"  policy {ln['policy']} ({ln['treatment']})")
    typer.echo("expected (run): " + (", ".join(f"{v} {c}" for c, v in b["expected_raw"].items()) or "-")
               + " · after billing policy: "
               + (", ".join(f"{v} {c}" for c, v in b["expected_after_policy"].items()) or "-"))
    for a in r["adjustments"]:
        typer.echo(f"adjustment {a['variance_id']} {a['line_id']}: {a['amount']} {a['currency']} on the {a['leg']} "
                   f"leg (raw difference {a['raw_difference']}, adjusted {a['adjusted_difference']})")


@checklist_app.command("attest")
@guarded
def attest(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(help="Item number or id: 1 pricing_captured, 2 pricing_crosschecked, "
                    "4 usage_coverage.")],
    period: PeriodOpt,
    operator: Annotated[str, typer.Option(help="Who attests.")],
    evidence: Annotated[str, typer.Option(help="A URL (or a file, stored by sha256) backing the attestation.")],
    note: Annotated[str | None, typer.Option(help="What was checked, briefly.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Attest what the workspace cannot show (a file's source URL, a prose docs comparison, days without
    traffic). The attestation covers the item's failing subjects at this moment, with operator and time."""
    with ctx.obj.open() as ws:
        row = svc.attest_item(ws, period, item, operator=operator, evidence=evidence, note=note, now=now())
    if json_:
        emit_json(row)
        return
    typer.echo(f"attested {row['item']} for {row['period']} by {row['operator']}: covers {', '.join(row['covers'])}")


# ------------------------------------------------------------------------------------- approve, reopen
@app.command("approve")
@guarded
def approve(ctx: typer.Context, period: PeriodOpt,
            reviewer: Annotated[str, typer.Option(help="Who approves (recorded).")], json_: JsonOpt = False) -> None:
    """Approve and lock a period: refused (exit 1, naming the failing items) unless every checklist item passes.

    The record keeps reviewer, time, run id, manifest sha256 and the checklist state. A locked period refuses
    imports, captures, runs and dispositions touching it until `costproof reopen`.
    """
    with ctx.obj.open() as ws:
        try:
            rec = svc.approve(ws, period, reviewer=reviewer, now=now())
        except svc.NotApproved as exc:
            cl = exc.checklist
            if json_:
                emit_json({"approved": False, "period": period, "failing": [
                    {"n": i["n"], "id": i["id"], "title": i["title"], "detail": i["detail"]}
                    for i in cl["items"] if not i["passed"]],
                    "open_escalations": [e["id"] for e in cl["escalations"] if e["status"] == "open"],
                    "state": cl["state"]})
            else:
                err_console.print(f"[bold red]not approved:[/] {period} ({cl['state']}) — failing items:")
                for i in cl["items"]:
                    if not i["passed"]:
                        err_console.print(f"  {i['n']}. {i['title']}: {i['detail']}", soft_wrap=True)
            raise typer.Exit(PROBLEMS) from None
    if json_:
        emit_json({"approved": True, **rec})
        return
    typer.echo(f"approved {period} by {rec['reviewer']} at {rec['recorded_at']}: run {rec['run_id']}, manifest "
               f"{rec['manifest_sha256']}, checklist {rec['checklist_sha256'][:12]}…; the period is locked")


@app.command("reopen")
@guarded
def reopen(ctx: typer.Context, period: PeriodOpt, reason: Annotated[str, typer.Option(help="Why it is reopened.")],
           operator: Annotated[str, typer.Option(help="Who reopens (recorded).")], json_: JsonOpt = False) -> None:
    """Unlock an approved period; the reopening is recorded and the approval record kept."""
    with ctx.obj.open() as ws:
        rec = svc.reopen(ws, period, reason=reason, operator=operator, now=now())
    if json_:
        emit_json(rec)
        return
    typer.echo(f"reopened {period} by {rec['operator']} at {rec['recorded_at']}: {rec['reason']}")


# ------------------------------------------------------------------------------------------------- runs
runs_app = typer.Typer(help="Run history of a period (every run is kept) and `runs diff A B`.",
                       invoke_without_command=True)
app.add_typer(runs_app, name="runs")


@runs_app.callback()
@guarded
def runs(ctx: typer.Context,
         period: Annotated[str | None, typer.Option("--period", "-p", help="Only this period (YYYY-MM).")] = None,
         json_: JsonOpt = False) -> None:
    """List runs, oldest first, with snapshots, expected totals, variances and approval."""
    if ctx.invoked_subcommand:
        return
    with ctx.obj.open() as ws:
        result = runs_svc.list_runs(ws, period)
    if json_:
        emit_json(result)
        return
    table(f"Runs{' ' + period if period else ''}", ["period", "#", "run", "created", "snapshots", "expected",
          "variances", "manifest sha256", ""],
          [[r["period"], r["seq"], r["run_id"], r["created_at"], ", ".join(r["snapshot_ids"]),
            ", ".join(f"{v} {c}" for c, v in r["expected"].items()), r["variances"], r["manifest_sha256"][:16] + "…",
            ("approved " if r["approved"] else "") + ("latest" if r["latest"] else "")] for r in result["runs"]],
          right=("#", "variances"))
    if result["locked"]:
        typer.echo(f"locked (approved): {', '.join(result['locked'])}")


@runs_app.command("diff")
@guarded
def runs_diff(ctx: typer.Context, a: Annotated[str, typer.Argument(help="The earlier run id.")],
              b: Annotated[str, typer.Argument(help="The later run id.")], json_: JsonOpt = False) -> None:
    """What changed between two runs and why: snapshots, mapping/labels versions, code version, inputs, settings."""
    with ctx.obj.open() as ws:
        result = runs_svc.diff(ws, a, b)
    if json_:
        emit_json(result)
        return
    typer.echo(f"{a} -> {b} ({result['period']})" + (": same inputs" if result["same_inputs"] else ""))
    for c in result["changes"]:
        typer.echo(f"  {c['what']}: {c['a']} -> {c['b']} — {c['why']}")
    for fig in result["figures"]:
        typer.echo(f"  {fig['figure']}: {fig['a']} -> {fig['b']} ({fig['change']})")
    for v in result["variances"]:
        typer.echo(f"  variance {v['id']} {v['line_id']}: {v['a']} -> {v['b']} ({v['note']})")


# ------------------------------------------------------------------------------------------- review log
review_app = typer.Typer(help="The sanitized review log and disposition history.", no_args_is_help=True)
log_app = typer.Typer(help="List the review log, or `review log add` a record.", invoke_without_command=True)
app.add_typer(review_app, name="review")
review_app.add_typer(log_app, name="log")


@log_app.callback()
@guarded
def review_log(ctx: typer.Context,
               period: Annotated[str | None, typer.Option("--period", "-p", help="Only this ledger period.")] = None,
               json_: JsonOpt = False) -> None:
    """List review-log records, oldest first."""
    if ctx.invoked_subcommand:
        return
    with ctx.obj.open() as ws:
        rows = reviewlog.entries(ws, period=period)
    if json_:
        emit_json({"review_log": rows})
        return
    table("Review log", ["date", "operator", "period", "status", "result", "follow-up", "notes"],
          [[r["review_date"], r["operator"], r["ledger_period"], r["status_class"], r["result"], r["follow_up_owner"],
            r["notes"]] for r in rows])


@log_app.command("add")
@guarded
def review_log_add(
    ctx: typer.Context,
    review_date: Annotated[str, typer.Option(help="YYYY-MM-DD.")],
    operator: Annotated[str, typer.Option(help="Who reviewed.")],
    source_urls_checked: Annotated[str, typer.Option(help="URLs checked, space- or comma-separated.")] = "",
    ledger_period: Annotated[str, typer.Option(help="YYYY-MM.")] = "",
    request_owner: Annotated[str, typer.Option(help="Who owns the requests reviewed.")] = "",
    status_class: Annotated[str, typer.Option(help="2xx, 4xx, 5xx, 429, n/a (comma-separated for several).")] = "",
    evidence_attached: Annotated[str, typer.Option(help="Evidence references (ids, sha256, URLs).")] = "",
    follow_up_owner: Annotated[str, typer.Option(help="Who follows up, if anyone.")] = "",
    result: Annotated[str, typer.Option(help="pass, fail, or a short outcome.")] = "",
    notes: Annotated[str, typer.Option(help="Short notes (≤ 500 chars; never prompts, responses or keys).")] = "",
    json_: JsonOpt = False,
) -> None:
    """Append a review-log record. Anything that looks like a secret, a prompt or a response is refused
    (exit 2, naming the field; the value is not echoed)."""
    values = {"review_date": review_date, "operator": operator, "source_urls_checked": source_urls_checked,
              "ledger_period": ledger_period, "request_owner": request_owner, "status_class": status_class,
              "evidence_attached": evidence_attached, "follow_up_owner": follow_up_owner, "result": result,
              "notes": notes}
    with ctx.obj.open() as ws:
        row = reviewlog.add(ws, values, now=now())
    if json_:
        emit_json(row)
        return
    typer.echo(f"recorded {row['id']} ({row['review_date']}, {row['operator']})")


@review_app.command("history")
@guarded
def review_history(ctx: typer.Context, target: Annotated[str, typer.Argument(help="A variance or escalation id.")],
                   json_: JsonOpt = False) -> None:
    """Every disposition recorded for a variance or escalation, oldest first (the last one counts)."""
    with ctx.obj.open() as ws:
        rows = svc.history(ws, target)
    if json_:
        emit_json({"target": target, "dispositions": rows})
        return
    table(f"Dispositions of {target}", ["#", "recorded", "disposition", "owner", "reason", "evidence"],
          [[r["seq"], r["recorded_at"], r["disposition"], r["owner"], r["reason"], " ".join(r["evidence"])]
           for r in rows], right=("#",))


# --------------------------------------------------------------------------------------------- contract
contract_app = typer.Typer(help="The API contract-details table (checklist item 3).", no_args_is_help=True)
app.add_typer(contract_app, name="contract")


@contract_app.command("verify")
@guarded
def contract_verify(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(help=f"One of: {', '.join(CONTRACT_ITEMS)}.")],
    value: Annotated[str, typer.Option(help="The verified value (e.g. 'POST /v1/chat/completions').")],
    source: Annotated[str, typer.Option(help="The docs URL it was verified against.")],
    operator: Annotated[str, typer.Option(help="Who verified it.")],
    json_: JsonOpt = False,
) -> None:
    """Record a contract assumption as verified from the current API docs (latest per item counts)."""
    with ctx.obj.open() as ws:
        row = contract_mod.verify(ws, item, value=value, source=source, operator=operator, now=now())
    if json_:
        emit_json(row)
        return
    typer.echo(f"verified {row['item']}: {row['value']} ({row['source']}, {row['operator']}, {row['verified_at']})")


@contract_app.command("list")
@guarded
def contract_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show the contract-details table: value, source and verifier per item."""
    with ctx.obj.open() as ws:
        rows = contract_mod.listing(ws)
    if json_:
        emit_json({"contract": rows})
        return
    table("API contract details", ["item", "value", "source", "verified by", "at"],
          [[r["item"], r["value"] or "(not verified)", r["source"], r["operator"], r["verified_at"]] for r in rows])
