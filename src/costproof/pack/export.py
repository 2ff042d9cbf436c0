"""Build a source pack for a period: collect, render, checksum, write a directory or a canonical zip."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from costproof import __version__
from costproof.model.errors import InputError
from costproof.pack import artifacts, charts, claims, figures, report, view
from costproof.pack import schema as S
from costproof.pack.collect import PackData, collect
from costproof.pack.safety import Sanitizer
from costproof.service.common import iso, period_bounds
from costproof.workspace import Workspace

ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class PackSafetyError(RuntimeError):
    """The pack would contain secret-like text; nothing is written."""


def build_files(data: PackData, *, generated_at: datetime) -> dict[str, bytes]:
    """Every file of the pack as bytes, keyed by its path inside the pack."""
    san = Sanitizer(data.secret_patterns)
    files, notes = artifacts.build(data, san)
    figs = figures.compute(files)
    v = view.build(data, files, figs, notes, san)
    usage = figures.read_csv(files, S.ARTIFACTS["usage_export"][0])
    currency = _main_currency(figs)
    chart_svgs = {"daily": charts.daily_by_model(usage, currency) if currency else None,
                  "waterfall": charts.waterfall(_steps(v, figs, currency), currency) if currency else None}
    files[S.WHAT_NOT_TO_ASSERT] = claims.WHAT_NOT_TO_ASSERT.encode("utf-8")
    files[S.PACK_JSON] = b""  # listed in the file index; filled below
    files[S.MANIFEST] = b""
    paths = sorted(files)
    files[S.README] = report.readme(v, sorted({*paths, S.README, S.REPORT})).encode("utf-8")
    files[S.REPORT] = report.report_html(v, sorted({*paths, S.README, S.REPORT}), chart_svgs).encode("utf-8")
    files[S.PACK_JSON] = artifacts.json_bytes({
        "schema": S.PACK_SCHEMA,
        "costproof_version": __version__,
        "generated_at": iso(generated_at),
        "workspace_id": data.workspace_id,
        "run_id": data.run["run_id"],
        "period": data.period,
        "artifacts": {name: path for name, (path, _, _) in S.ARTIFACTS.items()},
        "files": len(files) - 1,
    })
    del files[S.MANIFEST]
    leaks = [p for p, b in sorted(files.items()) if san.found(b)]
    if leaks:
        raise PackSafetyError(f"refusing to write a pack with secret-like text in: {', '.join(leaks)}")
    files[S.MANIFEST] = manifest_bytes(files)
    return files


def manifest_bytes(files: dict[str, bytes]) -> bytes:
    lines = [f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n" for p in sorted(files) if p != S.MANIFEST]
    return "".join(lines).encode("utf-8")


def _main_currency(figs: dict[str, str]) -> str | None:
    amounts = [(Decimal(v), k.split(".", 1)[1]) for k, v in figs.items() if k.startswith("expected.")]
    amounts += [(Decimal(v), k.split(".", 1)[1]) for k, v in figs.items() if k.startswith("ledger.")]
    return max(amounts, key=lambda a: (abs(a[0]), a[1]))[1] if amounts else None


def _steps(v: dict[str, Any], figs: dict[str, str], currency: str) -> list[dict[str, Any]]:
    """Expected → not on any ledger line → each bucket (and matched lines) → ledger; the steps sum exactly."""
    if not v["ledger"]:
        return []
    expected = Decimal(figs.get(f"expected.{currency}", "0"))
    ledger = Decimal(figs.get(f"ledger.{currency}", "0"))
    items = [*v["variances"], *v["matched"]]
    line_expected = sum((Decimal(i["expected"]) for i in items if i["currency"] == currency), Decimal(0))
    steps = [{"label": "expected", "kind": "total", "amount": expected}]
    uncovered = line_expected - expected
    if uncovered:
        steps.append({"label": "not on a ledger line", "kind": "step", "amount": uncovered})
    by_bucket: dict[str, Decimal] = {}
    for i in items:
        if i["currency"] != currency:
            continue
        key = "within tolerance" if i["status"] == "matched" else i["bucket"] or "unknown"
        by_bucket[key] = by_bucket.get(key, Decimal(0)) + Decimal(i["difference"])
    for key in sorted(by_bucket, key=lambda k: (k == "within tolerance", k)):
        steps.append({"label": key, "kind": "step", "amount": by_bucket[key]})
    steps.append({"label": "ledger", "kind": "total", "amount": ledger})
    return steps


def write(files: dict[str, bytes], out: Path) -> Path:
    """A directory, or a zip when `out` ends in .zip; replaces an earlier pack there, refuses anything else."""
    out = Path(out)
    if out.suffix.lower() == ".zip":
        if out.exists() and not zipfile.is_zipfile(out):
            raise InputError("exists and is not a zip; choose another --out", file=str(out))
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".pack-", suffix=".zip", dir=out.parent)
        os.close(fd)
        Path(tmp).write_bytes(zip_bytes(files))
        os.replace(tmp, out)
        return out
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / S.PACK_JSON).exists())):
        raise InputError("exists and is not an earlier pack; choose another --out", file=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pack-", dir=out.parent))
    try:
        for path, data in files.items():
            target = tmp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A canonical zip: sorted entries, fixed timestamps and permissions, fixed compression level."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, files[path], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


def export(ws: Workspace, period: str, out: Path, *, now: datetime) -> dict[str, Any]:
    period_bounds(period)
    data = collect(ws, period)
    files = build_files(data, generated_at=now)
    target = write(files, out)
    meta = json.loads(files[S.PACK_JSON])
    return {"path": str(target), "format": "zip" if target.suffix.lower() == ".zip" else "directory",
            "period": period, "run_id": meta["run_id"], "files": len(files), "generated_at": meta["generated_at"],
            "bytes": sum(len(b) for b in files.values()),
            "manifest_sha256": hashlib.sha256(files[S.MANIFEST]).hexdigest()}
