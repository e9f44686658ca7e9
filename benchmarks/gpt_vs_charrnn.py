"""char-rnn against a GPT on tiny Shakespeare: the same text, the same training time.

    python benchmarks/gpt_vs_charrnn.py --model gpt --minutes 12 --out DIR
    python benchmarks/gpt_vs_charrnn.py --model charrnn --minutes 12 --out DIR
    python benchmarks/gpt_vs_charrnn.py --plot DIR/gpt.json DIR/charrnn.json --png FILE

Both models train on the first 90% of the text (nanoGPT's split) for ``--minutes`` of
wall-clock time each, with their commands' defaults:

* ``gpt``      ``dagnet gpt train``'s model and optimizer: 4 blocks, 4 heads, 128 wide,
               context 64, batch 12 random windows; AdamW, warm-up, cosine decay over
               2000 steps, clipping;
* ``charrnn``  ``dagnet charrnn train``'s: 2 x 128 LSTM, 50 streams of 50 characters
               with the state carried; RMSProp (lr 2e-3, rho 0.95), clip 5.

Both are validated, every ``--eval-every`` steps, on the same characters: the first
``--val-chars`` characters of the last 10% of the text, each model the way it reads
text (the GPT in non-overlapping windows of 64, each starting without context; char-rnn
as 50 streams read in order, its state carried).  Each run writes its logged entries
(JSON); ``--plot`` draws the validation curves against training time in one PNG
(``dagnet.viz.language.plot_runs_against_time``).  Run the two at once, one BLAS
thread each, so that both see the same machine.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
from pathlib import Path


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["gpt", "charrnn"])
    parser.add_argument("--minutes", type=float, default=12.0, help="wall-clock budget")
    parser.add_argument("--eval-every", type=int, default=None,
                        help="steps (default: 100 for gpt, 50 for charrnn)")
    parser.add_argument("--val-chars", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--plot", type=Path, nargs="+", default=None, help="JSON files")
    parser.add_argument("--png", type=Path, default=Path("gpt-vs-charrnn.png"))
    return parser.parse_args(argv)


def gpt_run(train, val, vocabulary, args):
    """The GPT, its optimizer, batches and validation, as ``dagnet gpt train`` makes them."""
    import numpy as np

    from dagnet import training
    from dagnet.data.text import random_windows
    from dagnet.models.gpt import GPT
    from dagnet.optim import make_optimizer
    from dagnet.optim.schedules import build_schedule
    from dagnet.rng import seed_streams

    streams = seed_streams(args.seed, ["weights", "batches", "validation"])
    model = GPT(vocabulary, rng=streams["weights"])
    optimizer = make_optimizer(
        "adam", model.parameter_nodes, learning_rate=1e-3, beta2=0.99, weight_decay=1e-4,
        weight_decay_vectors=False, clip_norm=1.0,
        schedule=build_schedule("cosine", warmup_steps=100, run_steps=2000, min_factor=0.1))
    B, T = 12, model.block_size
    data = training.GeneratedBatches(functools.partial(random_windows, train, T),
                                     B * (len(train) // (B * T)), B, streams["batches"])
    windows = (len(val) - 1) // T
    rows = np.arange(windows)[:, None] * T + np.arange(T)
    return model, optimizer, data, (val[rows], val[rows + 1]), 100


def charrnn_run(train, val, vocabulary, args):
    """char-rnn, its optimizer, streams and validation, as ``dagnet charrnn train``."""
    import numpy as np

    from dagnet import training
    from dagnet.data.text import CharStreams
    from dagnet.models.charrnn import CharRNN
    from dagnet.optim import RMSProp

    model = CharRNN.seeded(args.seed, vocabulary, [128, 128], "lstm")
    optimizer = RMSProp(model.parameter_nodes, 2e-3, rho=0.95, clip_value=5.0)
    streams, _ = CharStreams.split(train, 50, 50, train_fraction=1.0)
    # The validation characters as 50 streams, whole (split's last batch would drop some).
    length = (len(val) - 1) // 50
    rows = (np.arange(50) * length)[None, :] + np.arange(length + 1)[:, None]
    seq = 50 if length % 50 == 0 else length
    held_out = CharStreams(val[rows], seq)
    return model, optimizer, training.StreamBatches(streams), held_out, 50


def train_one(args) -> int:
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    import numpy as np

    from dagnet import training
    from dagnet.data.text import (
        Vocabulary,
        locate_tiny_shakespeare,
        read_text,
        split_symbols,
    )

    text = read_text(locate_tiny_shakespeare(download=False))
    vocabulary = Vocabulary.from_text(text)
    train, val = split_symbols(vocabulary.encode(text))
    val = val[:args.val_chars + 1]
    build = gpt_run if args.model == "gpt" else charrnn_run
    model, optimizer, data, held_out, every = build(train, val, vocabulary, args)
    every = args.eval_every or every
    if args.model == "gpt":
        evaluate = training.Evaluate(held_out, every, batch_size=12)
    else:
        evaluate = training.Evaluate(lambda net: {"loss": net.validation_loss(held_out)}, every)
    trainer = training.Trainer(model, optimizer, data, max_steps=10**9, log_every=every,
                               extensions=[evaluate, training.TimeBudget(60 * args.minutes),
                                           training.Report(print)])
    history = trainer.run()
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"model": args.model, "minutes": args.minutes, "steps": history.steps,
              "train_seconds": history.train_seconds, "parameters": model.n_parameters,
              "best": history.best, "history": training.jsonable(history.entries),
              "sample": model.generate(300, 0.8, np.random.default_rng(0), "\n")}
    (args.out / f"{args.model}.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "history"}, indent=1))
    return 0


def plot(args) -> int:
    from dagnet.viz.language import plot_runs_against_time

    runs = {}
    for path in args.plot:
        record = json.loads(path.read_text())
        best = min((e["val_loss"] for e in record["history"] if "val_loss" in e),
                   default=math.nan)
        label = (f"{record['model']} ({record['parameters'] / 1e6:.2f}M parameters, "
                 f"{record['steps']} steps): best {best:.3f}")
        runs[label] = record["history"]
    plot_runs_against_time(args.png, runs, ylabel="validation loss (nats per character)",
                           title="the same validation characters, the same training time")
    print(f"wrote {args.png}")
    return 0


def main(argv=None) -> int:
    args = parse_arguments(argv)
    return plot(args) if args.plot else train_one(args)


if __name__ == "__main__":
    sys.exit(main())
