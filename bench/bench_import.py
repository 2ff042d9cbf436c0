"""End-to-end import benchmark: generate N rows per format, `import_file` each into a fresh workspace, then run
and explain the newapi-log period. Reports rows/s and peak RSS per format, run and explain seconds."""

# ruff: noqa: UP031 - %-templates keep the generators fast and readable
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

FORMATS = (
    "newapi-json",
    "newapi-pages",
    "newapi-csv",
    "openai-jsonl",
    "litellm-csv",
    "litellm-json",
    "focus-csv",
    "focus-parquet",
    "usage-csv",
    "otel-genai",
)
ADAPTER = {"newapi-json": "newapi-log", "newapi-pages": "newapi-log", "newapi-csv": "newapi-log",
           "litellm-csv": "litellm-spend", "litellm-json": "litellm-spend", "focus-csv": "focus",
           "focus-parquet": "focus"}
SUFFIX = {"newapi-json": ".json", "newapi-pages": ".jsonl", "openai-jsonl": ".jsonl", "litellm-json": ".json",
          "focus-parquet": ".parquet", "otel-genai": ".json"}
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "o4-mini")
# USD per 1M tokens (input, output): the snapshot in force from June, and May's (a stale ledger uses it)
PRICES = {"gpt-4o": ("2.50", "10.00"), "gpt-4o-mini": ("0.15", "0.60"), "claude-sonnet-4": ("3.00", "15.00"),
          "o4-mini": ("1.10", "4.40")}
OLD_PRICES = {"gpt-4o": ("5.00", "15.00"), "gpt-4o-mini": ("0.30", "1.20"), "claude-sonnet-4": ("3.00", "15.00"),
              "o4-mini": ("1.10", "4.40")}
KEYS = ("key-0", "key-1", "key-2", "key-3", "key-4", "qa-key")  # qa-key is test traffic of cc-2
T0 = 1780272000  # 2026-06-01T00:00:00Z
SPAN = 29 * 86400 + 43200  # rows spread over June
BAD_EVERY = 50_000  # one planted bad record per this many (quarantine path stays exercised)


def _t(i: int, n: int) -> int:
    return T0 + (i * SPAN) // max(n, 1)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ generators (streamed, constant memory)
def generate(fmt: str, n: int, path: Path) -> None:
    if fmt == "focus-parquet":
        _focus_parquet(n, path)
        return
    with open(path, "w", encoding="utf-8", newline="") as out:
        globals()["_gen_" + fmt.replace("-", "_")](n, out.write)


def _newapi_item(i: int, n: int) -> str:
    key = KEYS[i % 6]
    model = MODELS[(i // 6) % 4]
    kind = 5 if i % 997 == 0 else 2
    prompt = -5 if i % BAD_EVERY == 7 else 800 + i % 1500
    completion = 0 if kind == 5 else 100 + i % 400
    cache = (i % 7) * 10
    return (
        '{"id":%d,"user_id":1,"created_at":%d,"type":%d,"content":"","username":"acme","token_name":"%s",'
        '"model_name":"%s","quota":%d,"prompt_tokens":%d,"completion_tokens":%d,"use_time":%d,"is_stream":%s,'
        '"channel":3,"token_id":%d,"group":"default","other":"{\\"cache_ratio\\": 0.5, \\"cache_tokens\\": %d, '
        '\\"completion_ratio\\": 4, \\"group_ratio\\": 1, \\"model_ratio\\": 1.25}"}'
        % (i + 1, _t(i, n), kind, key, model, 300 + i % 4000, prompt, completion, 1 + i % 9,
           "true" if i % 3 == 0 else "false", i % 6, cache)
    )


def _gen_newapi_json(n: int, write) -> None:  # noqa: ANN001
    write("[")
    for i in range(n):
        write(("," if i else "") + _newapi_item(i, n) + "\n")
    write("]\n")


def _gen_newapi_pages(n: int, write) -> None:  # noqa: ANN001
    page = 1000
    for start in range(0, n, page):
        items = ",".join(_newapi_item(i, n) for i in range(start, min(n, start + page)))
        write('{"success":true,"message":"","data":{"page":%d,"page_size":%d,"total":%d,"items":[%s]}}\n'
              % (start // page + 1, page, n, items))


def _gen_newapi_csv(n: int, write) -> None:  # noqa: ANN001
    write("id,created_at,type,token_name,model_name,quota,prompt_tokens,completion_tokens,use_time,is_stream,"
          "group,other\n")
    for i in range(n):
        kind = 5 if i % 997 == 0 else 2
        prompt = "x" if i % BAD_EVERY == 7 else str(800 + i % 1500)
        write('%d,%d,%d,%s,%s,%d,%s,%d,%d,%s,default,"{""cache_tokens"": %d, ""group_ratio"": 1, '
              '""model_ratio"": 1.25}"\n'
              % (i + 1, _t(i, n), kind, KEYS[i % 6], MODELS[(i // 6) % 4], 300 + i % 4000, prompt,
                 0 if kind == 5 else 100 + i % 400, 1 + i % 9, "true" if i % 3 == 0 else "false", (i % 7) * 10))


def _gen_openai_jsonl(n: int, write) -> None:  # noqa: ANN001
    for i in range(n):
        if i % BAD_EVERY == 7:
            write('{"request_id":"req-%d","timestamp":"not a time","response":{"object":"chat.completion",'
                  '"model":"gpt-4o","usage":{"prompt_tokens":1,"completion_tokens":1}}}\n' % i)
            continue
        write(
            '{"request_id":"req-%d","timestamp":"%s","metadata":{"cost_center":"cc-%d","project":"p%d",'
            '"env":"prod"},"response":{"id":"chatcmpl-%d","object":"chat.completion","created":%d,"model":"%s",'
            '"choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},'
            '"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,'
            '"prompt_tokens_details":{"cached_tokens":%d},"completion_tokens_details":{"reasoning_tokens":%d}}}}\n'
            % (i, _iso(_t(i, n)), i % 5, i % 3, i, _t(i, n), MODELS[i % 4], 1000 + i % 500, 200 + i % 90,
               i % 512, i % 50)
        )


_LITELLM_HEADER = ("request_id,call_type,api_key,spend,total_tokens,prompt_tokens,completion_tokens,startTime,"
                   "endTime,model,model_group,custom_llm_provider,user,metadata,cache_hit,request_tags,team_id,"
                   "end_user\n")


def _gen_litellm_csv(n: int, write) -> None:  # noqa: ANN001
    write(_LITELLM_HEADER)
    for i in range(n):
        meta = '"{""user_api_key_alias"": ""key-%d"", ""status"": ""success""}"' % (i % 5)
        start = _iso(_t(i, n)).replace("T", " ").rstrip("Z") + ".%06d" % (i % 1000 * 1000)
        write("chatcmpl-%d,acompletion,%064x,%s,%d,%d,200,%s,%s,%s,%s,openai,u1,%s,False,"
              '"[""cost_center:cc-%d""]",team-a,None\n'
              % (i, i, "-1" if i % BAD_EVERY == 7 else "0.00%d" % (i % 997), 1200 + i % 500, 1000 + i % 500,
                 start, start, MODELS[i % 4], MODELS[i % 4], meta, i % 5))


def _gen_litellm_json(n: int, write) -> None:  # noqa: ANN001
    write("[")
    for i in range(n):
        write(("," if i else "") + json.dumps({
            "request_id": "chatcmpl-%d" % i, "call_type": "acompletion", "api_key": "%064x" % i,
            "spend": -1 if i % BAD_EVERY == 7 else (i % 997) / 100000, "total_tokens": 1200 + i % 500,
            "prompt_tokens": 1000 + i % 500, "completion_tokens": 200, "startTime": _iso(_t(i, n)),
            "endTime": _iso(_t(i, n) + 1), "model": MODELS[i % 4], "model_group": MODELS[i % 4],
            "custom_llm_provider": "openai", "user": "u1",
            "metadata": {"user_api_key_alias": "key-%d" % (i % 5), "status": "success"},
            "cache_hit": "False", "request_tags": ["cost_center:cc-%d" % (i % 5)], "team_id": "team-a",
            "end_user": None}, separators=(",", ":")) + "\n")
    write("]\n")


def _gen_focus_csv(n: int, write) -> None:  # noqa: ANN001
    write("BilledCost,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ConsumedQuantity,"
          "ConsumedUnit,SkuId,ChargeDescription,ServiceProviderName,SubAccountName,Tags\n")
    for i in range(n):
        side = "input" if i % 2 else "output"
        hour = _iso(T0 + (i * 696 // max(n, 1)) * 3600)
        write('%s,USD,Usage,%s,%s,%d,1000 Tokens,%s-%s,%s %s tokens,CometAPI,acct-%d,"{""cost_center"": ""cc-%d""}"\n'
              % ("n/a" if i % BAD_EVERY == 7 else "%d.%04d" % (i % 50, i % 9999), hour, hour, 1 + i % 900,
                 MODELS[i % 4], side, MODELS[i % 4], side, i % 13, i % 7))


def _gen_usage_csv(n: int, write) -> None:  # noqa: ANN001
    write("occurred_at,provider,model_reported,request_id,status_code,api_key_name,cost_center,input_tokens,"
          "cached_input_tokens,output_tokens,requests,provider_reported_cost,provider_reported_currency\n")
    for i in range(n):
        at = datetime.fromtimestamp(_t(i, n) + 8 * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%S+08:00")
        write("%s,cometapi,%s,req-%d,200,key-%d,cc-%d,%s,%d,%d,1,0.000%d,USD\n"
              % (at, MODELS[i % 4], i, i % 9, i % 7, "-3" if i % BAD_EVERY == 7 else str(1000 + i % 500), i % 300,
                 200, i % 9999))


def _gen_otel_genai(n: int, write) -> None:  # noqa: ANN001
    per_doc = 1000
    for start in range(0, n, per_doc):
        spans = []
        for i in range(start, min(n, start + per_doc)):
            spans.append(
                '{"traceId":"%032x","spanId":"%016x","name":"chat","kind":3,"startTimeUnixNano":"%d",'
                '"endTimeUnixNano":"%d","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},'
                '{"key":"gen_ai.request.model","value":{"stringValue":"%s"}},'
                '{"key":"gen_ai.usage.input_tokens","value":{"intValue":"%s"}},'
                '{"key":"gen_ai.usage.output_tokens","value":{"intValue":"%d"}}],"status":{}}'
                % (i, i, _t(i, n) * 10**9, (_t(i, n) + 1) * 10**9, MODELS[i % 4],
                   "-1" if i % BAD_EVERY == 7 else str(1000 + i % 500), 200)
            )
        write('{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},'
              '"scopeSpans":[{"scope":{"name":"x"},"spans":[' + ",".join(spans) + "]}]}]}\n")


def _focus_parquet(n: int, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    writer = None
    step = 1_000_000
    for start in range(0, n, step):
        idx = pa.array(range(start, min(n, start + step)), pa.int64())
        m = len(idx)
        side = pc.if_else(pc.equal(pc.bit_wise_and(idx, 1), 1), "input", "output")
        model = pc.take(pa.array(MODELS), pc.bit_wise_and(idx, 3))
        hours = pc.multiply(pc.divide(pc.multiply(idx, 696), max(n, 1)), 3_600_000_000)
        table = pa.table({
            "BilledCost": pc.cast(pc.cast(pc.bit_wise_and(idx, 8191), pa.decimal128(19, 0)), pa.decimal128(25, 6)),
            "BillingCurrency": pa.array(["USD"] * m),
            "ChargeCategory": pa.array(["Usage"] * m),
            "ChargePeriodStart": pc.cast(pc.add(hours, T0 * 1_000_000), pa.timestamp("us", tz="UTC")),
            # 1 + i mod 1021: with the cost (i mod 8192) and the hour, no two rows are the same up to 10M rows
            "ConsumedQuantity": pc.cast(pc.add(pc.remainder(idx, 1021), 1), pa.float64()),
            "ConsumedUnit": pa.array(["1000 Tokens"] * m),
            "SkuId": pc.binary_join_element_wise(model, side, "-"),
            "ServiceProviderName": pa.array(["CometAPI"] * m),
            "Tags": pc.binary_join_element_wise(pa.array(['{"cost_center": "cc-'] * m),
                                                pc.cast(pc.bit_wise_and(idx, 7), pa.string()),
                                                pa.array(['"}'] * m), ""),
        })
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=500_000)
    if writer is not None:
        writer.close()


# ------------------------------------------------------------------ child processes (one measurement each)
def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child_import(fmt: str, path: Path, root: Path) -> dict[str, object]:
    from costproof.service.usage import import_file
    from costproof.workspace import Workspace

    ws, _ = Workspace.create(root)
    with ws:
        start = time.perf_counter()
        result = import_file(ws, path, fmt=ADAPTER.get(fmt, fmt), now=datetime(2026, 7, 2, tzinfo=UTC))
        seconds = time.perf_counter() - start
    return {"format": fmt, "records": result["records"], "rows_stored": result["rows_stored"],
            "quarantined": result["quarantined"], "duplicates": result["duplicates"],
            "seconds": round(seconds, 2), "rows_per_s": int(result["records"] / seconds),
            "peak_rss_mb": _peak_mb(), "file_mb": round(path.stat().st_size / 2**20, 1)}


def _write_inputs(folder: Path) -> dict[str, Path]:
    def models(prices: dict[str, tuple[str, str]]) -> str:
        return json.dumps({"success": True, "data": [
            {"id": m, "object": "model", "pricing": {"currency": "USD / M Tokens", "input": i, "output": o,
                                                      "per_request": 0, "per_second": 0}}
            for m, (i, o) in prices.items()]})

    files = {"old": folder / "prices-may.json", "new": folder / "prices-june.json", "labels": folder / "labels.csv"}
    files["old"].write_text(models(OLD_PRICES), "utf-8")
    files["new"].write_text(models(PRICES), "utf-8")
    files["labels"].write_text("token_name,cost_center,environment\nkey-0,cc-0,production\nkey-1,cc-1,production\n"
                               "key-2,cc-2,production\nkey-3,cc-3,production\nkey-4,cc-4,production\n"
                               "qa-*,cc-2,test\n", "utf-8")
    return files


def _ledger(rows_file: Path, out: Path) -> dict[str, str]:
    """20 lines at cost_center x model: most exact, four with a planted cause (stale, +7%, test, rounding)."""
    import duckdb

    old_in = " ".join(f"WHEN '{m}' THEN {i}" for m, (i, _) in OLD_PRICES.items())
    old_out = " ".join(f"WHEN '{m}' THEN {o}" for m, (_, o) in OLD_PRICES.items())
    con = duckdb.connect()
    cells = con.execute(f"""
        SELECT cost_center, model,
               sum(cost) FILTER (WHERE exclusion IS NULL) AS exact,
               sum(round(cost, 2)) FILTER (WHERE exclusion IS NULL) AS row_rounded,
               sum(cost) FILTER (WHERE exclusion = 'test_environment') AS test,
               sum(((input_tokens + cached_input_tokens) * CASE model {old_in} END
                    + output_tokens * CASE model {old_out} END) / 1e6::DECIMAL(38,18))
                   FILTER (WHERE exclusion IS NULL) AS stale
        FROM read_parquet('{rows_file}') WHERE cost_center IS NOT NULL
        GROUP BY ALL ORDER BY ALL""").fetchall()
    planted = {("cc-0", "gpt-4o"): "stale", ("cc-1", "gpt-4o-mini"): "plus7", ("cc-2", "claude-sonnet-4"): "test",
               ("cc-3", "o4-mini"): "rounding"}
    lines = ["line_id,period,cost_center,model,amount,currency"]
    for n, (cc, model, exact, rounded, test, stale) in enumerate(cells, start=1):
        cause = planted.get((cc, model))
        amount = {"stale": stale, "plus7": float(exact) * 1.07, "test": exact + (test or 0),
                  "rounding": rounded}.get(cause, exact)
        lines.append(f"GL-{n:03d},2026-06,{cc},{model},{float(amount):.2f},USD")
    out.write_text("\n".join(lines) + "\n", "utf-8")
    return {f"{cc}/{m}": c for (cc, m), c in planted.items()}


def child_run(root: Path, folder: Path) -> dict[str, object]:
    from costproof.service import explain as explain_svc
    from costproof.service import mapping, pricing, run, statements, variances
    from costproof.workspace import Workspace

    now = datetime(2026, 7, 2, tzinfo=UTC)
    files = _write_inputs(folder)
    timer = {"explain": 0.0}
    real = explain_svc.explain_all

    def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            timer["explain"] += time.perf_counter() - start

    explain_svc.explain_all = timed
    ws = Workspace.open(root)
    with ws:
        pricing.capture(ws, str(files["old"]), fmt="cometapi-models", label="may", operator="bench",
                        effective_from="2026-05-01T00:00:00Z", classification="public-doc", now=now)
        pricing.capture(ws, str(files["new"]), fmt="cometapi-models", label="june", operator="bench",
                        effective_from="2026-06-01T00:00:00Z", classification="public-doc", now=now)
        mapping.import_labels(ws, files["labels"], now=now)
        start = time.perf_counter()
        first = run.run_period(ws, "2026-06", now=now)
        plain = time.perf_counter() - start
        planted = _ledger(ws.run_dir(first["run_id"]) / "rows.parquet", folder / "ledger.csv")
        statements.import_statement(ws, folder / "ledger.csv", fmt="ledger-csv", now=now)
        timer["explain"] = 0.0
        start = time.perf_counter()
        second = run.run_period(ws, "2026-06", now=now)
        full = time.perf_counter() - start
        found = variances.list_variances(ws, "2026-06")["variances"]
    open_ = [v for v in found if v["status"] == "open"]
    return {"rows_in": second["rows_in"], "rows_priced": second["rows_priced"], "lines": len(found),
            "variances_open": len(open_), "buckets": {f"{v['grain'].get('cost_center')}/{v['grain'].get('model')}":
                                                      v["bucket"] for v in open_},
            "planted": planted, "run_s": round(plain, 2), "run_with_statements_s": round(full, 2),
            "explain_s": round(timer["explain"], 2),
            "explain_x_run": round(timer["explain"] / plain, 2) if plain else None, "peak_rss_mb": _peak_mb()}


def _child(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                         env={**os.environ})
    if out.returncode:
        raise SystemExit(f"child {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--dir", default=None, help="work here (default: a temp dir, deleted afterwards)")
    parser.add_argument("--no-run", action="store_true", help="skip run/explain on the newapi-log workspace")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = child_import(rest[0], Path(rest[1]), Path(rest[2])) if kind == "import" else child_run(
            Path(rest[0]), Path(rest[1]))
        print(json.dumps(result))
        return
    formats = [f for f in args.formats.split(",") if f]
    folder = Path(args.dir or tempfile.mkdtemp(prefix="costproof-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"rows": args.rows, "cpus": os.cpu_count(), "imports": [], "run": None}
    print(f"{'format':<15}{'records':>11}{'quarant.':>9}{'gen s':>7}{'import s':>9}{'rows/s':>10}"
          f"{'peak RSS MB':>12}{'file MB':>9}", flush=True)
    try:
        run_ws = None
        for fmt in formats:
            path = folder / f"{fmt}-{args.rows}{SUFFIX.get(fmt, '.csv')}"
            start = time.perf_counter()
            if not path.exists():
                generate(fmt, args.rows, path)
            gen = time.perf_counter() - start
            root = folder / f"ws-{fmt}"
            shutil.rmtree(root, ignore_errors=True)
            r = _child("import", fmt, str(path), str(root))
            r["generate_s"] = round(gen, 1)
            results["imports"].append(r)  # type: ignore[union-attr]
            print(f"{fmt:<15}{r['records']:>11}{r['quarantined']:>9}{gen:>7.1f}{r['seconds']:>9}{r['rows_per_s']:>10}"
                  f"{r['peak_rss_mb']:>12}{r['file_mb']:>9}", flush=True)
            if not args.dir:
                path.unlink()
            if fmt.startswith("newapi") and run_ws is None and not args.no_run:
                run_ws = root
            else:
                shutil.rmtree(root, ignore_errors=True)
        if run_ws is not None:
            r = _child("run", str(run_ws), str(folder))
            results["run"] = r
            print(f"\nrun (newapi-log, {r['rows_in']} rows): {r['run_s']} s; with {r['lines']} ledger lines "
                  f"{r['run_with_statements_s']} s, of which explain {r['explain_s']} s = {r['explain_x_run']}x one "
                  f"run; peak RSS {r['peak_rss_mb']} MB; open variances {r['buckets']}", flush=True)
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", "utf-8")


if __name__ == "__main__":
    main()
