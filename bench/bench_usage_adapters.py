"""Benchmark the usage adapters: generate N rows per format, parse, report rows/s and peak RSS."""

# ruff: noqa: UP031 - %-templates keep the generators fast and readable
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORMATS = (
    "openai-jsonl",
    "otel-genai",
    "litellm-spend",
    "newapi-log",
    "focus-csv",
    "focus-parquet",
    "usage-csv",
)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-20250514", "o4-mini")
T0 = 1780272000


def generate(fmt: str, n: int, path: Path) -> None:
    """Write n synthetic records of one format (shapes as the real tools emit them)."""
    if fmt == "focus-parquet":
        _focus_parquet(n, path)
        return
    with open(path, "w", encoding="utf-8", newline="") as out:
        write = out.write
        if fmt == "openai-jsonl":
            for i in range(n):
                write(
                    '{"request_id":"req-%d","timestamp":%d,"metadata":{"cost_center":"cc-%d","project":"p%d"},'
                    '"response":{"id":"chatcmpl-%d","object":"chat.completion","created":%d,"model":"%s",'
                    '"choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},'
                    '"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,'
                    '"prompt_tokens_details":{"cached_tokens":%d},'
                    '"completion_tokens_details":{"reasoning_tokens":0}}}}\n'
                    % (i, T0 + i, i % 7, i % 5, i, T0 + i, MODELS[i % 4], 1000 + i % 500, 200 + i % 90, i % 512)
                )
        elif fmt == "otel-genai":
            per_doc = 1000
            for start in range(0, n, per_doc):
                spans = []
                for i in range(start, min(n, start + per_doc)):
                    spans.append(
                        '{"traceId":"%032x","spanId":"%016x","name":"chat","kind":3,'
                        '"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":['
                        '{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},'
                        '{"key":"gen_ai.request.model","value":{"stringValue":"%s"}},'
                        '{"key":"gen_ai.usage.input_tokens","value":{"intValue":"%d"}},'
                        '{"key":"gen_ai.usage.output_tokens","value":{"intValue":"%d"}}],"status":{}}'
                        % (i, i, (T0 + i) * 10**9, (T0 + i + 1) * 10**9, MODELS[i % 4], 1000 + i % 500, 200)
                    )
                write(
                    '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":'
                    '{"stringValue":"svc"}}]},"scopeSpans":[{"scope":{"name":"x"},"spans":['
                    + ",".join(spans)
                    + "]}]}]}\n"
                )
        elif fmt == "litellm-spend":
            write(
                "request_id,call_type,api_key,spend,total_tokens,prompt_tokens,completion_tokens,startTime,"
                "endTime,model,model_group,custom_llm_provider,user,metadata,cache_hit,request_tags,team_id,"
                "end_user\n"
            )
            meta = '"{""user_api_key_alias"": ""key-a"", ""status"": ""success""}"'
            for i in range(n):
                write(
                    "chatcmpl-%d,acompletion,%064x,0.00%d,%d,%d,200,2026-06-01 00:%02d:%02d,"
                    "2026-06-01 00:%02d:%02d,%s,%s,openai,u1,%s,False,[],team-a,None\n"
                    % (
                        i,
                        i,
                        i % 997,
                        1200 + i % 500,
                        1000 + i % 500,
                        (i // 60) % 60,
                        i % 60,
                        (i // 60) % 60,
                        i % 60,
                        MODELS[i % 4],
                        MODELS[i % 4],
                        meta,
                    )  # fmt: skip
                )
        elif fmt == "newapi-log":
            write(
                "created_at,type,token_name,model_name,quota,prompt_tokens,completion_tokens,use_time,is_stream,group,other\n"
            )
            other = '"{""model_ratio"": 1.25, ""group_ratio"": 1, ""completion_ratio"": 4, ""cache_tokens"": 0}"'
            for i in range(n):
                write(
                    "%d,2,key-%d,%s,%d,%d,%d,1,false,default,%s\n"
                    % (T0 + i, i % 9, MODELS[i % 4], 1000 + i, 1000 + i % 500, 200, other)
                )
        elif fmt == "focus-csv":
            write(
                "BilledCost,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ConsumedQuantity,"
                "ConsumedUnit,SkuId,ChargeDescription,ServiceProviderName,SubAccountName,Tags\n"
            )
            for i in range(n):
                side = "input" if i % 2 else "output"
                write(
                    "%d.%04d,USD,Usage,2026-06-%02dT%02d:00:00Z,2026-06-%02dT%02d:00:00Z,%d,1000 Tokens,"
                    '%s-%s,%s %s tokens,CometAPI,acct-%d,"{""cost_center"": ""cc-%d""}"\n'
                    % (
                        i % 50,
                        i % 9999,
                        1 + (i // 24) % 28,
                        i % 24,
                        1 + (i // 24) % 28,
                        i % 24,
                        1 + i % 900,
                        MODELS[i % 4],
                        side,
                        MODELS[i % 4],
                        side,
                        i % 13,
                        i % 7,
                    )  # fmt: skip
                )
        elif fmt == "usage-csv":
            write(
                "occurred_at,provider,model_reported,request_id,status_code,api_key_name,cost_center,"
                "input_tokens,cached_input_tokens,output_tokens,requests,provider_reported_cost,"
                "provider_reported_currency\n"
            )
            for i in range(n):
                write(
                    "2026-06-01T%02d:%02d:%02d+08:00,cometapi,%s,req-%d,200,key-%d,cc-%d,%d,%d,%d,1,0.000%d,USD\n"
                    % (
                        (i // 3600) % 24,
                        (i // 60) % 60,
                        i % 60,
                        MODELS[i % 4],
                        i,
                        i % 9,
                        i % 7,
                        1000 + i % 500,
                        i % 300,
                        200,
                        i % 9999,
                    )  # fmt: skip
                )
        else:
            raise SystemExit(f"unknown format {fmt}")


def _focus_parquet(n: int, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    writer = None
    step = 1_000_000
    for start in range(0, n, step):
        idx = pa.array(range(start, min(n, start + step)), pa.int64())
        side = pc.if_else(pc.equal(pc.bit_wise_and(idx, 1), 1), "input", "output")
        model = pc.take(pa.array(MODELS), pc.bit_wise_and(idx, 3))
        hours = pc.multiply(pc.divide(idx, 1000), 3_600_000_000)
        table = pa.table(
            {
                "BilledCost": pc.cast(pc.cast(pc.bit_wise_and(idx, 8191), pa.decimal128(19, 0)), pa.decimal128(25, 6)),
                "BillingCurrency": pa.array(["USD"] * len(idx)),
                "ChargeCategory": pa.array(["Usage"] * len(idx)),
                "ChargePeriodStart": pc.cast(pc.add(hours, T0 * 1_000_000), pa.timestamp("us", tz="UTC")),
                "ConsumedQuantity": pc.cast(pc.add(pc.bit_wise_and(idx, 1023), 1), pa.float64()),
                "ConsumedUnit": pa.array(["1000 Tokens"] * len(idx)),
                "SkuId": pc.binary_join_element_wise(model, side, "-"),
                "ServiceProviderName": pa.array(["CometAPI"] * len(idx)),
                "Tags": pc.binary_join_element_wise(
                    pa.array(['{"cost_center": "cc-'] * len(idx)),
                    pc.cast(pc.bit_wise_and(idx, 7), pa.string()),
                    pa.array(['"}'] * len(idx)),
                    "",
                ),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=500_000)
    if writer is not None:
        writer.close()


def measure(fmt: str, path: Path) -> dict[str, object]:
    """Parse one file in this process (run in a fresh subprocess so peak RSS is per format)."""
    from costproof.sources.usage import get
    from costproof.sources.usage.base import ParseContext

    adapter = get("focus" if fmt.startswith("focus") else fmt)
    start = time.perf_counter()
    rows = errors = records = 0
    for chunk in adapter.parse(path, ParseContext(path.name)):
        rows += chunk.table.num_rows
        errors += len(chunk.errors)
        records += chunk.records
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "format": fmt,
        "records": records,
        "rows": rows,
        "errors": errors,
        "seconds": round(seconds, 2),
        "rows_per_s": int(records / seconds) if seconds else None,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "file_mb": round(path.stat().st_size / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rows", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--dir", default=None, help="keep generated files here (default: a temp dir)")
    parser.add_argument("--measure", nargs=2, metavar=("FORMAT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(
            f"{'format':<15}{'records':>11}{'errors':>8}{'seconds':>9}{'rows/s':>11}{'peak RSS MB':>13}{'file MB':>9}"
        )
        for fmt in args.formats.split(","):
            suffix = (
                ".parquet" if fmt.endswith("parquet") else (".jsonl" if "jsonl" in fmt or "otel" in fmt else ".csv")
            )
            path = folder / f"{fmt}-{args.rows}{suffix}"
            if not path.exists():
                generate(fmt, args.rows, path)
            out = subprocess.run(
                [sys.executable, __file__, "--measure", fmt, str(path)],
                capture_output=True, text=True, check=True, env={**os.environ},
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{r['format']:<15}{r['records']:>11}{r['errors']:>8}{r['seconds']:>9}{r['rows_per_s']:>11}"
                f"{r['peak_rss_mb']:>13}{r['file_mb']:>9}",
                flush=True,
            )


if __name__ == "__main__":
    main()
