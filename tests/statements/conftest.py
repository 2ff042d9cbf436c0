"""Fixtures for the statement tests: the spine's CLI runner on a fresh workspace, and the sample files."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.spine.conftest import Cli

DATA = Path(__file__).resolve().parent.parent / "data" / "statements"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    c = Cli(tmp_path / "ws")
    c("init")
    return c
