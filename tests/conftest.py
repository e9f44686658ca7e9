"""Shared fixtures: seeded generators and the location of the shared data sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def require_data(path: Path) -> Path:
    """``path`` if it exists; otherwise skip, or fail in CI (CI=true), where the data must be."""
    if path.exists():
        return path
    message = f"shared data not found: {path}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
