"""``dagnet charrnn train`` and ``dagnet charrnn sample``: Karpathy's char-rnn on dagnet.

Train a CharRNN on --batch-size streams of a UTF-8 text read --seq-length characters at
a time, state carried; 95% of the batches train, the rest validate.  char-rnn's
defaults: 2 x 128 LSTM, RMSProp (lr 2e-3, rho 0.95), clip 5, lr x0.97 per epoch after 10.
Every --eval-every steps and at the end: validation, a sample, a checkpoint named
lm_lstm_epoch0.95_2.0681.safetensors (the best and the latest kept).  --resume may change
--epochs, --max-iterations, --time-budget, --eval-every, --sample-length, --lr-decay,
--lr-decay-after, --data (same characters; read from its first batch).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from dagnet import training
from dagnet.argtypes import (
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    take_checkpoint_options,
)
from dagnet.cli.run import CommandRun, add_debug_argument, add_run_arguments, say
from dagnet.data.text import TRAIN_FRACTION, describe_chars, text_streams
from dagnet.models.charrnn import MAX_LAYERS, CharRNN
from dagnet.models.rnn import CELL_TYPES
from dagnet.optim.options import add_optimizer_arguments, make_optimizer
from dagnet.viz.plots import plot_history

LOG2 = math.log(2.0)
# What --resume may change; every other option (model, streams, optimizer) is the checkpoint's.
CHANGEABLE = {"epochs", "max_iterations", "time_budget", "eval_every", "sample_length",
              "lr_decay", "lr_decay_after", "data"}


def share(text: str) -> float:
    """An argparse ``type``: a number in (0, 1]."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser("charrnn", help="character-level language models (char-rnn)")
    commands = parser.add_subparsers(dest="charrnn_command", metavar="COMMAND", required=True)
    train = commands.add_parser("train", help="train a char-rnn on a UTF-8 text",
                                description=__doc__.split("\n\n")[1].replace("\n", " "))
    add = train.add_argument
    add("--cell", choices=list(CELL_TYPES), default="lstm", help="default lstm")
    add("--layers", type=int, choices=range(1, MAX_LAYERS + 1), default=2, help="default 2")
    add("--hidden", type=positive_int, default=128, help="units per layer (default 128)")
    add("--embedding", type=positive_int, metavar="D", help="learned, D wide (default: one-hot)")
    add("--dropout", type=fraction, default=0.0, help="on each layer's output (default 0)")
    add("--seq-length", type=positive_int, default=50, help="characters per batch (default 50)")
    add("--batch-size", type=positive_int, default=50, help="parallel streams (default 50)")
    add("--epochs", type=positive_float, default=50.0, help="in all (default 50)")
    add("--time-budget", type=positive_float, metavar="MINUTES", help="of this invocation")
    add("--max-iterations", type=positive_int, metavar="N", help="updates in all")
    add("--eval-every", type=positive_int, default=250, metavar="K", help="steps (default 250)")
    add("--lr-decay", type=share, default=0.97, help="lr factor per epoch (default 0.97)")
    add("--lr-decay-after", type=non_negative_float, default=10, help="epochs (default 10)")
    add("--sample-length", type=non_negative_int, default=200, help="each validation (200)")
    add("--train-fraction", type=share, default=TRAIN_FRACTION, help="to train (0.95)")
    add_optimizer_arguments(train, default="rmsprop", default_lr=2e-3)
    train.set_defaults(clip_value=5.0, run=run_train)
    add_run_arguments(train, data_help="UTF-8 text (default: tiny Shakespeare, found or fetched)")
    add_sample_command(commands, CharRNN, "charrnn train")


def add_sample_command(commands, model_class: type, written_by: str) -> None:
    """The ``sample`` command of a character-level language model (CharRNN, GPT)."""
    sample = commands.add_parser("sample", help=f"write text from a {model_class.description}")
    add = sample.add_argument
    add("checkpoint", type=Path, help=f"a file written by {written_by}")
    add("--length", type=non_negative_int, default=2000, help="characters (default 2000)")
    add("--temperature", type=non_negative_float, default=0.8, help="0: argmax (default 0.8)")
    add("--top-k", type=positive_int, metavar="K", help="draw among the K most likely only")
    add("--prime", default="", help="text to start from (default: a random character)")
    add("--seed", type=non_negative_int, default=1, help="default 1")
    add_debug_argument(sample)
    sample.set_defaults(run=run_sample, model_class=model_class)


def run_sample(args: argparse.Namespace) -> int:
    model = args.model_class.load(args.checkpoint)
    unknown = model.vocabulary.unknown(args.prime)
    if unknown:
        say(f"dagnet {args.command}: warning: --prime has characters the model does not "
            f"know, left out: {describe_chars(unknown)}")
    prime = "".join(c for c in args.prime if c not in unknown)
    rng = np.random.default_rng(args.seed)
    if text := model.generate(args.length, args.temperature, rng, prime, args.top_k):
        sys.stdout.write(prime + text + ("" if text.endswith("\n") else "\n"))
    return 0


def sample_report(model: CharRNN, length: int, seed: int) -> training.Report:
    """A Report of each entry's validation loss, with a sample (temperature 0.8)."""
    def line(entry: dict) -> str:
        text = model.generate(length, 0.8, np.random.default_rng([seed, entry["step"]]))
        return (f"step {entry['step']} (epoch {entry['epoch']:.2f}): validation loss "
                f"{entry['val_loss']:.4f} nats/char ({entry['val_loss'] / LOG2:.3f} bits/char)"
                + (f"\n---\n{text}\n---" if text else ""))
    return training.Report(say, line)


def checkpoint_name(trainer: training.Trainer) -> str:
    """char-rnn's lm_lstm_epoch0.95_2.0681.safetensors; the stop reason replaces the loss
    when the weights saved were not validated (a diverged run)."""
    entry = trainer.history.last
    validated = entry.get("step") == trainer.step and "val_loss" in entry
    tail = f"{entry['val_loss']:.4f}" if validated else trainer.stop_reason
    return f"lm_{trainer.model.cell}_epoch{trainer.epoch_detail:.2f}_{tail}.safetensors"


def resumed(args: argparse.Namespace, model_class: type = CharRNN) -> tuple:
    """The checkpoint's model (a ``model_class``) and run, or None and None without
    --resume; the checkpoint's options replace those not given again."""
    if args.resume is None:
        return None, None
    model = model_class.load(args.resume)
    saved = training.training_state(model, args.resume)
    take_checkpoint_options(args, saved["options"])
    return model, saved


def _model(args, run: CommandRun, model: CharRNN | None, vocabulary, steps: int):
    """A new CharRNN (char-rnn's seed streams) and optimizer, or the checkpoint's."""
    if model is not None:
        model.debug = run.debug
        return model, training.optimizer_from_checkpoint(model, args.resume)
    model = CharRNN.seeded(args.seed, vocabulary, [args.hidden] * args.layers, args.cell,
                           embedding=args.embedding, dropout=args.dropout,
                           dtype=np.dtype(args.dtype), debug=run.debug)
    if args.optimizer == "rmsprop" and args.rho is None:  # char-rnn's decay_rate
        args.rho = 0.95
    return model, make_optimizer(args, model.parameter_nodes, total_steps=steps)


def run_train(args: argparse.Namespace) -> int:
    model, saved = resumed(args)
    text = text_streams(args.data, args.batch_size, args.seq_length, args.train_fraction,
                        model and model.vocabulary, progress=False if args.quiet else None)
    args.data = text.path  # absolute: the checkpoint resumes from any folder
    run = CommandRun(args, "charrnn train", set(saved["options"]) - CHANGEABLE if saved else ())
    data = training.StreamBatches(text.train)
    steps = min(math.ceil(args.epochs * data.batches_per_epoch), args.max_iterations or math.inf)
    if saved is not None:
        run.check_resume(saved["options"])
        if model.metadata.get("data", {}).get("sha256") != text.description["sha256"]:
            say(f"warning: {text.path} is not the text {args.resume} was trained on: the "
                "epoch in progress starts again on it, from its first batch")
            saved["trainer"]["data"]["position"] = 0
    model, optimizer = _model(args, run, model, text.vocabulary, steps)
    model.metadata = {**model.metadata, "command": "charrnn train", "data": text.description}
    extensions = [training.Evaluate(lambda net: {"loss": net.validation_loss(text.val)},
                                    args.eval_every),
                  training.EpochDecay(args.lr_decay, args.lr_decay_after)]
    if not run.quiet:  # every log entry is a validation
        extensions.append(sample_report(model, args.sample_length, args.seed))
    checkpoint = training.Checkpoint(run.folder, checkpoint_name, every=args.eval_every,
                                     keep="best+last", options=run.options())
    trainer = training.Trainer(
        model, optimizer, data, epochs=args.epochs, max_steps=args.max_iterations,
        log_every=args.eval_every, extensions=extensions + run.extensions(
            unit="char", description="charrnn", checkpoint=checkpoint, report=False,
            budget=args.time_budget and 60 * args.time_budget, explosion_factor=3.0))
    if saved is not None:
        training.resume(trainer, args.resume)
    return _finish(run, trainer, checkpoint)


def _finish(run: CommandRun, trainer: training.Trainer, checkpoint: training.Checkpoint) -> int:
    """Train, draw loss_curve.png and write the run record."""
    args, model, started = run.args, trainer.model, (trainer.step, trainer.history.train_seconds)
    history = run.train(trainer)
    best = history.best or {"val_loss": math.nan, "epoch": math.nan}
    plot_history(run.folder / "loss_curve.png", history.entries, {"training": "loss",
                 "validation": "val_loss"}, ylabel="loss (nats per character)",
                 title=f"char-rnn {model.cell} {model.hidden}: best {best['val_loss']:.4f}")
    for role, name in {"loss_curve": "loss_curve.png", "checkpoint": checkpoint.last}.items():
        if name:
            run.record.add_file(role, run.folder / name)
    chars, seconds = trainer.data.streams.characters_per_batch, history.train_seconds - started[1]
    return run.finish(
        f"{history.stop_reason}: {history.steps} steps ({history.epochs:.2f} epochs); best "
        f"validation loss {best['val_loss']:.4f} nats/char at epoch {best['epoch']:.2f}",
        data=model.metadata["data"], vocabulary_size=len(model.vocabulary),
        parameters=model.n_parameters, model=model.config() | {"vocabulary": None},
        seq_length=args.seq_length, batch_size=args.batch_size,
        optimizer={"name": type(trainer.optimizer).__name__, **trainer.optimizer.config(),
                   "base_learning_rate": args.lr}, iterations=history.steps,
        epochs=history.epochs, val_loss=best["val_loss"], best_epoch=best["epoch"],
        val_bits_per_char=best["val_loss"] / LOG2, best_checkpoint=checkpoint.best,
        last_checkpoint=checkpoint.last, final_val_loss=history.last.get("val_loss"),
        chars_per_second=(history.steps - started[0]) * chars / seconds if seconds else None,
        history=history.entries)
