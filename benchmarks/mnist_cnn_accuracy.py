"""Train LeNet-5 or the small CNN on MNIST through dagnet's Trainer; accuracy per epoch.

    python benchmarks/mnist_cnn_accuracy.py --model lenet5|convnet [--epochs 10]
        [--batch-size 128] [--lr 2e-3] [--schedule cosine|constant] [--warmup-steps 0]
        [--weight-decay 0] [--shift 1] [--channels C1 C2] [--hidden N] [--dropout P]
        [--eval-batch-size 250] [--seed 0] [--threads 1] [--train-size N] [--json FILE]

As ``dagnet mnist --model X`` trains: images preprocessed "center" (the training
mean subtracted, /255: ``Preprocessing.fit(train, "center")``), float32, one
generator seeded ``--seed`` draws the initial weights and then shuffles every
epoch (``ArrayBatches``), Adam through ``dagnet.optim.base.make_optimizer`` with an
optional cosine schedule (over the whole run, after the warm-up) and decoupled
weight decay, ``GraphModel`` + ``Trainer`` + ``Evaluate`` on the 10,000 test
digits after every epoch.  ``--shift S`` moves every training image by a random
whole number of pixels in [-S, S] along each axis (``dagnet.data.augment``), drawn
from a second generator seeded from the first.

GraphModel steps in training mode and evaluates in inference mode (batch
normalisation's running statistics, no dropout).  Prints one
line per epoch (test accuracy, training loss, seconds of training) and, at the
end, the peak resident memory of the process (VmHWM, Linux) and the peak extra
over the resident set before training.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from dagnet.data.mnist import Preprocessing, load_mnist
from dagnet.experiments.mnist import digit_batches
from dagnet.models import GraphModel
from dagnet.models.convolutional import IMAGE_SHAPE, convnet, lenet5
from dagnet.optim.base import make_optimizer
from dagnet.optim.schedules import build_schedule
from dagnet.training import Evaluate, Trainer
from dagnet.training.trainer import Extension

ROOT = Path(__file__).resolve().parents[1]


class EpochPrinter(Extension):
    """Print each log entry as it is written, so a background run can be followed."""

    priority = 90
    name = "epoch_printer"

    def on_log(self, trainer, entry: dict) -> None:
        print(json.dumps({k: entry[k] for k in entry if not isinstance(entry[k], dict)}),
              flush=True)


def memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return math.nan


def build_model(args, rng: np.random.Generator) -> GraphModel:
    if args.model == "lenet5":
        graph = lenet5(rng=rng)
    else:
        given = {k: getattr(args, k) for k in ("channels", "hidden", "dropout")
                 if getattr(args, k) is not None}  # the others: the builder's defaults
        graph = convnet(rng=rng, **given)
    return GraphModel.from_graph(graph)


def train(args) -> dict:
    train_images, train_labels, test_images, test_labels = load_mnist(args.data_dir,
                                                                      download=False)
    train_images, train_labels = train_images[:args.train_size], train_labels[:args.train_size]
    prep = Preprocessing.fit(train_images, "center")
    shape = (-1, *IMAGE_SHAPE)
    X = prep.transform(train_images, np.float32).reshape(shape)
    X_test = prep.transform(test_images, np.float32).reshape(shape)
    rng = np.random.default_rng(args.seed)
    model = build_model(args, rng)
    background = (-prep.mean / 255).astype(np.float32).reshape(IMAGE_SHAPE)
    data = digit_batches(X, train_labels, args.batch_size, rng, args.shift, background)
    steps = args.epochs * data.batches_per_epoch
    schedule = build_schedule(args.schedule, warmup_steps=args.warmup_steps, run_steps=steps,
                              min_factor=args.min_factor if args.schedule == "cosine" else None)
    optimizer = make_optimizer("adam", model.parameter_nodes, learning_rate=args.lr,
                                weight_decay=args.weight_decay,
                                weight_decay_vectors=False, schedule=schedule)
    trainer = Trainer(model, optimizer, data, epochs=args.epochs, extensions=[
        Evaluate((X_test, test_labels), prefix="test_", monitor="test_accuracy", mode="max",
                 batch_size=args.eval_batch_size), EpochPrinter()])
    before = memory_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
    started = time.perf_counter()
    history = trainer.run()
    wall = time.perf_counter() - started
    epoch_seconds = history.column("train_seconds")  # each entry's own seconds
    accuracy = history.column("test_accuracy")
    return {"model": args.model, "arguments": {k: (str(v) if isinstance(v, Path) else v)
                                               for k, v in vars(args).items()},
            "parameters": model.n_parameters, "test_accuracy": accuracy,
            "final_test_accuracy": accuracy[-1], "best_test_accuracy": max(accuracy),
            "train_loss": history.column("loss"), "epoch_seconds": epoch_seconds,
            "wall_seconds": wall, "peak_rss_mb": memory_mb("VmHWM"),
            "peak_extra_mb": memory_mb("VmHWM") - before, "rss_before_mb": before}


def parse_arguments(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["lenet5", "convnet"], default="lenet5")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--schedule", choices=["constant", "cosine"], default="cosine")
    p.add_argument("--min-factor", type=float, default=0.0,
                   help="cosine: the final rate as a fraction of --lr (default 0)")
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="decoupled, per step (w <- (1 - lambda s_k) w), matrices only")
    p.add_argument("--shift", type=int, default=1,
                   help="random shifts up to S pixels (default 1; 0: none)")
    p.add_argument("--channels", type=int, nargs=2, default=None,
                   help="convnet's (default: the builder's)")
    p.add_argument("--hidden", type=int, default=None, help="convnet's (default: the builder's)")
    p.add_argument("--dropout", type=float, default=None,
                   help="convnet's (default: the builder's)")
    p.add_argument("--eval-batch-size", type=int, default=250,
                   help="test images per forward pass of the evaluation (default 250)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--train-size", type=int, default=None)
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    p.add_argument("--json", type=Path, default=None, help="also write the results to FILE")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_arguments(argv)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        result = train(args)
    print(json.dumps({k: v for k, v in result.items() if k != "arguments"}), flush=True)
    print(f"{args.model}: final test accuracy {100 * result['final_test_accuracy']:.2f}% "
          f"(best {100 * result['best_test_accuracy']:.2f}%), "
          f"{np.median(result['epoch_seconds']):.1f} s/epoch (median), peak RSS "
          f"{result['peak_rss_mb']:.0f} MB ({result['peak_extra_mb']:.0f} MB over the "
          f"{result['rss_before_mb']:.0f} MB before training)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
