"""Nothing but classes, counts and hashes leaves a probe: no key, prompt or response text."""

from __future__ import annotations

import json

import httpx
import pytest
from probe_fake_gateway import (
    CANARY_KEY,
    CANARY_SENTENCE,
    VALID_KEY,
    closed_port_url,
    fixed_now,
)

from costproof.model.errors import InputError
from costproof.probe import ProbeError, ProbeReport, read_api_key, run_probe
from costproof.probe.probe import PROMPT

# A key that matches no secret pattern: only the exact-string scrub can catch it.
PLAIN_KEY = "plainvalue4242costproof"


def forbidden(key: str) -> list[str]:
    return [
        key,
        PROMPT,
        "single word",
        CANARY_SENTENCE,
        "vault combination",
        CANARY_KEY,
        "You said",
        "sk-",  # the deliberately invalid key starts with sk-, as do the planted ones
        "Incorrect API key",
        "does not exist",
    ]


def serialized(report: ProbeReport) -> str:
    return report.to_json() + json.dumps(report.review_log()) + repr(report)


def run(url: str, key: str, **kwargs: object) -> ProbeReport:
    options: dict[str, object] = {
        "api_key": key,
        "model": "gpt-4o-mini",
        "owner": "platform-team",
        "now": fixed_now,
        "trust_env": False,
        "timeout": 5.0,
    }
    options.update(kwargs)
    return run_probe(url, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("route", "model"),
    [
        ("chat.completions", "gpt-4o-mini"),
        ("responses", "gpt-4o-mini"),
        ("messages", "claude-3-5-haiku"),
    ],
)
@pytest.mark.parametrize("key", [VALID_KEY, PLAIN_KEY])
def test_no_key_prompt_or_body_in_report(make_gateway, route, model, key):
    server = make_gateway(key)
    report = run(server.url, key, route=route, model=model)
    assert report.ok, report.problems  # every body, error and stream was read
    text = serialized(report)
    for needle in forbidden(key):
        assert needle not in text


def test_no_secrets_when_the_gateway_is_down():
    text = serialized(run(closed_port_url(), VALID_KEY))
    for needle in forbidden(VALID_KEY):
        assert needle not in text


class ExplodingTransport(httpx.BaseTransport):
    """A transport failing with the request's headers in its message, as a buggy layer might."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        raise RuntimeError(f"boom while sending {auth} (key {auth.removeprefix('Bearer ')})")


@pytest.mark.parametrize("key", [VALID_KEY, PLAIN_KEY])
def test_key_scrubbed_from_raised_errors(key):
    with pytest.raises(ProbeError) as info:
        run("http://127.0.0.1:9", key, transport=ExplodingTransport())
    message = str(info.value)
    assert "boom while sending" in message and "[REDACTED]" in message
    for needle in (key, "sk-", "Bearer"):
        assert needle not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_key": VALID_KEY + "\n"}, "cannot be sent in an HTTP header"),
        ({"api_key": "sk-has space-0123456789"}, "cannot be sent in an HTTP header"),
        ({"api_key": ""}, "no API key"),
        ({"api_key": None}, "no API key"),
        ({"route": "embeddings"}, "--route must be one of"),
        ({"url": "ftp://127.0.0.1/"}, "http:// or https://"),
        ({"url": f"http://user:{VALID_KEY}@127.0.0.1:9/"}, "must not carry credentials"),
        ({"url": "http://127.0.0.1:notaport/"}, "not a valid URL"),
        ({"owner": ""}, "must not be empty"),
    ],
)
def test_bad_arguments_raise_input_error_without_secrets(kwargs, message):
    options: dict[str, object] = {
        "api_key": VALID_KEY,
        "model": "gpt-4o-mini",
        "owner": "o",
        "now": fixed_now,
    }
    url = kwargs.pop("url", "http://127.0.0.1:9")
    options.update(kwargs)
    with pytest.raises(InputError) as info:
        run_probe(url, **options)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert VALID_KEY not in str(info.value) and "sk-" not in str(info.value)


def test_naive_clock_is_refused(gateway):
    from datetime import datetime

    with pytest.raises(InputError, match="timezone-aware"):
        run(gateway.url, VALID_KEY, now=lambda: datetime(2026, 6, 15))


def test_read_api_key_from_named_variable():
    env = {"COMETAPI_KEY": f"  {VALID_KEY}\n", "EMPTY": ""}
    assert read_api_key("COMETAPI_KEY", env) == VALID_KEY
    with pytest.raises(InputError, match="MISSING is not set"):
        read_api_key("MISSING", env)
    with pytest.raises(InputError, match="EMPTY is not set"):
        read_api_key("EMPTY", env)


@pytest.mark.parametrize("pasted", [VALID_KEY, "Bearer abc", "not a name", ""])
def test_a_pasted_key_is_refused_as_variable_name(pasted):
    with pytest.raises(InputError) as info:
        read_api_key(pasted, {pasted: "x"})
    assert "name of an environment variable" in str(info.value)
    assert VALID_KEY not in str(info.value)
