"""Fixtures for the review tests: the demo workspace built once, copied per test, driven through the CLI."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.spine.conftest import AS_OF, Cli  # noqa: F401  (one CLI driver for every suite)

from costproof.service import demo

PERIOD = "2026-06"


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("review-template") / "ws"
    demo.build(root, now=datetime(2026, 7, 2, 9, tzinfo=UTC))
    return root


@pytest.fixture
def cli(demo_template: Path, tmp_path: Path) -> Cli:
    root = tmp_path / "ws"
    shutil.copytree(demo_template, root)
    return Cli(root)
