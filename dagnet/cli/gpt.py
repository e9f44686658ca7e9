"""``dagnet gpt train`` and ``dagnet gpt sample``: a character-level GPT, nanoGPT's recipe.

Train a GPT on a UTF-8 text: the first 90% trains, in --batch-size random windows of
--block-size characters; the last 10% validates (mean loss over --eval-batches batches of
random windows, the same each time).  nanoGPT's CPU defaults: 4 layers, 4 heads, 128 wide,
context 64, exact GELU, no biases, no dropout, batch 12, 2000 steps; AdamW (beta2 0.99;
weight decay 1e-4, nanoGPT's 0.1 x lr, not on biases and gains), lr 1e-3 after 100 warm-up
steps (nanoGPT's ramp), cosine decay to 1e-4, gradient norm clipped to 1.  Validation and
a checkpoint (the best and latest kept) every --eval-every steps and at the end.  --resume
may change --max-iterations (the schedule stays), --time-budget, --eval-every, --data.

Not ``charrnn train --model gpt``: a GPT reads random windows afresh where char-rnn carries
a state along parallel streams epoch by epoch, and the two share few options.
"""

from __future__ import annotations

import argparse
import functools
import math

from dagnet import argtypes, training
from dagnet.cli import run as shared
from dagnet.cli.charrnn import LOG2, add_sample_command, resumed
from dagnet.data.text import random_windows, text_windows
from dagnet.experiments.gpt import GELU_FORMS, new_gpt
from dagnet.models.gpt import GPT
from dagnet.optim.options import add_optimizer_arguments
from dagnet.rng import seed_streams
from dagnet.viz.language import draw_gpt_run

CHANGEABLE = {"max_iterations", "time_budget", "eval_every", "data"}


def register(subparsers) -> None:
    parser = subparsers.add_parser("gpt", help="character-level GPT (nanoGPT's recipe)")
    commands = parser.add_subparsers(dest="gpt_command", metavar="COMMAND", required=True)
    train = commands.add_parser("train", help="train a GPT on a UTF-8 text",
                                description=__doc__.split("\n\n")[1].replace("\n", " "))
    add, count = train.add_argument, argtypes.positive_int
    add("--layers", type=count, default=4, help="transformer blocks (default 4)")
    add("--heads", type=count, default=4, help="attention heads (default 4)")
    add("--width", type=count, default=128, help="embedding width (default 128)")
    add("--block-size", type=count, default=64, help="context, characters (default 64)")
    add("--gelu", choices=list(GELU_FORMS), default="exact", help="GELU's form (default exact)")
    add("--bias", action=argparse.BooleanOptionalAction, default=False,
        help="biases in the linear layers and LayerNorms (default: none, as nanoGPT)")
    add("--dropout", type=argtypes.fraction, default=0.0, help="rate (default 0)")
    add("--batch-size", type=count, default=12, help="windows per step (default 12)")
    add("--max-iterations", type=count, default=2000, help="steps in all (default 2000)")
    add("--time-budget", type=argtypes.positive_float, metavar="MINUTES", help="of this call")
    add("--eval-every", type=count, default=250, metavar="K", help="steps (default 250)")
    add("--eval-batches", type=count, default=20, help="to validate on (default 20)")
    add_optimizer_arguments(train, default="adam", default_lr=1e-3)
    train.set_defaults(weight_decay=1e-4, weight_decay_vectors=False, clip_norm=1.0,
                       lr_schedule="cosine", warmup_steps=100, warmup_ramp_to_inner=True,
                       run=run_train)
    shared.add_run_arguments(train, data_help="UTF-8 text (default: tiny Shakespeare)")
    add_sample_command(commands, GPT, "gpt train")


def _model(args, run: shared.CommandRun, model: GPT | None, vocabulary, streams):
    """A new GPT and its optimizer (nanoGPT's recipe), or the checkpoint's."""
    if model is None:
        return new_gpt(args, vocabulary, streams, run.debug)
    model.debug = run.debug
    return model, training.optimizer_from_checkpoint(model, args.resume)


def run_train(args: argparse.Namespace) -> int:
    model, saved = resumed(args, GPT)
    text = text_windows(args.data, args.block_size, vocabulary=model and model.vocabulary,
                        progress=False if args.quiet else None)
    args.data = text.path  # absolute: the checkpoint resumes from any folder
    run = shared.CommandRun(args, "gpt train", set(saved["options"] if saved else ()) - CHANGEABLE)
    run.check_resume(saved["options"] if saved else {})  # given again: must agree
    streams = seed_streams(args.seed, ["weights", "batches", "validation", "dropout"])
    model, optimizer = _model(args, run, model, text.vocabulary, streams)
    model.metadata = {**model.metadata, "command": "gpt train", "data": text.description}
    B, T = args.batch_size, args.block_size
    data = training.GeneratedBatches(functools.partial(random_windows, text.train, T),
                                     B * max(1, len(text.train) // (B * T)), B, streams["batches"])
    validation = random_windows(text.val, T, args.eval_batches * B, streams["validation"])
    checkpoint = training.Checkpoint(run.folder, lambda t: f"gpt_step{t.step}.safetensors",
                                     every=args.eval_every, keep="best+last", options=run.options())
    trainer = training.Trainer(
        model, optimizer, data, max_steps=args.max_iterations, log_every=args.eval_every,
        extensions=[training.Evaluate(validation, args.eval_every, batch_size=B)]
        + run.extensions(unit="window", description="gpt", checkpoint=checkpoint,
                         budget=args.time_budget and 60 * args.time_budget))
    if saved is not None:
        training.resume(trainer, args.resume)
    return _finish(run, trainer, checkpoint, text.vocabulary.decode(text.val[:T]))


def _finish(run: shared.CommandRun, trainer: training.Trainer, checkpoint, line: str) -> int:
    """Train, draw the figures (attention over ``line``), write the run record."""
    args, model, started = run.args, trainer.model, (trainer.step, trainer.history.train_seconds)
    history = run.train(trainer)
    best = history.best or {"val_loss": math.nan, "step": None}
    figures = draw_gpt_run(run.folder, model, history.entries, line)
    for role, name in {**figures, "checkpoint": checkpoint.last}.items():
        if name:
            run.record.add_file(role, run.folder / name)
    chars, seconds = args.batch_size * args.block_size, history.train_seconds - started[1]
    return run.finish(
        f"{history.stop_reason}: {history.steps} steps; best validation loss "
        f"{best['val_loss']:.4f} nats/char at step {best['step']}",
        data=model.metadata["data"], vocabulary_size=len(model.vocabulary),
        parameters=model.n_parameters, model=model.config() | {"vocabulary": None},
        optimizer={"name": type(trainer.optimizer).__name__, **trainer.optimizer.config()},
        iterations=history.steps, val_loss=best["val_loss"], best_step=best["step"],
        val_bits_per_char=best["val_loss"] / LOG2, best_checkpoint=checkpoint.best,
        last_checkpoint=checkpoint.last, history=history.entries,
        chars_per_second=(history.steps - started[0]) * chars / seconds if seconds else None)
