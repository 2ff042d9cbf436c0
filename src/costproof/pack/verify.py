"""`pack verify`: recompute every checksum and figure, resolve every evidence link; report every problem."""

from __future__ import annotations

import csv
import hashlib
import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from costproof.engine.rates import MIN_TS
from costproof.model.errors import InputError
from costproof.model.sanitize import compile_patterns
from costproof.pack import claims, figures
from costproof.pack import schema as S
from costproof.service.common import iso, short_hash
from costproof.workspace import dumps as catalog_dumps

_MANIFEST_LINE = re.compile(r"([0-9a-f]{64})  ([^\n]+)")
_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HREF = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_HTML_FIGURE = re.compile(r'<data class="figure" data-figure="([^"]*)" value="([^"]*)">([^<]*)</data>')
_EXTERNAL = ("http://", "https://", "mailto:", "#", "data:")


@dataclass
class Result:
    files_checked: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    def add(self, file: str, check: str, message: str) -> None:
        self.problems.append({"file": file, "check": check, "message": message})

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.problems, "files_checked": self.files_checked, "problems": self.problems}


def load(path: Path) -> tuple[dict[str, bytes], Result]:
    """The pack's files by relative path; a zip must also be in costproof's canonical form."""
    res = Result()
    path = Path(path)
    if path.is_dir():
        files = {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
        return files, res
    if path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)):
        raw = path.read_bytes()
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                names = [i.filename for i in zf.infolist()]
                files = {}
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    try:
                        files[info.filename] = zf.read(info)
                    except Exception as exc:  # zlib.error, EOFError, struct.error...: a damaged entry
                        res.add(info.filename, "zip", f"entry cannot be read: {type(exc).__name__}: {exc}")
        except Exception as exc:  # a damaged container raises from many layers; it is a finding, not a crash
            res.add(path.name, "zip", f"not a readable zip: {exc}")
            return {}, res
        if len(set(names)) != len(names):
            res.add(path.name, "zip", "duplicate entries")
        from costproof.pack.export import zip_bytes

        if not res.problems and zip_bytes(files) != raw:
            res.add(path.name, "zip", "the zip container differs from the canonical form costproof writes "
                                      "(altered headers, order, timestamps or trailing bytes)")
        return files, res
    if not path.exists():
        raise InputError("no such pack (a directory or a .zip)", file=str(path))
    raise InputError("not a pack: neither a directory nor a zip", file=str(path))


def verify(path: Path) -> dict[str, Any]:
    files, res = load(path)
    return check_files(files, res)


def check_files(files: dict[str, bytes], res: Result | None = None) -> dict[str, Any]:
    """Every check over the pack's files; a check that cannot run on damaged input is itself a problem."""
    res = res or Result()
    _checksums(files, res)
    meta = _guard(res, "pack.json", lambda: _pack_json(files, res)) or {}
    for name, check in (("schema", lambda: _schemas(files, res)), ("links", lambda: _links(files, res)),
                        ("inputs", lambda: _inputs(files, res, meta)), ("totals", lambda: _figures(files, res))):
        _guard(res, name, check)
    for name in (S.README, S.REPORT):
        if name in files:
            text = files[name].decode("utf-8", "replace")
            for p in claims.markdown_claims(text) if name == S.README else claims.html_claims(text):
                res.add(name, "claims", p)
    secret = compile_patterns()
    for name, data in sorted(files.items()):
        if secret.search(data.decode("utf-8", "replace")):
            res.add(name, "secrets", "contains secret-like text")
    return res.as_dict()


def _guard(res: Result, name: str, check: Any) -> Any:
    try:
        return check()
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, UnicodeDecodeError) as exc:
        res.add("*", name, f"check could not run on this pack: {type(exc).__name__}: {exc}")
        return None


# ------------------------------------------------------------------ checks
def _checksums(files: dict[str, bytes], res: Result) -> None:
    if S.MANIFEST not in files:
        res.add(S.MANIFEST, "checksum", "missing")
        return
    try:
        text = files[S.MANIFEST].decode("utf-8")
    except UnicodeDecodeError:
        res.add(S.MANIFEST, "checksum", "not UTF-8")
        return
    if not text.endswith("\n"):
        res.add(S.MANIFEST, "checksum", "does not end with a newline")
    listed: dict[str, str] = {}
    for n, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), start=1):
        m = _MANIFEST_LINE.fullmatch(line)
        if not m:
            res.add(S.MANIFEST, "checksum", f"line {n} is not `<sha256>  <path>`")
            continue
        if m.group(2) in listed:
            res.add(S.MANIFEST, "checksum", f"line {n} lists {m.group(2)} twice")
        listed[m.group(2)] = m.group(1)
    if list(listed) != sorted(listed):
        res.add(S.MANIFEST, "checksum", "paths are not in sorted order")
    for name, digest in listed.items():
        if name not in files:
            res.add(name, "checksum", "listed in MANIFEST.sha256 but missing")
            continue
        res.files_checked += 1
        if hashlib.sha256(files[name]).hexdigest() != digest:
            res.add(name, "checksum", "sha256 differs from MANIFEST.sha256")
    for name in sorted(set(files) - set(listed) - {S.MANIFEST}):
        res.add(name, "checksum", "not listed in MANIFEST.sha256")


def _pack_json(files: dict[str, bytes], res: Result) -> dict[str, Any]:
    try:
        meta = figures.read_json(files, S.PACK_JSON)
    except figures.FigureError as exc:
        res.add(S.PACK_JSON, "schema", str(exc))
        return {}
    if not isinstance(meta, dict):
        res.add(S.PACK_JSON, "schema", "not a JSON object")
        return {}
    if meta.get("schema") not in S.SUPPORTED_PACK_SCHEMAS:
        res.add(S.PACK_JSON, "schema", f"unsupported pack schema {meta.get('schema')!r}; this costproof reads "
                                       f"{', '.join(S.SUPPORTED_PACK_SCHEMAS)}")
    for key in ("costproof_version", "generated_at", "workspace_id", "run_id", "period"):
        if not meta.get(key):
            res.add(S.PACK_JSON, "schema", f"lacks {key}")
    if meta.get("generated_at") and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z",
                                                     str(meta["generated_at"])):
        res.add(S.PACK_JSON, "schema", "generated_at is not ISO 8601 UTC with Z")
    return meta


def _schemas(files: dict[str, bytes], res: Result) -> None:
    try:
        declared = figures.read_json(files, S.SCHEMAS)
    except figures.FigureError as exc:
        res.add(S.SCHEMAS, "schema", str(exc))
        declared = {}
    if not isinstance(declared, dict) or declared.get("schema") != S.ARTIFACTS_SCHEMA:
        res.add(S.SCHEMAS, "schema", f"expected schema {S.ARTIFACTS_SCHEMA}")
        declared = {}
    arts = declared.get("artifacts") or {}
    for name, (path, sid, cols) in S.ARTIFACTS.items():
        if (arts.get(name) or {}).get("schema") != sid:
            res.add(S.SCHEMAS, "schema", f"{name}: expected schema {sid}")
        if path not in files:
            res.add(path, "schema", "artifact missing")
        elif cols:
            _header(files, path, cols, res)
        else:
            try:
                doc = figures.read_json(files, path)
                if not isinstance(doc, dict) or doc.get("schema") != sid:
                    res.add(path, "schema", f"expected schema {sid}")
            except figures.FigureError as exc:
                res.add(path, "schema", str(exc))
    for path, cols in S.TABLES.items():
        if path not in files:
            res.add(path, "schema", "missing")
        else:
            _header(files, path, cols, res)


def _header(files: dict[str, bytes], path: str, cols: tuple[str, ...], res: Result) -> None:
    try:
        header = next(csv.reader(io.StringIO(files[path].decode("utf-8"), newline="")), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        res.add(path, "schema", f"not readable CSV: {exc}")
        return
    if tuple(header) != tuple(cols):
        res.add(path, "schema", f"columns {header} differ from the schema's {list(cols)}")


def _rows(files: dict[str, bytes], path: str, res: Result) -> list[dict[str, str]]:
    try:
        return figures.read_csv(files, path)
    except figures.FigureError:
        return []


def _resolve(base: str, link: str) -> str | None:
    target = link.split("#", 1)[0]
    if not target:
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(base), target))
    return None if joined.startswith("../") or joined == ".." or joined.startswith("/") else joined


def _links(files: dict[str, bytes], res: Result) -> None:
    docs = [(S.README, _MD_LINK), (S.REPORT, _HREF)]
    for name, pattern in docs:
        if name not in files:
            res.add(name, "links", "missing")
            continue
        for link in pattern.findall(files[name].decode("utf-8", "replace")):
            if link.startswith(_EXTERNAL):
                continue
            target = _resolve(name, link)
            if target is None or target not in files:
                res.add(name, "links", f"link {link!r} does not resolve inside the pack")
    keys = {r.get("line_key", "") for r in _rows(files, S.LEDGER_LINES, res)}

    def check(source: str, link: str) -> None:
        path, _, frag = link.partition("#")
        if path not in files:
            res.add(source, "links", f"evidence link {link!r} does not resolve inside the pack")
        elif path == S.LEDGER_LINES and frag and frag not in keys:
            res.add(source, "links", f"evidence link {link!r} names no ledger line")

    for r in _rows(files, S.ARTIFACTS["pricing_snapshot"][0], res):
        for link in (r.get("evidence") or "").split():
            check(S.ARTIFACTS["pricing_snapshot"][0], link)
    for table in (S.SOURCES, S.INTERNAL_SOURCES, S.ATTACHMENTS):
        for r in _rows(files, table, res):
            if r.get("included") == "yes":
                check(table, r.get("path", ""))
    try:
        report = figures.read_json(files, S.ARTIFACTS["variance_report"][0])
        items = [*report.get("matched", []), *(v for g in report.get("groups", []) for v in g.get("variances", []))]
    except (figures.FigureError, AttributeError):
        items = []
    for v in items:
        for link in v.get("evidence") or []:
            check(S.ARTIFACTS["variance_report"][0], str(link))
    probes = {r.get("probe_id") for r in _rows(files, S.PROBES, res)}
    for r in _rows(files, S.REVIEW_LOG, res):
        for probe_id in re.findall(r"\bprobe:(probe-[0-9a-f]+)", r.get("evidence_attached", "")):
            if probe_id not in probes:
                res.add(S.REVIEW_LOG, "links", f"evidence probe:{probe_id} is not in {S.PROBES}")


def _inputs(files: dict[str, bytes], res: Result, meta: dict[str, Any]) -> None:
    path = S.ARTIFACTS["calculation_manifest"][0]
    try:
        calc = figures.read_json(files, path)
    except figures.FigureError:
        return
    if not isinstance(calc, dict):
        return
    if meta and calc.get("run_id") != meta.get("run_id"):
        res.add(path, "inputs", f"run_id {calc.get('run_id')!r} differs from pack.json's {meta.get('run_id')!r}")
    manifest = calc.get("manifest") or {}
    if not calc.get("redacted"):
        body = {k: v for k, v in manifest.items() if k != "generated_at"}
        if hashlib.sha256(catalog_dumps(body).encode()).hexdigest() != calc.get("manifest_sha256"):
            res.add(path, "inputs", "the run manifest does not hash to manifest_sha256")
    by_sha: dict[str, str] = {}
    for name, data in files.items():
        if name.startswith(("public/evidence/", "internal/evidence/")):
            by_sha[posixpath.basename(name).split(".", 1)[0]] = hashlib.sha256(data).hexdigest()
    withheld = {r.get("sha256") for t in (S.SOURCES, S.INTERNAL_SOURCES) for r in _rows(files, t, res)
                if r.get("included") == "no"}
    usage_shas = {r.get("sha256") for r in _rows(files, S.USAGE_IMPORTS, res)}
    ledger_shas = {r.get("statement_sha256") for r in _rows(files, S.LEDGER_LINES, res)}
    for item in calc.get("inputs") or []:
        kind, sha = item.get("kind"), item.get("sha256")
        if kind == "pricing_snapshot":
            for ev in item.get("evidence") or []:
                if ev in withheld:
                    continue
                if ev not in by_sha:
                    res.add(path, "inputs", f"evidence {ev} of {item.get('id')} is not in the pack")
                elif by_sha[ev] != ev:
                    res.add(path, "inputs", f"evidence file for {ev} hashes to {by_sha[ev]}")
            if short_hash(item.get("evidence") or [], n=64) != sha:
                res.add(path, "inputs", f"{item.get('id')}: sha256 does not match its evidence list")
        elif kind == "usage_import" and sha not in usage_shas:
            res.add(path, "inputs", f"usage import {item.get('id')} ({sha}) is not in {S.USAGE_IMPORTS}")
        elif kind == "statement" and ledger_shas and sha not in ledger_shas:
            res.add(path, "inputs", f"statement {item.get('id')} ({sha}) has no line in {S.LEDGER_LINES}")
        elif kind == "model_mapping" and not calc.get("redacted"):
            rows = _rows(files, S.ARTIFACTS["model_mapping"][0], res)
            content = [(r["internal_model_alias"], r["source_model_id"], r["effective_from"] or iso(MIN_TS))
                       for r in rows]
            if rows and short_hash(content, n=64) != sha:
                res.add(path, "inputs", f"{S.ARTIFACTS['model_mapping'][0]} does not hash to the run's mapping "
                                        "sha256")
    snaps = (manifest.get("inputs") or {}).get("snapshots", [])
    snap_inputs = {s.get("snapshot_id"): s.get("evidence") for s in snaps}
    calc_inputs = {i.get("id"): i.get("evidence") for i in calc.get("inputs") or []
                   if i.get("kind") == "pricing_snapshot"}
    if snap_inputs != calc_inputs:
        res.add(path, "inputs", "inputs list differs from the run manifest's snapshots")
    for key in ("expected", "provider_reported"):
        if manifest.get(key) != calc.get(key):
            res.add(path, "inputs", f"{key} differs from the run manifest's")


def _figures(files: dict[str, bytes], res: Result) -> None:
    try:
        want = figures.compute(files)
    except (figures.FigureError, KeyError, TypeError, AttributeError) as exc:
        res.add(S.ARTIFACTS["usage_export"][0], "totals", f"cannot recompute the figures: {exc}")
        return
    try:
        calc = figures.read_json(files, S.ARTIFACTS["calculation_manifest"][0])
        for cur, amount in (calc.get("expected") or {}).items():
            if want.get(f"expected.{cur}") != amount:
                res.add(S.ARTIFACTS["usage_export"][0], "totals",
                        f"expected {cur} sums to {want.get(f'expected.{cur}')}, the run recorded {amount}")
        for cur, amount in (calc.get("provider_reported") or {}).items():
            if want.get(f"provider_reported.{cur}") != amount:
                res.add(S.ARTIFACTS["usage_export"][0], "totals", f"provider-reported {cur} sums to "
                        f"{want.get(f'provider_reported.{cur}')}, the run recorded {amount}")
    except (figures.FigureError, AttributeError):
        pass
    labels = {label: key for key, label in S.FIGURES.items()}
    if S.README in files:
        stated: dict[str, str] = {}
        for line in files[S.README].decode("utf-8", "replace").splitlines():
            m = re.fullmatch(r"\| ([^|]+?) \| (-?[\d.]+)(?: ([A-Z]{3}))? \|", line)
            if m and m.group(1) in labels:
                stated[labels[m.group(1)] + (f".{m.group(3)}" if m.group(3) else "")] = m.group(2)
        _compare(S.README, stated, want, res)
    if S.REPORT in files:
        stated = {}
        for key, value, text in _HTML_FIGURE.findall(files[S.REPORT].decode("utf-8", "replace")):
            cur = key.partition(".")[2]
            if text not in (value, value + (f" {cur}" if cur else "")):
                res.add(S.REPORT, "totals", f"{key}: shown as {text!r} but valued {value!r}")
            if key in stated and stated[key] != value:
                res.add(S.REPORT, "totals", f"{key}: stated twice with different values")
            stated[key] = value
        _compare(S.REPORT, stated, want, res)


def _compare(name: str, stated: dict[str, str], want: dict[str, str], res: Result) -> None:
    for key in sorted(set(want) | set(stated)):
        if key not in stated:
            res.add(name, "totals", f"does not state {key} ({want[key]} from the artifacts)")
        elif key not in want:
            res.add(name, "totals", f"states {key} = {stated[key]}, which no artifact supports")
        elif stated[key] != want[key]:
            res.add(name, "totals", f"states {key} = {stated[key]}, the artifacts sum to {want[key]}")
