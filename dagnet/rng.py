"""Random generators: seeded streams, and their state in checkpoints.

Randomness in dagnet comes through explicit ``np.random.Generator`` objects, never
global seeding.  A run's seed feeds one ``SeedSequence`` split into independent
streams (initial weights, shuffling, dropout...), so the same seed gives the same
run bit for bit, and drawing more from one stream leaves the others unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_BIT_GENERATORS = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM,
                   "Philox": np.random.Philox, "SFC64": np.random.SFC64,
                   "MT19937": np.random.MT19937}


def seed_streams(seed: int, names: Sequence[str]) -> dict[str, np.random.Generator]:
    """Independent generators, one per use of randomness (``names``), all from one seed.

    Stream k is the k-th child of ``SeedSequence(seed)``: keep the order of ``names``
    fixed, and add new uses at the end.
    """
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children)}


def rng_state(rng: np.random.Generator) -> dict:
    """A generator's state, JSON-ready."""
    return rng.bit_generator.state


def rng_from_state(state: dict) -> np.random.Generator:
    """The generator ``rng_state`` described (NumPy's own bit generators only)."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise ValueError(f"unknown bit generator {name!r}")
    bit_generator = _BIT_GENERATORS[name]()
    bit_generator.state = state
    return np.random.Generator(bit_generator)
