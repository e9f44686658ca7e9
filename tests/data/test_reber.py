"""The Reber grammars: generation, the automaton's legal next symbols, encoding, scoring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagnet.data import reber
from dagnet.errors import DataError

# Strings from the literature (Fahlman's and Hochreiter & Schmidhuber's examples).
VALID = ["BTXSE", "BPVVE", "BTSSXXTVVE", "BPVPXVPXVPXVVE", "BTSXXTVPSE", "BPTTVVE"]
INVALID = ["BTSE", "BTXXE", "TXSE", "BPVV", "BTXSEE", "BPVPTE", "BXSE"]


def as_sets(legal: np.ndarray) -> list[str]:
    return ["".join(reber.SYMBOLS[k] for k in np.flatnonzero(row)) for row in legal]


@pytest.mark.parametrize("string", VALID)
def test_known_strings_are_valid(string):
    assert reber.is_valid(string)
    assert reber.is_valid(f"BT{string}TE", embedded=True)
    assert reber.is_valid(f"BP{string}PE", embedded=True)


@pytest.mark.parametrize("string", INVALID)
def test_known_non_strings_are_refused(string):
    assert not reber.is_valid(string)
    with pytest.raises(DataError, match=repr(string)):
        reber.reber_states(string)


def test_embedded_strings_must_close_with_their_branch():
    assert not reber.is_valid("BTBTXSEPE", embedded=True)
    assert not reber.is_valid("BTXSE", embedded=True)
    assert not reber.is_valid("BTBTXSETE")


def test_legal_next_symbols_of_a_reber_string():
    # B→{T,P}, T→{S,X}, S→{S,X}, X→{S,X}, X→{T,V}, T→{T,V}, V→{P,V}, V→{E}
    assert as_sets(reber.legal_next("BTSXXTVVE")) == ["TP", "SX", "SX", "SX", "TV", "TV",
                                                       "PV", "E"]


def test_legal_next_symbols_of_an_embedded_string():
    sets = as_sets(reber.legal_next("BPBTXSEPE", embedded=True))
    assert sets == ["TP", "B", "TP", "SX", "SX", "E", "P", "E"]
    # The only long-range prediction: after the inner E, the branch chosen at position 1.
    assert as_sets(reber.legal_next("BTBTXSETE", embedded=True))[-2] == "T"


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), embedded=st.booleans())
def test_generated_strings_are_in_the_grammar(seed, embedded):
    rng = np.random.default_rng(seed)
    for string in reber.generate(20, rng, embedded):
        assert reber.is_valid(string, embedded)
        legal = reber.legal_next(string, embedded)
        # Every symbol that came next was legal, and there are 1 or 2 choices.
        following = np.array([reber.INDEX[s] for s in string[1:]])
        assert legal[np.arange(len(following)), following].all()
        assert set(legal.sum(axis=1)) <= {1, 2}
        assert len(reber.state_labels(string, embedded)) == len(string) - 1


def test_generation_is_seeded_and_balanced():
    a = reber.generate(2000, np.random.default_rng(1), embedded=True)
    b = reber.generate(2000, np.random.default_rng(1), embedded=True)
    assert a == b
    assert a != reber.generate(2000, np.random.default_rng(2), embedded=True)
    share_t = np.mean([s[1] == "T" for s in a])
    assert 0.45 < share_t < 0.55
    lengths = [len(s) for s in reber.generate(2000, np.random.default_rng(3))]
    assert min(lengths) == 5 and 7 < np.mean(lengths) < 10


def test_encode_batch_pads_with_zero_rows():
    X, Y = reber.encode_batch(["BTXSE", "BPVPSE"], np.float32)
    assert X.shape == Y.shape == (5, 2, 7) and X.dtype == np.float32
    assert X[:, 0].sum() == 4 and Y[:, 0].sum() == 4  # 4 steps, one padded
    assert not X[4, 0].any() and not Y[4, 0].any()
    assert "".join(reber.SYMBOLS[k] for k in X[:, 1].argmax(axis=1)) == "BPVPS"
    assert "".join(reber.SYMBOLS[k] for k in Y[:, 1].argmax(axis=1)) == "PVPSE"
    with pytest.raises(DataError, match="'Q'"):
        reber.one_hot("BQE")


def ideal_probabilities(strings, embedded):
    """Uniform over the legal next symbols: what a perfect predictor outputs."""
    T = max(len(s) for s in strings) - 1
    p = np.zeros((T, len(strings), 7))
    for b, s in enumerate(strings):
        legal = reber.legal_next(s, embedded)
        p[:len(s) - 1, b] = legal / legal.sum(axis=1, keepdims=True)
    return p


def test_accuracy_of_a_perfect_and_of_a_forgetful_predictor():
    strings = reber.generate(200, np.random.default_rng(4), embedded=True)
    p = ideal_probabilities(strings, True)
    assert reber.prediction_accuracy(p, strings, True) == {
        "accuracy": 1.0, "penultimate_accuracy": 1.0}
    # Forgetting the branch: T and P at 0.5 before the last symbol.
    for b, s in enumerate(strings):
        p[len(s) - 3, b] = 0
        p[len(s) - 3, b, [reber.INDEX["T"], reber.INDEX["P"]]] = 0.5
    assert reber.prediction_accuracy(p, strings, True) == {
        "accuracy": 0.0, "penultimate_accuracy": 0.0}


def test_the_threshold_decides_which_symbols_are_predicted():
    strings = ["BTXSE"]
    p = ideal_probabilities(strings, False)
    assert reber.prediction_accuracy(p, strings)["accuracy"] == 1.0
    assert reber.prediction_accuracy(p, strings, threshold=0.6)["accuracy"] == 0.0
    p[0, 0] = [0, 0.65, 0, 0, 0.35, 0, 0]  # T 0.65, P 0.35: both above 0.3
    assert reber.prediction_accuracy(p, strings)["accuracy"] == 1.0
    p[0, 0] = [0, 0.75, 0, 0, 0.25, 0, 0]  # P below 0.3: missed
    assert reber.prediction_accuracy(p, strings)["accuracy"] == 0.0


def test_sample_batch_draws_and_encodes_fresh_strings():
    X, Y = reber.sample_batch(5, np.random.default_rng(7), embedded=True, dtype=np.float32)
    strings = reber.generate(5, np.random.default_rng(7), embedded=True)
    expected_X, expected_Y = reber.encode_batch(strings, np.float32)
    assert X.dtype == np.float32 and X.shape == (max(map(len, strings)) - 1, 5, 7)
    np.testing.assert_array_equal(X, expected_X)
    np.testing.assert_array_equal(Y, expected_Y)
