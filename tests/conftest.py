"""Shared fixtures: seeded generators, the shared data sets and the reference libraries.

Locally a test whose data set or reference library is missing skips.  Under CI (``CI`` set,
as CI services do) it fails instead, so a CI run cannot pass by skipping what it should check.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# The independent references the tests compare dagnet against, each with the extra of
# pyproject.toml that installs it.  .ci/run installs every extra named here, and under CI a
# missing one fails: adding a reference is one line here.
REFERENCES: dict[str, str] = {
    "torch": "compare",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "mpi4py": "mpi",
}


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set (to anything but ``0``/``false``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def _skip_or_fail(message: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{message} (CI is set: what a test needs must be there)", pytrace=False)
    # Module level too: require() runs where pytest.importorskip would.
    pytest.skip(message, allow_module_level=True)


def find_shared_data() -> Path:
    """$DAGNET_DATA_DIR, else ``../shared/data`` beside the checkout: the first that exists.

    Either is a root holding ``mnist/`` and ``tinyshakespeare/``.
    """
    variable = os.environ.get("DAGNET_DATA_DIR")
    candidates = ([Path(variable)] if variable else []) + [ROOT.parent / "shared" / "data"]
    return next((path for path in candidates if path.is_dir()), candidates[-1])


SHARED_DATA = find_shared_data()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def require_data(path: Path) -> Path:
    """``path`` if it exists; otherwise skip, or fail under CI, where the data must be."""
    if not path.exists():
        _skip_or_fail(f"shared data not found: {path} (set DAGNET_DATA_DIR to the data root)")
    return path


def require(module: str) -> ModuleType:
    """The reference library ``module`` (a key of REFERENCES); without it skip, or fail under CI.

    Use it instead of ``pytest.importorskip``, at the top of a test module:
    ``torch = require("torch")``.
    """
    if module not in REFERENCES:
        raise KeyError(f"require({module!r}): not a reference; add it to REFERENCES in "
                       f"tests/conftest.py with the extra that installs it")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        _skip_or_fail(f"{module} is not installed ({exc}); "
                      f'pip install -e ".[{REFERENCES[module]}]" runs these tests')
