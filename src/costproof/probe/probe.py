"""Validation probes against an OpenAI-compatible gateway: outcomes recorded, never content."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from costproof.model.errors import InputError
from costproof.model.review import REVIEW_LOG_FIELDS
from costproof.model.sanitize import looks_secret, redact
from costproof.model.usage import status_class as _status_class

SCHEMA = "costproof.probe/1"
DEFAULT_KEY_ENV = "COMETAPI_KEY"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_OWNER = "unassigned"
ROUTES: tuple[str, ...] = ("chat.completions", "responses", "messages")
# Order of the requests sent and of the records in a report.
CHECKS: tuple[str, ...] = ("models", "happy", "stream", "unauthorized", "unknown_model")
EXPECTED_CLASS: dict[str, str] = {
    "models": "2xx",
    "happy": "2xx",
    "stream": "2xx",
    "unauthorized": "401/403",
    "unknown_model": "4xx",
}
LATENCY_CLASSES: tuple[str, ...] = ("<1s", "1-5s", ">5s")
ERROR_CLASSES: tuple[str, ...] = ("timeout", "connect", "http")
# The contract bucket's first owner (DESIGN.md): an auth, error or response assumption was wrong.
CONTRACT_OWNER = "API integration"

PROMPT = "Reply with the single word: ok"
UNKNOWN_MODEL = "costproof-probe-no-such-model"
MAX_TOKENS = 5
# OpenAI's Responses API rejects max_output_tokens below 16.
MAX_OUTPUT_TOKENS = 16
MAX_BODY_BYTES = 1 << 20
ANTHROPIC_VERSION = "2023-06-01"

_PATHS = {
    "models": "models",
    "chat.completions": "chat/completions",
    "responses": "responses",
    "messages": "messages",
}
# Normalized token name -> where each route family reports it (a key, or a nested path).
_TOKEN_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "input_tokens": (("prompt_tokens",), ("input_tokens",)),
    "output_tokens": (("completion_tokens",), ("output_tokens",)),
    "total_tokens": (("total_tokens",),),
    "cached_tokens": (
        ("prompt_tokens_details", "cached_tokens"),
        ("input_tokens_details", "cached_tokens"),
        ("cache_read_input_tokens",),
    ),
    "cache_write_tokens": (("cache_creation_input_tokens",),),
    "reasoning_tokens": (
        ("completion_tokens_details", "reasoning_tokens"),
        ("output_tokens_details", "reasoning_tokens"),
    ),
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class ProbeError(RuntimeError):
    """An unexpected failure while probing; its message has every secret scrubbed."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One request's outcome: classes, counts and hashes only."""

    id: str
    timestamp: str
    check: str
    route_family: str
    status_code: int | None
    status_class: str
    expected_class: str
    matched: bool
    request_owner: str
    usage_seen: bool
    response_id_hash: str | None
    tokens: tuple[tuple[str, int], ...]
    latency_class: str
    error_class: str | None

    @property
    def usage_expected(self) -> bool:
        return self.check in ("happy", "stream")

    @property
    def passed(self) -> bool:
        if not self.matched or self.error_class is not None:
            return False
        return self.usage_seen or not self.usage_expected

    @property
    def problem(self) -> str | None:
        if self.error_class is not None:
            return f"{self.check}: {self.error_class} error, no complete response"
        if not self.matched:
            got = self.status_code if self.status_code is not None else "none"
            return f"{self.check}: expected {self.expected_class}, got {got}"
        if self.usage_expected and not self.usage_seen:
            return f"{self.check}: no usage block in a successful response"
        return None

    def as_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "timestamp": self.timestamp,
            "check": self.check,
            "route_family": self.route_family,
            "status_code": self.status_code,
            "status_class": self.status_class,
            "expected_class": self.expected_class,
            "matched": self.matched,
            "passed": self.passed,
            "request_owner": self.request_owner,
            "usage_seen": self.usage_seen,
            "response_id_hash": self.response_id_hash,
            "tokens": dict(sorted(self.tokens)),
            "latency_class": self.latency_class,
            "error_class": self.error_class,
        }
        return dict(sorted(data.items()))


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """All probes of one run against one gateway route."""

    base_url: str
    route: str
    model: str
    request_owner: str
    probes: tuple[ProbeResult, ...]

    @property
    def problems(self) -> list[str]:
        return [p.problem for p in self.probes if p.problem is not None]

    @property
    def ok(self) -> bool:
        return all(p.passed for p in self.probes)

    @property
    def exit_code(self) -> int:
        """0 when every probe passed, 1 when the gateway broke an assumption or was unreachable."""
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        data = {
            "schema": SCHEMA,
            "base_url": self.base_url,
            "route": self.route,
            "model": self.model,
            "request_owner": self.request_owner,
            "ok": self.ok,
            "problems": self.problems,
            "probes": [p.as_dict() for p in self.probes],
        }
        return dict(sorted(data.items()))

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    def review_log(
        self,
        *,
        operator: str | None = None,
        ledger_period: str | None = None,
        follow_up_owner: str | None = None,
    ) -> list[dict[str, str]]:
        return [
            review_log_record(
                p,
                base_url=self.base_url,
                operator=operator,
                ledger_period=ledger_period,
                follow_up_owner=follow_up_owner,
            )
            for p in self.probes
        ]


def read_api_key(var: str, environ: Mapping[str, str] | None = None) -> str:
    """The key from the environment variable named `var` (keys never come from argv)."""
    if not _ENV_NAME.fullmatch(var or "") or looks_secret(var):
        raise InputError("--key-env takes the name of an environment variable, not a key")
    value = (os.environ if environ is None else environ).get(var, "").strip()
    if not value:
        raise InputError(f"environment variable {var} is not set or is empty")
    return value


def hash_response_id(response_id: str) -> str:
    """How a response id is kept: matched later against hashed request ids of a usage export."""
    return "sha256:" + hashlib.sha256(response_id.encode("utf-8")).hexdigest()


def latency_class(seconds: float) -> str:
    if seconds < 1:
        return "<1s"
    return "1-5s" if seconds <= 5 else ">5s"


def expected_match(check: str, status_code: int | None) -> bool:
    if status_code is None:
        return False
    if check == "unauthorized":
        return status_code in (401, 403)
    if check == "unknown_model":
        # 401/403/429 say nothing about the model, so they do not show it was rejected.
        return 400 <= status_code < 500 and status_code not in (401, 403, 429)
    return 200 <= status_code < 300


def public_url(url: str) -> str:
    """A URL as recorded: no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def api_root(base_url: str) -> str:
    """The gateway's API root: `/v1` is appended unless the path already ends in it."""
    try:
        parts = urlsplit(base_url.strip())
        _ = parts.port
    except ValueError:
        raise InputError("--base-url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("--base-url must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        # httpx would send them as Basic auth in place of the key, and they must not be recorded.
        raise InputError("--base-url must not carry credentials; the key comes from --key-env")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def endpoint(root: str, family: str) -> str:
    parts = urlsplit(root)
    return urlunsplit(parts._replace(path=f"{parts.path}/{_PATHS[family]}"))


def scrub(text: str, secret_values: Iterable[str]) -> str:
    """Exact secrets replaced first (they may not look like keys), then key-like strings."""
    for value in sorted({s for s in secret_values if s}, key=len, reverse=True):
        text = text.replace(value, "[REDACTED]")
    return redact(text)


def run_probe(
    base_url: str,
    *,
    api_key: str | None,
    model: str,
    owner: str,
    now: Callable[[], datetime],
    route: str = "chat.completions",
    stream: bool = True,
    list_models: bool = True,
    timeout: float = 20.0,
    transport: httpx.BaseTransport | None = None,
    trust_env: bool = True,
    timer: Callable[[], float] = time.perf_counter,
) -> ProbeReport:
    """Send the validation requests to `base_url` and record what came back.

    Raises InputError for unusable arguments (CLI exit 2) and ProbeError, scrubbed of the
    key, for anything unexpected; gateway failures are recorded in the report instead.
    """
    if route not in ROUTES:
        raise InputError(f"--route must be one of {', '.join(ROUTES)}")
    if not api_key:
        raise InputError("no API key: set the environment variable named by --key-env")
    if not _HEADER_SAFE.fullmatch(api_key):
        raise InputError("the API key contains characters that cannot be sent in an HTTP header")
    if not model or not owner:
        raise InputError("--model and --owner must not be empty")
    root = api_root(base_url)
    # Generated per run, so it can never be a real key; it looks like one, so redact() hides it.
    invalid_key = "sk-costproof-invalid-" + secrets.token_hex(16)
    hidden = (api_key, invalid_key, f"Bearer {api_key}", f"Bearer {invalid_key}")
    checks = [c for c in CHECKS if (c != "models" or list_models) and (c != "stream" or stream)]
    try:
        probes = _run(
            root,
            api_key=api_key,
            invalid_key=invalid_key,
            model=model,
            owner=owner,
            now=now,
            route=route,
            checks=checks,
            timeout=timeout,
            transport=transport,
            trust_env=trust_env,
            timer=timer,
        )
    except InputError:
        raise
    except Exception as exc:
        raise ProbeError(scrub(f"probe failed: {type(exc).__name__}: {exc}", hidden)) from None
    return ProbeReport(
        base_url=public_url(root),
        route=route,
        model=model,
        request_owner=owner,
        probes=tuple(probes),
    )


def review_log_record(
    probe: ProbeResult,
    *,
    base_url: str,
    operator: str | None = None,
    ledger_period: str | None = None,
    follow_up_owner: str | None = None,
) -> dict[str, str]:
    """One review-log row (the pack's review_log.csv columns), every value a string."""
    evidence = [f"probe:{probe.id}"]
    if probe.response_id_hash:
        evidence.append(f"response_id:{probe.response_id_hash}")
    notes = (
        f"{probe.check} probe via {probe.route_family}: expected {probe.expected_class}, "
        f"got {probe.status_code if probe.status_code is not None else 'no response'}"
    )
    if probe.error_class:
        notes += f" ({probe.error_class} error)"
    notes += f"; usage block {'seen' if probe.usage_seen else 'not seen'}"
    if probe.tokens:
        notes += " (" + ", ".join(f"{k}={v}" for k, v in sorted(probe.tokens)) + ")"
    notes += f"; latency {probe.latency_class}"
    record = {
        "review_date": probe.timestamp[:10],
        "operator": operator or probe.request_owner,
        "source_urls_checked": public_url(endpoint(base_url, probe.route_family)),
        "ledger_period": ledger_period or probe.timestamp[:7],
        "request_owner": probe.request_owner,
        "status_class": probe.status_class,
        "evidence_attached": "; ".join(evidence),
        "follow_up_owner": "" if probe.passed else (follow_up_owner or CONTRACT_OWNER),
        "result": "pass" if probe.passed else "fail",
        "notes": redact(notes),
    }
    return {k: record[k] for k in REVIEW_LOG_FIELDS}


# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    status_code: int | None
    error_class: str | None
    usage: dict[str, int] | None
    response_id: str | None
    seconds: float


def _run(
    root: str,
    *,
    api_key: str,
    invalid_key: str,
    model: str,
    owner: str,
    now: Callable[[], datetime],
    route: str,
    checks: list[str],
    timeout: float,
    transport: httpx.BaseTransport | None,
    trust_env: bool,
    timer: Callable[[], float],
) -> list[ProbeResult]:
    host = urlsplit(public_url(root)).netloc
    results = []
    with httpx.Client(
        timeout=timeout,
        follow_redirects=False,  # a redirect could carry the key to a host nobody named
        transport=transport,
        trust_env=trust_env,
        headers={"User-Agent": "costproof-probe"},
    ) as client:
        for check in checks:
            stamp = _timestamp(now())
            family = "models" if check == "models" else route
            key = invalid_key if check == "unauthorized" else api_key
            streamed = check == "stream"
            url = endpoint(root, family)
            if family == "models":
                outcome = _send(client, "GET", url, _headers(key, route), None, False, timer)
            else:
                body = _body(route, UNKNOWN_MODEL if check == "unknown_model" else model, streamed)
                outcome = _send(client, "POST", url, _headers(key, route), body, streamed, timer)
            tokens = outcome.usage or {}
            results.append(
                ProbeResult(
                    id=_probe_id(host, route, check, stamp),
                    timestamp=stamp,
                    check=check,
                    route_family=family,
                    status_code=outcome.status_code,
                    status_class=_status_class(outcome.status_code) or "none",
                    expected_class=EXPECTED_CLASS[check],
                    matched=expected_match(check, outcome.status_code),
                    request_owner=owner,
                    usage_seen=bool(tokens),
                    response_id_hash=(
                        hash_response_id(outcome.response_id) if outcome.response_id else None
                    ),
                    tokens=tuple(sorted(tokens.items())),
                    latency_class=latency_class(outcome.seconds),
                    error_class=outcome.error_class,
                )
            )
    return results


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise InputError("now() must return a timezone-aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _probe_id(host: str, route: str, check: str, stamp: str) -> str:
    text = "\x1f".join(("probe", host, route, check, stamp))
    return "probe-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _headers(key: str, route: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if route == "messages":
        headers["x-api-key"] = key
        headers["anthropic-version"] = ANTHROPIC_VERSION
    return headers


def _body(route: str, model: str, streamed: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model}
    if route == "responses":
        body.update(input=PROMPT, max_output_tokens=MAX_OUTPUT_TOKENS)
    else:
        body.update(max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": PROMPT}])
    if streamed:
        body["stream"] = True
        if route == "chat.completions":
            body["stream_options"] = {"include_usage": True}
    return body


def _send(
    client: httpx.Client,
    method: str,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
    streamed: bool,
    timer: Callable[[], float],
) -> _Outcome:
    start = timer()
    status: int | None = None
    try:
        with client.stream(method, url, headers=headers, json=body) as response:
            status = response.status_code
            if streamed and response.is_success:
                usage, response_id = _read_events(response.iter_lines())
            else:
                usage, response_id = _read_json(_read_capped(response))
        return _Outcome(status, None, usage, response_id, timer() - start)
    except httpx.TimeoutException:
        error = "timeout"
    except (httpx.ConnectError, httpx.UnsupportedProtocol):
        error = "connect"
    except httpx.HTTPError:
        error = "http"
    # Whatever the exception said is dropped: it may quote the URL, headers or the body.
    return _Outcome(status, error, None, None, timer() - start)


def _read_capped(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b""
    return b"".join(chunks)


def _read_json(raw: bytes) -> tuple[dict[str, int] | None, str | None]:
    try:
        data = json.loads(raw)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    usage: dict[str, Any] = {}
    response_id = _collect(data, usage, None)
    return _tokens(usage), response_id


def _read_events(lines: Iterator[str]) -> tuple[dict[str, int] | None, str | None]:
    """Server-sent events of any of the three route families; usage merged across events."""
    usage: dict[str, Any] = {}
    response_id: str | None = None
    size = 0
    for line in lines:
        size += len(line)
        if size > MAX_BODY_BYTES:
            break
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        try:
            event = json.loads(payload)
        except ValueError:
            continue
        if isinstance(event, dict):
            response_id = _collect(event, usage, response_id)
    return _tokens(usage), response_id


def _collect(event: dict[str, Any], usage: dict[str, Any], response_id: str | None) -> str | None:
    # Chat chunks carry id/usage at the top; Responses events under "response";
    # Anthropic message_start under "message", message_delta at the top.
    for part in (event, event.get("response"), event.get("message")):
        if not isinstance(part, dict):
            continue
        if response_id is None and isinstance(part.get("id"), str) and part["id"]:
            response_id = part["id"]
        if isinstance(part.get("usage"), dict):
            usage.update(part["usage"])
    return response_id


def _tokens(usage: Mapping[str, Any]) -> dict[str, int] | None:
    tokens: dict[str, int] = {}
    for name, paths in _TOKEN_FIELDS.items():
        for path in paths:
            value: Any = usage
            for step in path:
                value = value.get(step) if isinstance(value, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                tokens[name] = value
                break
    return tokens or None
