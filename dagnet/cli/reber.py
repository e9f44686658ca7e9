"""``dagnet reber`` and ``dagnet reber-compare``: recurrent nets learn the Reber grammars.

``reber`` trains one RNN, LSTM or GRU to predict the next symbol of (embedded)
Reber strings, a batch of padded strings per update, and writes into its run
folder ``learning_curve.png``, ``deep_states.png``, ``metrics.json`` and
``model.safetensors``.  ``reber-compare`` trains the three cells, sized to about
the same number of weights, over several seeds on the embedded grammar and
writes ``compare.png``, ``compare.json`` and ``metrics.json``.

Randomness: the seed feeds one ``np.random.SeedSequence`` split into independent
streams (initial weights, training strings, test strings), so the same seed gives
the same run, and the test strings do not depend on how many strings are trained.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from tqdm.auto import tqdm

from dagnet.cli.common import (
    add_optimizer_arguments,
    add_run_arguments,
    make_optimizer,
    positive_int,
    progress_enabled,
    run_folder,
    say,
    seed_streams,
    write_metrics,
)
from dagnet.data import reber
from dagnet.errors import DagnetError, NonFiniteError
from dagnet.files import write_json
from dagnet.models.rnn import (
    CELL_TYPES,
    RecurrentNetwork,
    count_parameters,
    hidden_for_parameters,
)

MODEL_FILE = "model.safetensors"
DEFAULT_HIDDEN = {False: 4, True: 16}  # the tutorial's 4 units; embedded needs more memory
N_SYMBOLS = len(reber.SYMBOLS)
# Strings whose hidden states deep_states.png shows.
DEEP_STATE_STRINGS = 300


def register(subparsers) -> None:
    one = subparsers.add_parser(
        "reber", help="train an RNN, LSTM or GRU on the (embedded) Reber grammar",
        description="Train a recurrent net to predict the next symbol of Reber strings (or "
                    "embedded Reber strings with --embedded), a mini-batch of padded strings "
                    "per update, and measure its accuracy on fresh strings: a string counts "
                    "as correct when, at every position, the symbols predicted with "
                    "probability above --threshold are exactly the legal next ones.  Writes "
                    "learning_curve.png, deep_states.png, metrics.json and "
                    "model.safetensors.")
    one.add_argument("--cell", choices=list(CELL_TYPES), default="rnn",
                     help="recurrent cell (default rnn)")
    one.add_argument("--embedded", action="store_true",
                     help="the embedded grammar: B T <Reber> T E | B P <Reber> P E")
    one.add_argument("--hidden", type=positive_int, default=None,
                     help="hidden units (default 4, or 16 with --embedded)")
    _add_training_arguments(one)
    add_run_arguments(one)
    one.set_defaults(run=run_reber)

    compare = subparsers.add_parser(
        "reber-compare", help="RNN, GRU and LSTM of similar sizes on the embedded grammar",
        description="Train an RNN, a GRU and an LSTM with about the same number of weights "
                    "on the embedded Reber grammar, each over several seeds, and compare "
                    "their accuracy on fresh strings, overall and on the second-to-last "
                    "symbol (the T or P that only memory can predict), and how many "
                    "training strings each needs to reach 99%.  Trained as `dagnet reber` "
                    "trains (Adam, batches of 16); `--optimizer gd --lr 0.1 --batch-size 1` "
                    "trains them as the tutorial does.  Writes compare.png, compare.json and "
                    "metrics.json.")
    compare.add_argument("--cells", nargs="+", choices=list(CELL_TYPES),
                         default=["rnn", "gru", "lstm"], help="cells to compare "
                         "(default rnn gru lstm)")
    compare.add_argument("--parameters", type=positive_int, default=None,
                         help="weights per network; each cell gets the hidden size closest "
                              "to it (default: an LSTM with 16 units, "
                              f"{count_parameters('lstm', N_SYMBOLS, 16, N_SYMBOLS)})")
    compare.add_argument("--seeds", type=positive_int, default=5,
                         help="seeds per cell: --seed, --seed + 1, ... (default 5)")
    _add_training_arguments(compare)
    add_run_arguments(compare)
    compare.set_defaults(run=run_compare)


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strings", type=positive_int, default=20000,
                        help="training strings, each drawn fresh (default 20000)")
    parser.add_argument("--batch-size", type=positive_int, default=16,
                        help="strings per update, padded to the longest and masked "
                             "(default 16; 1 trains one string at a time)")
    parser.add_argument("--test-strings", type=positive_int, default=1000,
                        help="fresh strings the accuracy is measured on (default 1000)")
    parser.add_argument("--threshold", type=float, default=0.3,
                        help="a symbol is predicted when its probability exceeds this "
                             "(default 0.3)")
    parser.add_argument("--checkpoints", type=positive_int, default=20,
                        help="accuracy measurements during training (default 20)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="floating-point type of weights and activations (default "
                             "float32)")
    parser.add_argument("--unfused", action="store_true",
                        help="build each step from elementary nodes instead of the fused "
                             "step nodes (same function, slower: the reference)")
    add_optimizer_arguments(parser, default="adam", default_lr=0.01)
    # With a constant rate the accuracy of a trained net jitters by a percent or two
    # from update to update (seeds 0-4, embedded LSTM); decaying the rate settles it.
    parser.set_defaults(lr_schedule="cosine")


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for the initial weights, training and test strings."""
    return seed_streams(seed, ("init", "train", "test"))


# -- training and evaluation -------------------------------------------------------------

def evaluate(net: RecurrentNetwork, strings: list[str], embedded: bool,
             threshold: float = 0.3) -> dict:
    """Accuracy (and, embedded, second-to-last symbol accuracy) of ``net`` on ``strings``."""
    X, _ = reber.encode_batch(strings, net.dtype)
    return reber.prediction_accuracy(net.probabilities(X), strings, embedded, threshold)


def train_reber(net: RecurrentNetwork, optimizer, rng: np.random.Generator, n_strings: int,
                batch_size: int, embedded: bool, test_strings: list[str] | None = None,
                threshold: float = 0.3, checkpoints: int = 20, progress: bool | None = None,
                description: str = "reber") -> dict:
    """Train on ``n_strings`` fresh strings drawn with ``rng``, ``batch_size`` per update.

    Each batch is padded to its longest string (masked in the cost) and the
    gradient is averaged over its strings.  With ``test_strings`` the accuracy is
    measured ``checkpoints`` times (and before training) into ``history``.
    Returns ``history``, ``strings_seen``, ``updates`` and ``train_seconds``
    (training alone, without the measurements).
    """
    history: list[dict] = []
    every = max(1, math.ceil(n_strings / checkpoints))
    next_check = every
    seen, updates, seconds, recent = 0, 0, 0.0, []

    def measure():
        entry = {"strings": seen, "updates": updates, "train_seconds": seconds}
        if recent:
            entry["cost"] = float(np.mean(recent))
        if test_strings is not None:
            entry.update(evaluate(net, test_strings, embedded, threshold))
        history.append(entry)
        return entry

    measure()
    bar = tqdm(total=n_strings, desc=description, unit="str", leave=False,
               disable=(not progress) if progress is not None else None)
    try:
        while seen < n_strings:
            started = time.perf_counter()
            strings = reber.generate(min(batch_size, n_strings - seen), rng, embedded)
            X, Y = reber.encode_batch(strings, net.dtype)
            cost, _ = net.train_step(X, Y, optimizer)
            seconds += time.perf_counter() - started
            if not math.isfinite(cost):
                raise NonFiniteError(f"the cost became {cost} after {seen} strings: try a "
                                     f"lower learning rate (it is {optimizer.learning_rate:g})")
            seen += len(strings)
            updates += 1
            recent.append(cost / len(strings))
            bar.update(len(strings))
            if seen >= next_check or seen == n_strings:
                entry = measure()
                recent = []
                while next_check <= seen:
                    next_check += every
                if "accuracy" in entry:
                    bar.set_postfix(accuracy=f"{entry['accuracy']:.3f}")
    finally:
        bar.close()
    return {"history": history, "strings_seen": seen, "updates": updates,
            "train_seconds": seconds}


def strings_to_reach(history: list[dict], level: float = 0.99) -> int | None:
    """Strings seen at the first measurement with accuracy >= ``level`` (None if never)."""
    return next((h["strings"] for h in history if h.get("accuracy", 0) >= level), None)


def _check_arguments(args: argparse.Namespace) -> None:
    if not 0 < args.threshold < 1:
        raise DagnetError(f"--threshold must lie strictly between 0 and 1, got "
                          f"{args.threshold}")


def _train_one(args: argparse.Namespace, cell: str, hidden: int, embedded: bool, seed: int,
               test_strings: list[str], description: str):
    streams = _streams(seed)
    net = RecurrentNetwork(cell, N_SYMBOLS, hidden, N_SYMBOLS, fused=not args.unfused,
                           rng=streams["init"], dtype=np.dtype(args.dtype),
                           debug=bool(getattr(args, "debug", False)))
    optimizer = make_optimizer(args, net.parameter_nodes,
                               total_steps=math.ceil(args.strings / args.batch_size))
    result = train_reber(net, optimizer, streams["train"], args.strings, args.batch_size,
                         embedded, test_strings, args.threshold, args.checkpoints,
                         progress_enabled(args), description)
    return net, optimizer, result


# -- dagnet reber ------------------------------------------------------------------------

def run_reber(args: argparse.Namespace) -> int:
    from dagnet.viz.recurrent import plot_deep_states, plot_learning_curve

    _check_arguments(args)
    started = time.perf_counter()
    folder = run_folder(args, "reber")
    hidden = args.hidden or DEFAULT_HIDDEN[args.embedded]
    grammar = "embedded Reber" if args.embedded else "Reber"
    test_strings = reber.generate(args.test_strings, _streams(args.seed)["test"],
                                  args.embedded)
    net, optimizer, result = _train_one(args, args.cell, hidden, args.embedded, args.seed,
                                        test_strings, f"{args.cell} {grammar}")
    final = result["history"][-1]
    title = (f"{args.cell.upper()} ({hidden} units), {grammar} grammar: "
             f"{final['accuracy']:.1%} of {len(test_strings)} fresh strings")
    plot_learning_curve(folder / "learning_curve.png", result["history"], title,
                        embedded=args.embedded)
    shown = test_strings[:DEEP_STATE_STRINGS]
    X, _ = reber.encode_batch(shown, net.dtype)
    states = net.hidden_states(X)[-1]
    rows = np.concatenate([states[:len(s) - 1, b] for b, s in enumerate(shown)])
    labels = [label for s in shown for label in reber.state_labels(s, args.embedded)]
    plot_deep_states(folder / "deep_states.png", rows, labels,
                     f"{args.cell.upper()} hidden states, {grammar} grammar",
                     embedded=args.embedded)
    net.save(folder / MODEL_FILE, metadata={
        "command": "reber", "grammar": grammar, "symbols": reber.SYMBOLS, "seed": args.seed,
        "accuracy": final["accuracy"]})
    seconds = time.perf_counter() - started
    metrics = {
        "command": "reber", "seed": args.seed, "cell": args.cell, "grammar": grammar,
        "embedded": args.embedded, "hidden": hidden, "parameters": net.n_parameters,
        "fused": not args.unfused, "dtype": args.dtype, "batch_size": args.batch_size,
        "optimizer": {"name": args.optimizer, **optimizer.config()},
        "threshold": args.threshold, "test_strings": len(test_strings),
        "accuracy": final["accuracy"], "strings_seen": result["strings_seen"],
        "updates": result["updates"],
        "strings_to_99_percent": strings_to_reach(result["history"]),
        "train_seconds": result["train_seconds"], "seconds": seconds,
        "strings_per_second": result["strings_seen"] / max(result["train_seconds"], 1e-9),
        "history": result["history"],
        "files": {"model": MODEL_FILE, "learning_curve": "learning_curve.png",
                  "deep_states": "deep_states.png"},
    }
    if args.embedded:
        metrics["penultimate_accuracy"] = final["penultimate_accuracy"]
    write_metrics(folder, metrics)
    line = f"{args.cell} on the {grammar} grammar: {final['accuracy']:.1%} of strings correct"
    if args.embedded:
        line += f", second-to-last symbol {final['penultimate_accuracy']:.1%}"
    say(f"{line} after {result['strings_seen']} strings ({result['train_seconds']:.1f} s of "
        f"training); written to {folder}")
    return 0


# -- dagnet reber-compare ----------------------------------------------------------------

def run_compare(args: argparse.Namespace) -> int:
    from dagnet.viz.recurrent import plot_compare

    _check_arguments(args)
    started = time.perf_counter()
    folder = run_folder(args, "reber-compare")
    target = args.parameters or count_parameters("lstm", N_SYMBOLS, 16, N_SYMBOLS)
    seeds = list(range(args.seed, args.seed + args.seeds))
    runs: dict[str, dict] = {}
    progress = progress_enabled(args)
    outer = tqdm(total=len(args.cells) * len(seeds), desc="reber-compare", unit="run",
                 disable=(not progress) if progress is not None else None)
    try:
        for cell in args.cells:
            hidden = hidden_for_parameters(cell, N_SYMBOLS, N_SYMBOLS, target)
            per_seed = []
            for seed in seeds:
                test_strings = reber.generate(args.test_strings, _streams(seed)["test"], True)
                net, _, result = _train_one(args, cell, hidden, True, seed, test_strings,
                                            f"{cell} seed {seed}")
                final = result["history"][-1]
                per_seed.append({
                    "seed": seed, "accuracy": final["accuracy"],
                    "penultimate_accuracy": final["penultimate_accuracy"],
                    "strings_to_99_percent": strings_to_reach(result["history"]),
                    "train_seconds": result["train_seconds"], "history": result["history"]})
                outer.update(1)
            accuracies = [r["accuracy"] for r in per_seed]
            runs[cell] = {
                "hidden": hidden, "parameters": net.n_parameters, "runs": per_seed,
                "mean_accuracy": float(np.mean(accuracies)),
                "mean_penultimate_accuracy": float(np.mean(
                    [r["penultimate_accuracy"] for r in per_seed])),
                "seeds_at_99_percent": sum(a >= 0.99 for a in accuracies)}
    finally:
        outer.close()
    plot_compare(folder / "compare.png", runs,
                 f"Embedded Reber: {args.strings} training strings, {args.batch_size} per "
                 f"update, {args.optimizer} (lr {args.lr:g}), {len(seeds)} seeds")
    settings = {"strings": args.strings, "batch_size": args.batch_size,
                "test_strings": args.test_strings, "threshold": args.threshold,
                "optimizer": args.optimizer, "lr": args.lr, "lr_schedule": args.lr_schedule,
                "dtype": args.dtype, "seeds": seeds, "target_parameters": target}
    write_json(folder / "compare.json", _rounded({"settings": settings, "cells": runs}))
    summary = {cell: {k: v for k, v in r.items() if k != "runs"}
               | {"accuracies": [x["accuracy"] for x in r["runs"]],
                  "penultimate_accuracies": [x["penultimate_accuracy"] for x in r["runs"]],
                  "strings_to_99_percent": [x["strings_to_99_percent"] for x in r["runs"]]}
               for cell, r in runs.items()}
    write_metrics(folder, {"command": "reber-compare", "seed": args.seed, **settings,
                           "cells": summary, "seconds": time.perf_counter() - started,
                           "files": {"compare": "compare.json", "figure": "compare.png"}})
    for cell, r in summary.items():
        say(f"{cell} ({r['hidden']} units, {r['parameters']} weights): accuracy "
            + " ".join(f"{a:.1%}" for a in r["accuracies"])
            + f"; {r['seeds_at_99_percent']}/{len(seeds)} seeds at 99%")
    say(f"written to {folder}")
    return 0


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value
