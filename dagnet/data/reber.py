"""The Reber grammar and the embedded Reber grammar, as sequences to learn.

The Reber automaton (Reber, 1967) writes strings over the 7 symbols B T S X P V E:
from each state one of two transitions is taken at random, each labelled with a
symbol, until E.  The embedded grammar (Hochreiter & Schmidhuber, 1997) wraps a
Reber string as B T ⟨Reber⟩ T E or B P ⟨Reber⟩ P E: predicting the second-to-last
symbol needs to remember the second one across the whole inner string.

A net reads a string one symbol at a time and predicts the next one.  Since the
automaton is deterministic given the symbols read, the set of symbols that may
legally come next is known at every position: ``legal_next`` gives it, and a
string counts as predicted correctly when, at every position, the symbols whose
predicted probability exceeds a threshold are exactly the legal ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.errors import DataError

SYMBOLS = "BTSXPVE"
INDEX = {symbol: k for k, symbol in enumerate(SYMBOLS)}

# state -> (symbol, next state) for each of its two (or one) transitions; state 0 is
# reached after B, END after E.
END = 6
TRANSITIONS: dict[int, tuple[tuple[str, int], ...]] = {
    0: (("T", 1), ("P", 5)),
    1: (("S", 1), ("X", 2)),
    2: (("S", 3), ("X", 5)),
    3: (("E", END),),
    4: (("V", 3), ("P", 2)),
    5: (("V", 4), ("T", 5)),
}


def reber_string(rng: np.random.Generator) -> str:
    """One Reber string, each branch taken with probability 1/2: 'BTSSXXTVVE', 'BPVVE'..."""
    symbols, state = ["B"], 0
    while state != END:
        choices = TRANSITIONS[state]
        symbol, state = choices[rng.integers(len(choices))]
        symbols.append(symbol)
    return "".join(symbols)


def embedded_reber_string(rng: np.random.Generator) -> str:
    """B T ⟨Reber⟩ T E or B P ⟨Reber⟩ P E, T or P with probability 1/2."""
    branch = "TP"[rng.integers(2)]
    return f"B{branch}{reber_string(rng)}{branch}E"


def generate(n: int, rng: np.random.Generator, embedded: bool = False) -> list[str]:
    """``n`` strings of the (embedded) Reber grammar drawn with ``rng``."""
    make = embedded_reber_string if embedded else reber_string
    return [make(rng) for _ in range(n)]


# -- the automaton, run over a string ----------------------------------------------------

def reber_states(string: str) -> list[int]:
    """The automaton's state after each symbol of a Reber string (END after E).

    Raises DataError naming the position if the string is not in the grammar.
    """
    if not string.startswith("B"):
        raise DataError(f"{string!r} is not a Reber string: it must start with B")
    states, state = [0], 0
    for k, symbol in enumerate(string[1:], start=1):
        step = dict(TRANSITIONS.get(state, ()))
        if symbol not in step:
            raise DataError(f"{string!r} is not a Reber string: {symbol!r} at position {k} "
                            f"(expected one of {''.join(step) or 'nothing'})")
        state = step[symbol]
        states.append(state)
    if state != END:
        raise DataError(f"{string!r} is not a Reber string: it stops before E")
    return states


# Embedded grammar: outer states around the inner automaton.
OUTER_START, OUTER_BRANCH, INNER_END, OUTER_LAST, OUTER_END = range(5)


def _embedded_trace(string: str) -> list[tuple[str, int]]:
    """(where, state) after each symbol: where is 'outer' or 'inner'."""
    if len(string) < 9 or string[0] != "B" or string[1] not in "TP":
        raise DataError(f"{string!r} is not an embedded Reber string: it must start with "
                        "BT or BP and hold a Reber string")
    if string[-2:] != string[1] + "E":
        raise DataError(f"{string!r} is not an embedded Reber string: it must end with "
                        f"{string[1]}E, as its second symbol is {string[1]}")
    inner = reber_states(string[2:-2])
    trace = [("outer", OUTER_START), ("outer", OUTER_BRANCH)]
    trace += [("inner", s) for s in inner[:-1]] + [("outer", INNER_END)]
    trace += [("outer", OUTER_LAST), ("outer", OUTER_END)]
    return trace


def is_valid(string: str, embedded: bool = False) -> bool:
    """Whether ``string`` belongs to the (embedded) Reber grammar."""
    try:
        _embedded_trace(string) if embedded else reber_states(string)
    except DataError:
        return False
    return True


def legal_next(string: str, embedded: bool = False) -> np.ndarray:
    """A (len - 1, 7) boolean array: row t marks the symbols that may follow string[:t+1]."""
    legal = np.zeros((len(string) - 1, len(SYMBOLS)), dtype=bool)
    if embedded:
        branch = INDEX[string[1]]
        for t, (where, state) in enumerate(_embedded_trace(string)[:-1]):
            if where == "inner":
                legal[t, [INDEX[s] for s, _ in TRANSITIONS[state]]] = True
            elif state == OUTER_START:
                legal[t, [INDEX["T"], INDEX["P"]]] = True
            elif state == OUTER_BRANCH:
                legal[t, INDEX["B"]] = True
            elif state == INNER_END:
                legal[t, branch] = True
            else:  # OUTER_LAST
                legal[t, INDEX["E"]] = True
    else:
        for t, state in enumerate(reber_states(string)[:-1]):
            legal[t, [INDEX[s] for s, _ in TRANSITIONS[state]]] = True
    return legal


def state_labels(string: str, embedded: bool = False) -> list[str]:
    """A name for the automaton's state after each symbol but the last (what a net's
    hidden state at that position should encode): '0'…'5' for the Reber automaton;
    for the embedded one, 'T:3' (inner state 3 in the T branch), 'start', 'T:B'…"""
    if not embedded:
        return [str(s) for s in reber_states(string)[:-1]]
    branch = string[1]
    outer = {OUTER_START: "start", OUTER_BRANCH: f"{branch}:branch",
             INNER_END: f"{branch}:inner E", OUTER_LAST: f"{branch}:last"}
    return [f"{branch}:{state}" if where == "inner" else outer[state]
            for where, state in _embedded_trace(string)[:-1]]


# -- encoding and scoring ----------------------------------------------------------------

def one_hot(string: str, dtype=np.float64) -> np.ndarray:
    """(len, 7) one-hot rows of the symbols of ``string``."""
    try:
        index = [INDEX[s] for s in string]
    except KeyError as exc:
        raise DataError(f"{string!r} has a symbol outside {SYMBOLS}: {exc.args[0]!r}") from None
    return np.eye(len(SYMBOLS), dtype=dtype)[index]


def encode_batch(strings: Sequence[str], dtype=np.float64, length: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets for a batch of strings, time first and padded.

    X:(T, B, 7) one-hot rows of each string but its last symbol; Y:(T, B, 7) one-hot
    rows of the symbol that follows.  T = the longest string minus one (or ``length``);
    the padding is all-zero rows, which the softmax cross-entropy ignores.
    """
    steps = max(len(s) for s in strings) - 1
    length = steps if length is None else int(length)
    if length < steps:
        raise ValueError(f"length {length} is shorter than the longest string ({steps} steps)")
    X = np.zeros((length, len(strings), len(SYMBOLS)), dtype=dtype)
    Y = np.zeros_like(X)
    for b, string in enumerate(strings):
        rows = one_hot(string, dtype)
        X[:len(string) - 1, b] = rows[:-1]
        Y[:len(string) - 1, b] = rows[1:]
    return X, Y


def sample_batch(n: int, rng: np.random.Generator, embedded: bool = False,
                 dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``n`` fresh strings drawn with ``rng``, encoded by ``encode_batch``: X, Y (T, B, 7),
    time first, padded to the longest string with all-zero rows (masked in the cost)."""
    return encode_batch(generate(n, rng, embedded), dtype)


def prediction_accuracy(probabilities: np.ndarray, strings: Sequence[str],
                        embedded: bool = False, threshold: float = 0.3) -> dict:
    """Score predicted next-symbol probabilities (T, B, 7), time first, of a batch.

    A string is correct when, at every position, the symbols with probability above
    ``threshold`` are exactly the legal next ones.  Returns ``accuracy`` (the fraction
    of strings correct) and, for embedded strings, ``penultimate_accuracy``: the
    fraction whose second-to-last symbol (the T or P that needs long memory) is
    predicted correctly by the same rule.
    """
    correct, penultimate = 0, 0
    for b, string in enumerate(strings):
        n = len(string) - 1
        predicted = probabilities[:n, b] > threshold
        legal = legal_next(string, embedded)
        correct += bool(np.array_equal(predicted, legal))
        if embedded:
            penultimate += bool(np.array_equal(predicted[n - 2], legal[n - 2]))
    result = {"accuracy": correct / len(strings)}
    if embedded:
        result["penultimate_accuracy"] = penultimate / len(strings)
    return result
