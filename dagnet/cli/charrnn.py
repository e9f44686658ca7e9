"""``dagnet charrnn train`` and ``dagnet charrnn sample``: Karpathy's char-rnn on dagnet.

``train`` reads a UTF-8 text (default: tiny Shakespeare), cuts it into
``--batch-size`` parallel streams read ``--seq-length`` characters at a time, the
state of each stream carried from one batch to the next, and trains a CharRNN on
the first 95% of the batches, validating on the rest (char-rnn's split).
Defaults are char-rnn's: 2 LSTM layers of 128, RMSProp (lr 2e-3, decay 0.95),
gradients clipped at 5, the learning rate multiplied by 0.97 after every epoch
from epoch 10 on.  Every ``--eval-every`` iterations and at the end it measures
the validation loss, prints a sample and writes a checkpoint named as char-rnn
names them (``lm_lstm_epoch0.95_2.0681.safetensors``); the best one and the
latest one are kept.  Ctrl-C validates, saves and exits; ``--resume CHECKPOINT``
continues a run exactly (weights, optimizer state, stream positions, carried
states, dropout generator).  The run folder gets metrics.json and loss_curve.png.

``sample`` writes text from a checkpoint to stdout.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from pathlib import Path

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
    write_metrics,
)
from dagnet.data.text import (
    TRAIN_FRACTION,
    CharStreams,
    Vocabulary,
    describe_chars,
    locate_tiny_shakespeare,
    read_text,
    text_digest,
)
from dagnet.errors import DagnetError, DataError, ModelFileError, NonFiniteError
from dagnet.models.charrnn import MAX_LAYERS, CharRNN
from dagnet.models.rnn import CELL_TYPES
from dagnet.optim.checkpoint import optimizer_from_file, optimizer_to_file

LOG2 = math.log(2.0)
# char-rnn aborts when the loss grows past three times its first value: it has diverged.
EXPLOSION_FACTOR = 3.0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "charrnn", help="character-level language models (Karpathy's char-rnn)",
        description="Train a multi-layer LSTM (or GRU, RNN) on a text, one character at a "
                    "time, and sample text from it.")
    commands = parser.add_subparsers(dest="charrnn_command", metavar="COMMAND",
                                     required=True)
    train = commands.add_parser(
        "train", help="train a char-rnn on a UTF-8 text",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    train.add_argument("--data", type=Path, default=None,
                       help="UTF-8 text file (default: tiny Shakespeare, from "
                            "$DAGNET_DATA_DIR/tinyshakespeare, the cache or a download)")
    train.add_argument("--cell", choices=list(CELL_TYPES), default="lstm",
                       help="recurrent cell (default lstm)")
    train.add_argument("--layers", type=positive_int, default=2,
                       help=f"recurrent layers, 1 to {MAX_LAYERS} (default 2)")
    train.add_argument("--hidden", type=positive_int, default=128,
                       help="units per layer (default 128)")
    train.add_argument("--embedding", type=positive_int, default=None, metavar="D",
                       help="learn an embedding of D columns (default: one-hot input, a row "
                            "gather of the first layer's weights)")
    train.add_argument("--dropout", type=float, default=0.0,
                       help="dropout on every layer's output while training (default 0)")
    train.add_argument("--seq-length", type=positive_int, default=50,
                       help="characters per stream and batch: steps of truncated "
                            "backpropagation (default 50)")
    train.add_argument("--batch-size", type=positive_int, default=50,
                       help="parallel streams (default 50)")
    train.add_argument("--epochs", type=float, default=50.0,
                       help="passes over the training text (default 50, char-rnn's)")
    train.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                       help="stop after this many minutes of this invocation")
    train.add_argument("--max-iterations", type=positive_int, default=None, metavar="N",
                       help="stop when the run has made N updates in all (counting those "
                            "before --resume)")
    train.add_argument("--eval-every", type=positive_int, default=250, metavar="K",
                       help="validation loss, sample and checkpoint every K iterations "
                            "(default 250) and at the end")
    train.add_argument("--lr-decay", type=float, default=0.97,
                       help="multiply the learning rate by this after every epoch from "
                            "--lr-decay-after on (default 0.97)")
    train.add_argument("--lr-decay-after", type=float, default=10,
                       help="epochs before the learning rate starts decaying (default 10)")
    train.add_argument("--sample-length", type=int, default=200,
                       help="characters of the sample printed at every validation "
                            "(default 200; 0: none)")
    train.add_argument("--train-fraction", type=float, default=TRAIN_FRACTION,
                       help="share of the batches used for training, the rest (the end "
                            "of every stream) validates (default 0.95, char-rnn's)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                       help="default float32")
    train.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                       help="continue the run saved in CHECKPOINT exactly (its model, "
                            "optimizer, batch size and sequence length; the run folder "
                            "defaults to the checkpoint's)")
    add_optimizer_arguments(train, default="rmsprop", default_lr=2e-3)
    train.set_defaults(clip_value=5.0)
    add_run_arguments(train, default_seed=123)
    train.set_defaults(run=run_train)

    sample = commands.add_parser(
        "sample", help="write text from a trained char-rnn to stdout",
        description="Generate text one character at a time from a checkpoint of "
                    "`dagnet charrnn train`: each character is drawn from the softmax of "
                    "the logits divided by --temperature (the most likely one at 0), then "
                    "fed back.")
    sample.add_argument("checkpoint", type=Path, help="a .safetensors file written by "
                                                      "charrnn train")
    sample.add_argument("--length", type=int, default=2000,
                        help="characters to generate (default 2000)")
    sample.add_argument("--temperature", type=float, default=0.8,
                        help="divides the logits: lower is more conservative, 0 picks the "
                             "most likely character (default 0.8)")
    sample.add_argument("--prime", default="",
                        help="text to start from (default: one random character)")
    sample.add_argument("--seed", type=int, default=1, help="default 1")
    sample.set_defaults(run=run_sample)


# -- sampling ----------------------------------------------------------------------------

def pick(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """A symbol drawn from softmax(logits / temperature); the argmax when temperature = 0."""
    if temperature == 0:
        return int(np.argmax(logits))
    z = np.asarray(logits, dtype=np.float64) / temperature
    p = np.exp(z - z.max())
    cumulative = np.cumsum(p)
    return int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"),
                   len(p) - 1))


def generate(net: CharRNN, length: int, temperature: float, rng: np.random.Generator,
             prime: str = "") -> str:
    """``length`` characters following ``prime`` (its characters must be in the
    vocabulary; empty: one drawn at random, which starts the text)."""
    symbols = list(net.vocabulary.encode(prime)) if prime else [int(rng.integers(len(
        net.vocabulary)))]
    state = net.initial_state(1)
    for s in symbols[:-1]:
        _, state = net.step([s], state)
    x = symbols[-1]
    out = [] if prime else [x]
    for _ in range(length - len(out)):
        logits, state = net.step([x], state)
        x = pick(logits[0], temperature, rng)
        out.append(x)
    return net.vocabulary.decode(out)


def run_sample(args: argparse.Namespace) -> int:
    if args.temperature < 0 or not math.isfinite(args.temperature):
        raise DagnetError(f"--temperature must be 0 or positive, got {args.temperature}")
    if args.length < 0:
        raise DagnetError(f"--length must be 0 or positive, got {args.length}")
    net, _, _ = CharRNN.load(args.checkpoint)
    prime = args.prime
    unknown = net.vocabulary.unknown(prime)
    if unknown:
        print(f"dagnet charrnn: warning: --prime has characters the model does not know, "
              f"left out: {describe_chars(unknown)}", file=sys.stderr)
        prime = "".join(c for c in prime if c not in unknown)
    text = generate(net, args.length, args.temperature, np.random.default_rng(args.seed),
                    prime)
    sys.stdout.write(prime + text + ("" if text.endswith("\n") else "\n"))
    sys.stdout.flush()
    return 0


# -- training ----------------------------------------------------------------------------

def checkpoint_name(cell: str, epoch: float, val_loss: float) -> str:
    """char-rnn's file name: lm_lstm_epoch0.95_2.0681.safetensors."""
    return f"lm_{cell}_epoch{epoch:.2f}_{val_loss:.4f}.safetensors"


def learning_rate_factor(epochs_done: int, decay: float, after: float) -> float:
    """char-rnn's decay: ×``decay`` at the end of every epoch k ≥ ``after``."""
    return decay ** max(0, epochs_done - math.ceil(after) + 1)


class Interrupt:
    """Ctrl-C sets a flag the loop checks between iterations (an update is never cut in
    half); a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self.previous)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)
        return False


def _load_text(args: argparse.Namespace, data: Path | None) -> tuple[Path, str]:
    path = data if data is not None else locate_tiny_shakespeare(
        progress=progress_enabled(args))
    return path, read_text(path)


def validation_loss(net: CharRNN, streams: CharStreams) -> float:
    """Mean loss per character (nats) over the validation streams, state carried."""
    state = net.initial_state(streams.batch_size)
    total = 0.0
    for X, Y in streams:
        cost, state = net.evaluate(X, Y, state)
        total += cost
    return total / (streams.batches * streams.characters_per_batch)


def _check_arguments(args: argparse.Namespace) -> None:
    if args.layers > MAX_LAYERS:
        raise DagnetError(f"--layers must be 1 to {MAX_LAYERS}, got {args.layers}")
    if not 0 <= args.dropout < 1:
        raise DagnetError(f"--dropout must lie in [0, 1), got {args.dropout}")
    if not 0 < args.train_fraction < 1:
        raise DagnetError(f"--train-fraction must lie strictly between 0 and 1, got "
                          f"{args.train_fraction}")
    if args.time_budget is not None and not args.time_budget > 0:
        raise DagnetError(f"--time-budget must be positive, got {args.time_budget}")
    if not args.epochs > 0:
        raise DagnetError(f"--epochs must be positive, got {args.epochs}")
    if not 0 < args.lr_decay <= 1:
        raise DagnetError(f"--lr-decay must lie in (0, 1], got {args.lr_decay}")
    if args.optimizer == "rmsprop" and args.rho is None:
        args.rho = 0.95  # char-rnn's decay_rate


def _new_run(args: argparse.Namespace):
    """Model, optimizer and training state of a fresh run."""
    path, text = _load_text(args, args.data)
    vocabulary = Vocabulary.from_text(text)
    train, val = CharStreams.split(vocabulary.encode(text), args.batch_size, args.seq_length,
                                   args.train_fraction)
    rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(2)[0])
    net = CharRNN(vocabulary, [args.hidden] * args.layers, args.cell, embedding=args.embedding,
                  dropout=args.dropout, rng=rng, dtype=np.dtype(args.dtype),
                  debug=bool(getattr(args, "debug", False)))
    total = math.ceil(args.epochs * train.batches)
    if args.max_iterations is not None:
        total = min(total, args.max_iterations)
    optimizer = make_optimizer(args, net.parameter_nodes, total_steps=total)
    run = {"seed": args.seed, "data": {"path": str(path), "sha256": text_digest(text),
                                        "characters": len(text)},
           "train_fraction": args.train_fraction, "batch_size": args.batch_size,
           "seq_length": args.seq_length, "base_lr": optimizer.learning_rate,
           "lr_decay": args.lr_decay, "lr_decay_after": args.lr_decay_after,
           "iteration": 0, "train_seconds": 0.0, "history": [], "train_curve": [],
           "best": None, "first_loss": None, "position": 0}
    dropout_rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(2)[1])
    return net, optimizer, train, val, run, net.initial_state(args.batch_size), dropout_rng


def _resumed_run(args: argparse.Namespace):
    """Model, optimizer and training state from ``args.resume``, checked against the data."""
    net, metadata, extra = CharRNN.load(args.resume)
    net.debug = bool(getattr(args, "debug", False))
    run = metadata.get("run")
    if run is None or "optimizer" not in metadata:
        raise ModelFileError(f"{args.resume}: a model without training state: it can be "
                             "sampled from but not resumed")
    path, text = _load_text(args, args.data if args.data is not None
                            else Path(run["data"]["path"]))
    unknown = net.vocabulary.unknown(text)
    if unknown:
        raise DataError(f"vocabulary mismatch: {path} has {len(unknown)} character(s) that "
                        f"{args.resume.name} was not trained with: {describe_chars(unknown)}")
    train, val = CharStreams.split(net.vocabulary.encode(text), run["batch_size"],
                                   run["seq_length"], run["train_fraction"])
    try:
        optimizer = optimizer_from_file(metadata["optimizer"], extra, net.parameter_nodes)
        state = [np.array(extra[f"state/{k}"]) for k in range(len(net.state_names))]
        dropout_rng = np.random.default_rng()
        dropout_rng.bit_generator.state = metadata["dropout_rng"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{args.resume}: corrupt training state ({type(exc).__name__}: "
                             f"{exc})") from None
    if text_digest(text) != run["data"]["sha256"]:
        say(f"warning: {path} is not the text {args.resume.name} was trained on: training "
            "continues on it from its first batch")
        run["data"] = {"path": str(path), "sha256": text_digest(text),
                       "characters": len(text)}
        run["position"] = 0
    train.position = run["position"] % train.batches
    if train.position == 0:
        state = net.initial_state(train.batch_size)
    return net, optimizer, train, val, run, state, dropout_rng


def _save_checkpoint(path: Path, net: CharRNN, optimizer, run: dict, state, dropout_rng,
                     train: CharStreams) -> Path:
    run["position"] = train.position
    optimizer_metadata, tensors = optimizer_to_file(optimizer)
    tensors.update({f"state/{k}": s for k, s in enumerate(state)})
    return net.save(path, metadata={"command": "charrnn train", "run": run,
                                    "optimizer": optimizer_metadata,
                                    "dropout_rng": dropout_rng.bit_generator.state},
                    extra_tensors=tensors)


def run_train(args: argparse.Namespace) -> int:
    from dagnet.viz.plots import plot_curves

    started = time.perf_counter()
    _check_arguments(args)
    if args.resume is not None:
        net, optimizer, train, val, run, state, dropout_rng = _resumed_run(args)
        if args.out is None:
            args.out = args.resume.parent
    else:
        net, optimizer, train, val, run, state, dropout_rng = _new_run(args)
    folder = run_folder(args, "charrnn")
    progress = progress_enabled(args)
    batches = train.batches
    total = math.ceil(args.epochs * batches)
    if args.max_iterations is not None:
        total = min(total, args.max_iterations)
    budget = None if args.time_budget is None else 60.0 * args.time_budget
    chars = train.characters_per_batch
    say(f"{net.cell} {net.hidden}, {net.n_parameters} weights; {len(net.vocabulary)} "
        f"characters; {batches} batches of {train.batch_size}×{train.seq_length} per epoch; "
        f"validation {val.batches * val.characters_per_batch} characters")

    last = {"path": None}
    if run["history"]:
        last["path"] = run["history"][-1].get("checkpoint")

    def validate() -> dict:
        loss = validation_loss(net, val)
        epoch = run["iteration"] / batches
        name = checkpoint_name(net.cell, epoch, loss)
        recent = run["train_curve"][-1][1] if run["train_curve"] else None
        entry = {"iteration": run["iteration"], "epoch": epoch, "val_loss": loss,
                 "val_bits_per_char": loss / LOG2, "train_loss": recent,
                 "learning_rate": optimizer.learning_rate, "checkpoint": name}
        run["history"].append(entry)
        previous_best = run["best"]
        if previous_best is None or loss < previous_best["val_loss"]:
            run["best"] = {k: entry[k] for k in ("iteration", "epoch", "val_loss",
                                                 "val_bits_per_char", "checkpoint")}
        _save_checkpoint(folder / name, net, optimizer, run, state, dropout_rng, train)
        keep = {name, run["best"]["checkpoint"]}
        for old in (last["path"], previous_best and previous_best["checkpoint"]):
            if old and old not in keep and (folder / old).exists():
                (folder / old).unlink()
        last["path"] = name
        return entry

    def report(entry: dict) -> None:
        text = ""
        if args.sample_length > 0:
            text = generate(net, args.sample_length, 0.8,
                            np.random.default_rng([args.seed, entry["iteration"]]))
        tqdm.write(f"iteration {entry['iteration']} (epoch {entry['epoch']:.2f}): validation "
                   f"loss {entry['val_loss']:.4f} nats/char ({entry['val_bits_per_char']:.3f} "
                   f"bits/char), saved {entry['checkpoint']}"
                   + (f"\n---\n{text}\n---" if text else ""), file=sys.stderr)

    stopped_by = "epochs"
    loop_started = time.perf_counter()
    session_seconds, session_iterations = 0.0, 0
    window: list[float] = []
    # With a time budget the bar counts seconds of it, else iterations of the epochs asked.
    disable = (not progress) if progress is not None else None
    if budget is not None:
        bar = tqdm(total=round(budget), desc="charrnn", unit="s", disable=disable,
                   dynamic_ncols=True, bar_format="{l_bar}{bar}| {n:.0f}/{total}s{postfix}")
    else:
        bar = tqdm(total=total, initial=min(run["iteration"], total), desc="charrnn",
                   unit="it", disable=disable, dynamic_ncols=True)
    try:
        with Interrupt() as interrupt:
            while run["iteration"] < total:
                if budget is not None and time.perf_counter() - loop_started >= budget:
                    stopped_by = "time-budget"
                    break
                if interrupt.requested:
                    stopped_by = "interrupted"
                    break
                tick = time.perf_counter()
                epochs_done = run["iteration"] // batches
                optimizer.learning_rate = run["base_lr"] * learning_rate_factor(
                    epochs_done, run["lr_decay"], run["lr_decay_after"])
                X, Y, first = train.next_batch()
                if first:
                    state = net.initial_state(train.batch_size)
                cost, state = net.train_step(X, Y, optimizer, state, dropout_rng)
                loss = cost / chars
                run["iteration"] += 1
                seconds = time.perf_counter() - tick
                session_seconds += seconds
                session_iterations += 1
                run["train_seconds"] += seconds
                if not math.isfinite(loss) or (run["first_loss"] is not None and loss > (
                        EXPLOSION_FACTOR * run["first_loss"])):
                    best = run["best"]["checkpoint"] if run["best"] else "none yet"
                    raise NonFiniteError(
                        f"the training loss became {loss:.4g} at iteration {run['iteration']} "
                        f"(epoch {run['iteration'] / batches:.2f}): training diverged; lower "
                        f"--lr (it was {optimizer.learning_rate:g}) or clip harder. Best "
                        f"checkpoint so far: {best}")
                if run["first_loss"] is None:
                    run["first_loss"] = loss
                window.append(loss)
                if len(window) == 10 or run["iteration"] % args.eval_every == 0:
                    run["train_curve"].append([run["iteration"], float(np.mean(window))])
                    window = []
                    bar.set_postfix(loss=f"{run['train_curve'][-1][1]:.3f}",
                                    chars_s=f"{session_iterations * chars / session_seconds:.0f}",
                                    refresh=False)
                if budget is None:
                    bar.update(1)
                else:
                    bar.update(min(time.perf_counter() - loop_started, budget) - bar.n)
                if run["iteration"] % args.eval_every == 0:
                    report(validate())
            else:
                stopped_by = ("max-iterations" if args.max_iterations is not None
                              and total == args.max_iterations else "epochs")
            if window:
                run["train_curve"].append([run["iteration"], float(np.mean(window))])
            if not run["history"] or run["history"][-1]["iteration"] != run["iteration"]:
                report(validate())
    finally:
        bar.close()

    history = run["history"]
    train_curve = np.array(run["train_curve"] or [[0, np.nan]], dtype=float)
    plot_curves(folder / "loss_curve.png", {
        "training (mean of 10 iterations)": (train_curve[:, 0] / batches, train_curve[:, 1]),
        "validation": ([h["epoch"] for h in history], [h["val_loss"] for h in history])},
        "epoch", "loss (nats per character)",
        f"char-rnn {net.cell} {net.hidden}: best validation {run['best']['val_loss']:.4f}")
    best = run["best"]
    chars_per_second = (session_iterations * chars / session_seconds
                        if session_seconds else None)
    write_metrics(folder, {
        "command": "charrnn train", "seed": run["seed"], "data": run["data"],
        "vocabulary_size": len(net.vocabulary), "model": net.config() | {"vocabulary": None},
        "parameters": net.n_parameters, "seq_length": train.seq_length,
        "batch_size": train.batch_size, "train_fraction": run["train_fraction"],
        "optimizer": {"name": type(optimizer).__name__, **optimizer.config(),
                      "base_learning_rate": run["base_lr"], "lr_decay": run["lr_decay"],
                      "lr_decay_after": run["lr_decay_after"]},
        "iterations": run["iteration"], "epochs": run["iteration"] / batches,
        "stopped_by": stopped_by, "resumed_from": str(args.resume) if args.resume else None,
        "val_loss": best["val_loss"], "val_bits_per_char": best["val_bits_per_char"],
        "best_epoch": best["epoch"], "best_checkpoint": best["checkpoint"],
        "final_val_loss": history[-1]["val_loss"], "last_checkpoint": last["path"],
        "train_loss": float(train_curve[-1, 1]),
        "chars_per_second": chars_per_second,
        "train_seconds": session_seconds, "train_seconds_all_sessions": run["train_seconds"],
        "seconds": time.perf_counter() - started, "history": history,
        "files": {"loss_curve": "loss_curve.png", "best_checkpoint": best["checkpoint"],
                  "last_checkpoint": last["path"]}})
    rate = f", {chars_per_second:.0f} chars/s" if chars_per_second else ""
    say(f"{stopped_by}: {run['iteration']} iterations ({run['iteration'] / batches:.2f} "
        f"epochs{rate}); best validation loss {best['val_loss']:.4f} nats/char "
        f"({best['val_bits_per_char']:.3f} bits/char) at epoch {best['epoch']:.2f}: "
        f"{folder / best['checkpoint']}")
    if stopped_by == "interrupted":
        say(f"interrupted: continue with --resume {folder / last['path']}")
        return 130
    return 0
