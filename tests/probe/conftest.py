"""Fixtures for probe tests: real test gateways served by uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from probe_fake_gateway import VALID_KEY, GatewayServer, create_app


@pytest.fixture(scope="session")
def gateway() -> Iterator[GatewayServer]:
    with GatewayServer(create_app(VALID_KEY)) as server:
        yield server


@pytest.fixture()
def make_gateway() -> Iterator[Callable[..., GatewayServer]]:
    """Start a gateway with its own key and options; stopped when the test ends."""
    with ExitStack() as stack:

        def start(key: str = VALID_KEY, **options: object) -> GatewayServer:
            return stack.enter_context(GatewayServer(create_app(key, **options)))

        yield start
