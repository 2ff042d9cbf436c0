"""A small OpenAI-compatible gateway on loopback for probe tests: usage, auth errors, SSE."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

# Planted in every body the gateway sends: none of it may reach a report or an error.
CANARY_SENTENCE = "The vault combination is 7-7-3-1 and the auditor must never see it"
CANARY_KEY = "sk-gatewayLeakedSecret0123456789"
KNOWN_MODELS = ("gpt-4o-mini", "claude-3-5-haiku")
RESPONSE_IDS = {
    "chat.completions": "chatcmpl-canary0001",
    "responses": "resp_canary0001",
    "messages": "msg_canary0001",
}
MAX_ALLOWED_TOKENS = 16
# The key the shared test gateway accepts, and the clock every test probe reads.
VALID_KEY = "sk-live-costproofTESTkey-0123456789abcdef"
FIXED_NOW = datetime(2026, 6, 15, 9, 30, 0, tzinfo=UTC)


def fixed_now() -> datetime:
    return FIXED_NOW


def create_app(valid_key: str, *, stream_usage: bool = True, delay: float = 0.0) -> FastAPI:
    """`stream_usage=False` drops the usage chunk from streams; `delay` stalls every answer."""
    app = FastAPI()
    # What each request looked like (no key values): tests assert on the probe's own behaviour.
    app.state.seen = []

    async def admit(request: Request, family: str) -> tuple[dict[str, Any], JSONResponse | None]:
        if delay:
            await asyncio.sleep(delay)
        body: dict[str, Any] = {}
        if request.method == "POST":
            body = await request.json()
        auth = request.headers.get("authorization", "")
        presented = auth.removeprefix("Bearer ").strip() or request.headers.get("x-api-key", "")
        app.state.seen.append(
            {
                "family": family,
                "key_valid": presented == valid_key,
                "x_api_key": "x-api-key" in request.headers,
                "model": body.get("model"),
                "max_tokens": body.get("max_tokens", body.get("max_output_tokens")),
                "stream": body.get("stream", False),
                "stream_options": body.get("stream_options"),
            }
        )
        if presented != valid_key:
            message = f"Incorrect API key provided: {presented}. {CANARY_SENTENCE}"
            return body, JSONResponse({"error": _error(message, "invalid_api_key")}, 401)
        if family == "models":
            return body, None
        model = body.get("model")
        if model not in KNOWN_MODELS:
            message = f"The model `{model}` does not exist; {CANARY_KEY} {CANARY_SENTENCE}"
            # Gateways differ here: new-api answers 404 or 400 depending on the route.
            code = 400 if family == "responses" else 404
            return body, JSONResponse({"error": _error(message, "model_not_found")}, code)
        limit = body.get("max_tokens", body.get("max_output_tokens"))
        if not isinstance(limit, int) or limit > MAX_ALLOWED_TOKENS:
            return body, JSONResponse({"error": _error("max tokens too high", "bad_request")}, 400)
        return body, None

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        _, refused = await admit(request, "models")
        if refused:
            return refused
        data = [{"id": m, "object": "model", "owned_by": CANARY_KEY} for m in KNOWN_MODELS]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body, refused = await admit(request, "chat.completions")
        if refused:
            return refused
        text = _answer(body)
        rid = RESPONSE_IDS["chat.completions"]
        usage = {
            "prompt_tokens": 12,
            "completion_tokens": 1,
            "total_tokens": 13,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        if body.get("stream"):
            include = (body.get("stream_options") or {}).get("include_usage") and stream_usage
            events = [
                {"id": rid, "object": "chat.completion.chunk", "choices": [c], "usage": None}
                for c in ({"index": 0, "delta": {"content": w}} for w in text.split(" "))
            ]
            if include:
                events.append(
                    {"id": rid, "object": "chat.completion.chunk", "choices": [], "usage": usage}
                )
            return _sse([(None, e) for e in events], done=True)
        message = {"role": "assistant", "content": text}
        return {
            "id": rid,
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "length"}],
            "usage": usage,
        }

    @app.post("/v1/responses")
    async def responses(request: Request) -> Any:
        body, refused = await admit(request, "responses")
        if refused:
            return refused
        text = _answer(body)
        usage = {
            "input_tokens": 11,
            "input_tokens_details": {"cached_tokens": 3},
            "output_tokens": 16,
            "output_tokens_details": {"reasoning_tokens": 2},
            "total_tokens": 27,
        }
        done = {
            "id": RESPONSE_IDS["responses"],
            "object": "response",
            "status": "incomplete",
            "output": [{"type": "message", "content": [{"type": "output_text", "text": text}]}],
        }
        if body.get("stream"):
            events = [
                (
                    "response.created",
                    {"type": "response.created", "response": {**done, "output": []}},
                ),
                (
                    "response.output_text.delta",
                    {"type": "response.output_text.delta", "delta": text},
                ),
            ]
            if stream_usage:
                done = {**done, "usage": usage}
            events.append(("response.completed", {"type": "response.completed", "response": done}))
            return _sse(events, done=False)
        return {**done, "usage": usage}

    @app.post("/v1/messages")
    async def messages(request: Request) -> Any:
        body, refused = await admit(request, "messages")
        if refused:
            return refused
        text = _answer(body)
        rid = RESPONSE_IDS["messages"]
        usage = {"input_tokens": 14, "output_tokens": 5, "cache_read_input_tokens": 4}
        if body.get("stream"):
            start = {"id": rid, "type": "message", "role": "assistant", "content": []}
            if stream_usage:
                start["usage"] = {"input_tokens": 14, "output_tokens": 1}
            delta: dict[str, Any] = {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens"},
            }
            if stream_usage:
                delta["usage"] = {"output_tokens": 5}
            events = [
                ("message_start", {"type": "message_start", "message": start}),
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "delta": {"type": "text_delta", "text": text}},
                ),
                ("message_delta", delta),
                ("message_stop", {"type": "message_stop"}),
            ]
            return _sse(events, done=False)
        return {
            "id": rid,
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "max_tokens",
            "usage": usage,
        }

    return app


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "type": "invalid_request_error", "code": code}


def _answer(body: dict[str, Any]) -> str:
    # Echo the prompt and leak secrets, as a careless gateway might.
    prompt = body.get("input") or (body.get("messages") or [{}])[0].get("content", "")
    return f"ok. {CANARY_SENTENCE}. {CANARY_KEY}. You said: {prompt}"


def _sse(events: list[tuple[str | None, dict[str, Any]]], *, done: bool) -> StreamingResponse:
    async def gen() -> AsyncIterator[bytes]:
        for name, data in events:
            head = f"event: {name}\n" if name else ""
            yield f"{head}data: {json.dumps(data)}\n\n".encode()
        if done:
            yield b"data: [DONE]\n\n"

    return StreamingResponse(gen(), media_type="text/event-stream")


class GatewayServer:
    """Runs an app with uvicorn on 127.0.0.1, on a port bound before the thread starts."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test gateway did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


def closed_port_url() -> str:
    """A loopback URL nobody listens on: the port was bound, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the probe test gateway on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--key-env", default="COMETAPI_KEY", help="variable holding the valid key")
    parser.add_argument("--no-stream-usage", action="store_true")
    args = parser.parse_args()
    app = create_app(os.environ[args.key_env], stream_usage=not args.no_stream_usage)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
