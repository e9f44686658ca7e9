"""Load model files in a fresh process and measure every load: outcome, time, peak memory.

The tests of hostile and fuzzed files run this module as a subprocess, so that the
peak memory of one load is not hidden by what the test process already holds::

    python -m tests.hostile_probe files  < [{"kind": "graph", "path": "..."}, ...]
    python -m tests.hostile_probe fuzz   < {"folder": "...", "seed": 0, "seconds": 3}

Both print one JSON object.  ``kind`` is how the file is loaded: ``graph``
(``dagnet.load``, then one propagate), ``recurrent`` and ``charrnn``
(``read_model_file`` and the io-level schema check, then the model's own ``load``
and one step: the order the model loaders will follow once they call the check).
Outcomes: ``loaded`` (and the model ran, or refused its input with a DagnetError),
``refused`` (a DagnetError at load), ``crashed`` (anything else, with the traceback).
Peak memory is VmHWM, reset before each load through /proc/self/clear_refs
(Linux); elsewhere, tracemalloc's peak.  The process runs under a 3 GiB address
space limit, so a regression fails with MemoryError instead of swamping the machine.
"""

from __future__ import annotations

import json
import resource
import struct
import sys
import time
import traceback
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

import dagnet
from dagnet.errors import DagnetError
from dagnet.io import read_model_file
from dagnet.limits import Limits
from dagnet.models.charrnn import CharRNN
from dagnet.models.rnn import RecurrentNetwork
from dagnet.schema import about

KINDS = ("graph", "recurrent", "charrnn")
ADDRESS_SPACE = 3 << 30

def check_recurrent_config(path, config, weights, limits=None):
    """The check RecurrentNetwork.load makes before building, naming the file."""
    with about(path):
        RecurrentNetwork.check_file(config, weights, limits or Limits())


def check_charrnn_config(path, config, weights, limits=None):
    """The check CharRNN.load makes before building, naming the file."""
    with about(path):
        CharRNN.check_file(config, weights, limits or Limits())



# -- loading ---------------------------------------------------------------------------

def load_and_run(kind: str, path: Path) -> bool:
    """Load ``path`` as ``kind`` and run the model once; False when the model refused its
    input with a DagnetError (a graph whose nodes do not fit together)."""
    if kind == "graph":
        graph = dagnet.load(path)
        x = np.linspace(-1, 1, 10).reshape(5, 2)
        try:
            graph.propagate([x] * len(graph.input_nodes))
        except DagnetError:
            return False
        return True
    if kind == "recurrent":
        content = read_model_file(path, "dagnet-recurrent", 1, "recurrent network")
        check_recurrent_config(path, content.config, content.weights)
        net = RecurrentNetwork.load(path)
        x = (np.zeros((2, 3), dtype=np.int64) if net.inputs == "indices"
             else np.full((2, 3, net.n_inputs), 0.5, dtype=net.dtype))
        states = [np.zeros((3, c.n_hidden), dtype=net.dtype)
                  for c in net.cells for _ in c.state_names]
        net.graph(2).propagate([x] + states)
        return True
    content = read_model_file(path, "dagnet-charrnn", 1, "char-rnn model")
    check_charrnn_config(path, content.config, content.weights)
    net = CharRNN.load(path)
    net.step(np.zeros(3, dtype=np.int64), net.initial_state(3))
    return True


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS; False where the system cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _status_kib("VmHWM")
        return True
    except OSError:
        return False


def measure(kind: str, path: Path) -> dict:
    """One load of ``path``: outcome, message, seconds and peak memory growth in bytes."""
    by_rss = _reset_peak()
    if by_rss:
        before = _status_kib("VmRSS")
    else:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        ran = load_and_run(kind, path)
        outcome, message = "loaded", "" if ran else "the model refused its input"
    except DagnetError as exc:
        outcome, message = "refused", str(exc)
    except BaseException:  # noqa: BLE001 - a crash is what this probe exists to report
        outcome, message = "crashed", traceback.format_exc()
    seconds = time.perf_counter() - start
    if by_rss:
        growth = (_status_kib("VmHWM") - before) * 1024
    else:
        growth = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"kind": kind, "path": str(path), "outcome": outcome, "message": message,
            "seconds": seconds, "peak_growth": growth}


# -- fuzzing ---------------------------------------------------------------------------

def sample_models(folder: Path) -> dict[str, Path]:
    """A small saved MLP, recurrent network and char-rnn checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    mlp = dagnet.fully_connected([4, 3], n_inputs=2, rng=np.random.default_rng(0))
    recurrent = RecurrentNetwork("lstm", 3, 4, 3, rng=np.random.default_rng(1))
    charrnn = CharRNN("\nabc", hidden=[5, 4], cell="gru", embedding=3,
                      rng=np.random.default_rng(2))
    return {
        "graph": dagnet.save(mlp, folder / "mlp.safetensors",
                             metadata={"note": "fuzz", "sizes": [4, 3]},
                             extra_tensors={"preprocessing/mean": np.zeros(2)}),
        "recurrent": recurrent.save(folder / "rnn.safetensors", metadata={"vocabulary": "ab"}),
        "charrnn": charrnn.save(folder / "char.safetensors",
                                metadata={"step": 7, "history": [2.5, 2.25]},
                                extra_tensors={"optimizer/0/m": np.zeros(3, np.float32),
                                               "rng": np.arange(4, dtype=np.uint64)}),
    }


HOSTILE_VALUES = [-1, 0, 1, 2, 3, 7, 10**7, 10**12, 2**63, 10**400, True, False, None, 0.5, 1e308,
                  float("nan"), float("inf"), "", "x", "TanhNode", "GradientNode",
                  "OneHotLinearNode", "SplitNode", "parameters/0", "float16", "int64", "F16",
                  "I64", [], {}, [0, 0], [[0, 0]], [1] * 40, {"nb_outputs": 10**7}]


def _deep(levels: int):
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def _slots(value, slots: list) -> list:
    """Every (container, key) of a JSON value, depth first."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in list(items):
        slots.append((value, key))
        if isinstance(item, (dict, list)):
            _slots(item, slots)
    return slots


def edit_json(value, rng: np.random.Generator):
    """``value`` with one random edit: a value replaced (by a hostile one, a small
    integer, or another value of the same document), a key removed or added."""
    slots = _slots(value, [])
    if not slots:
        return HOSTILE_VALUES[rng.integers(len(HOSTILE_VALUES))]
    container, key = slots[rng.integers(len(slots))]
    action = rng.integers(6)
    if action == 0 and isinstance(container, dict):
        del container[key]
    elif action == 1 and isinstance(container, dict):
        container["unknown"] = 1
    elif action == 2:
        container[key] = int(rng.integers(0, 8))
    elif action == 3:
        other, other_key = slots[rng.integers(len(slots))]
        container[key] = json.loads(json.dumps(other[other_key]))
    elif action == 4:
        container[key] = _deep(int(rng.choice([3, 60, 200])))
    else:
        container[key] = HOSTILE_VALUES[rng.integers(len(HOSTILE_VALUES))]
    return value


def mutate(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """A truncation, byte flips, or a field edit of the model file ``data``."""
    header_size = struct.unpack("<Q", data[:8])[0]
    kind = ("truncate", "flip", "edit")[rng.integers(3)]
    if kind == "truncate":
        return kind, data[:rng.integers(0, len(data))]
    if kind == "flip":
        flipped = bytearray(data)
        for _ in range(rng.integers(1, 9)):
            end = 8 + header_size if rng.random() < 0.8 else len(data)
            flipped[rng.integers(0, end)] = rng.integers(256)
        return kind, bytes(flipped)
    header = json.loads(data[8:8 + header_size])
    target = rng.choice(["config", "metadata", "table", "header"], p=[0.55, 0.15, 0.2, 0.1])
    if target == "header":
        header = edit_json(header, rng)
    elif target == "table":
        names = sorted(k for k in header if k != "__metadata__")
        name = names[rng.integers(len(names))]
        header[name] = edit_json(header[name], rng)
    else:
        meta = header["__metadata__"]
        meta[target] = json.dumps(edit_json(json.loads(meta[target]), rng))
    text = json.dumps(header).encode()
    return f"edit {target}", struct.pack("<Q", len(text)) + text + data[8 + header_size:]


def fuzz(folder: Path, seed: int, seconds: float) -> dict:
    """Mutated copies of each sample model, loaded until ``seconds`` per kind run out."""
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(seed)
    report: dict = {"cases": 0, "outcomes": {}, "max_seconds": 0.0, "max_peak_growth": 0,
                    "crashes": [], "baseline": {}}
    for kind, path in sample_models(folder / "models").items():
        report["baseline"][kind] = measure(kind, path)
        data = path.read_bytes()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            how, mutated = mutate(data, rng)
            target = folder / f"{kind}.safetensors"
            target.write_bytes(mutated)
            result = measure(kind, target)
            report["cases"] += 1
            outcome = result["outcome"] + (" (input refused)" if result["outcome"] == "loaded"
                                           and result["message"] else "")
            key = f"{kind} {how}: {outcome}"
            report["outcomes"][key] = report["outcomes"].get(key, 0) + 1
            report["max_seconds"] = max(report["max_seconds"], result["seconds"])
            report["max_peak_growth"] = max(report["max_peak_growth"], result["peak_growth"])
            if result["outcome"] == "crashed" or "corrupt model description (" in result[
                    "message"]:
                report["crashes"].append({"how": how, "message": result["message"],
                                          "file": mutated.hex()[:20000]})
    return report


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > ADDRESS_SPACE:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, hard))
    request = json.load(sys.stdin)
    if sys.argv[1] == "files":
        warnings.simplefilter("ignore")
        result = {"results": [measure(r["kind"], Path(r["path"])) for r in request]}
    else:
        result = fuzz(Path(request["folder"]), request["seed"], request["seconds"])
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
