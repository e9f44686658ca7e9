"""``dagnet mnist``: train a fully-connected net on MNIST and look inside it;
``dagnet predict``: read digits from images or IDX files with a trained model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dagnet.argtypes import positive_int
from dagnet.cli.run import CommandRun, add_debug_argument, add_run_arguments
from dagnet.data.mnist import Preprocessing, load_mnist
from dagnet.errors import DagnetError
from dagnet.experiments.digits import describe, predict_digits
from dagnet.models import GraphModel, fully_connected
from dagnet.optim.options import add_optimizer_arguments, make_optimizer
from dagnet.training import (
    ArrayBatches,
    Checkpoint,
    Evaluate,
    RunRecord,
    Trainer,
    optimizer_from_checkpoint,
    resume,
    training_state,
)

MODEL_FILE = "model.safetensors"
DEFAULT_LR = 0.5
# Options a resumed run must keep: they shape the model, the data or the optimizer.
FIXED = ("layers", "activation", "preprocessing", "components", "train_size", "batch_size",
         "dtype", "optimizer")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "mnist", help="train a fully-connected network on MNIST digits",
        description="Train a fully-connected network (tanh hidden layers, softmax output "
                    "with the fused softmax cross-entropy) on MNIST. Writes metrics.json, "
                    "metrics.jsonl, learning_curves.png, model.safetensors (a checkpoint: "
                    "--resume continues it), weights.png, deep_features.png, "
                    "confusion_matrix.png and errors.png into the run folder. May change on "
                    "--resume: --epochs, --lr and the schedule options.")
    parser.add_argument("--layers", type=positive_int, nargs="+", default=[128, 64, 10],
                        metavar="N", help="layer sizes after the input, the last one 10 "
                                          "(default 128 64 10)")
    parser.add_argument("--epochs", type=positive_int, default=10,
                        help="passes over the training set, in all (default 10)")
    parser.add_argument("--batch-size", type=positive_int, default=128, help="default 128")
    parser.add_argument("--activation", choices=["tanh", "relu", "sigmoid"], default="tanh",
                        help="hidden-layer activation (default tanh, as in the tutorial)")
    parser.add_argument("--preprocessing", choices=["center", "standardize", "whiten"],
                        default="center",
                        help="center: subtract the training mean, divide by 255 (the "
                             "tutorial's, default); standardize: divide by each pixel's "
                             "standard deviation; whiten: PCA whitening")
    parser.add_argument("--components", type=positive_int, default=None, metavar="K",
                        help="whiten: keep the first K principal components (default all)")
    parser.add_argument("--train-size", type=positive_int, default=None, metavar="N",
                        help="train on the first N training images only (quick runs)")
    parser.add_argument("--3d", dest="three_d", action="store_true",
                        help="add a 3-D view to deep_features.png")
    add_optimizer_arguments(parser, default="gd", default_lr=DEFAULT_LR)
    add_run_arguments(parser, data_help="folder with the four MNIST IDX files (raw or .gz), "
                                        "or a root holding mnist/ (default: "
                                        "$DAGNET_DATA_DIR, the cache, or a download)")
    parser.set_defaults(run=run_mnist)

    predict = subparsers.add_parser(
        "predict", help="predict the digits in images or IDX files with a trained model",
        description="Print the digit a model trained by `dagnet mnist` reads in each FILE: "
                    "a PNG/JPEG image of one digit (any size; centred in 28x28 the way "
                    "MNIST digits were) or an IDX file of 28x28 uint8 images.")
    predict.add_argument("model", type=Path, help="a model file written by `dagnet mnist`")
    predict.add_argument("files", type=Path, nargs="+", metavar="FILE",
                         help="PNG/JPEG images or IDX files")
    predict.add_argument("--top", type=positive_int, default=3,
                         help="how many of the most probable digits to show (default 3)")
    predict.add_argument("--json", action="store_true",
                         help="print the predictions as JSON (one object) on stdout")
    predict.add_argument("--out", type=Path, default=None,
                         help="also write inputs.png (the 28x28 digits the model saw) and "
                              "metrics.json into this folder")
    add_debug_argument(predict)
    predict.set_defaults(run=run_predict)


# -- training ------------------------------------------------------------------------

def _check_arguments(args: argparse.Namespace) -> None:
    if args.layers[-1] != 10:
        raise DagnetError(f"--layers must end with 10 (one output per digit), got "
                          f"{' '.join(map(str, args.layers))}")
    if args.components is not None and args.preprocessing != "whiten":
        raise DagnetError("--components applies to --preprocessing whiten only")


def _resumed(args, run: CommandRun):
    """The model, its preprocessing and optimizer from the checkpoint resumed; the
    checkpoint's options stand for those not given again."""
    model = GraphModel.load(args.resume)
    run.check_resume(training_state(model, args.resume)["options"])
    optimizer = optimizer_from_checkpoint(model, args.resume)
    if "lr" in args.given:
        optimizer.learning_rate = args.lr
    args.lr = optimizer.learning_rate
    preprocessing = Preprocessing.from_model(model.metadata.get("preprocessing") or {},
                                             model.extra_tensors, str(args.resume))
    return model, preprocessing, optimizer


def _new(args, train_images: np.ndarray, rng: np.random.Generator):
    """A new model (weights drawn from ``rng``), its preprocessing and optimizer."""
    preprocessing = Preprocessing.fit(train_images, args.preprocessing,
                                      n_components=args.components)
    model = fully_connected(args.layers, preprocessing.n_features, args.activation,
                            "softmax", rng=rng, dtype=np.dtype(args.dtype))
    steps = args.epochs * -(-len(train_images) // args.batch_size)
    optimizer = make_optimizer(args, model.parameter_nodes, total_steps=steps)
    metadata, tensors = preprocessing.to_model()
    model.metadata = {"task": "mnist", "preprocessing": metadata, "layers": args.layers,
                      "activation": args.activation, "seed": args.seed}
    model.extra_tensors = tensors
    return model, preprocessing, optimizer


def run_mnist(args: argparse.Namespace) -> int:
    _check_arguments(args)
    train_images, train_labels, test_images, test_labels = load_mnist(
        args.data, progress=False if args.quiet else None)
    run = CommandRun(args, "mnist", FIXED)
    # One generator draws the initial weights, then shuffles every epoch (a resumed run
    # takes the shuffling generator's state from its checkpoint).
    rng = np.random.default_rng(args.seed)
    resumed = _resumed(args, run) if args.resume is not None else None
    train_images = train_images[:args.train_size]
    train_labels = train_labels[:args.train_size]
    model, preprocessing, optimizer = resumed or _new(args, train_images, rng)
    model.debug = run.debug
    X = preprocessing.transform(train_images, model.dtype)
    X_test = preprocessing.transform(test_images, model.dtype)
    data = ArrayBatches(X, train_labels, args.batch_size, rng)
    checkpoint = Checkpoint(run.folder, MODEL_FILE, every=(1, "epoch"), options=run.options())
    trainer = Trainer(model, optimizer, data, epochs=args.epochs, extensions=[
        Evaluate((X, train_labels), prefix="train_", monitor=False, batch_size=10000),
        Evaluate((X_test, test_labels), prefix="test_", monitor="test_accuracy", mode="max",
                 batch_size=10000),
        *run.extensions(unit="img", description="mnist", checkpoint=checkpoint)])
    if args.resume is not None:
        resume(trainer, args.resume)
    history = run.train(trainer)
    figures = _draw(run.folder, args, model, preprocessing, history, X_test, test_images,
                    test_labels)
    run.record.add_file("checkpoint", run.folder / MODEL_FILE)
    test_accuracy = history.last.get("test_accuracy")
    return run.finish(
        f"mnist: test accuracy {100 * test_accuracy:.2f}% after {history.epochs:g} epoch(s) "
        f"({history.train_seconds:.1f} s of training)",
        accuracy=test_accuracy, test_accuracy=test_accuracy,
        train_accuracy=history.last.get("train_accuracy"),
        images_per_second=len(X) * (history.steps / data.batches_per_epoch)
        / max(history.train_seconds, 1e-12),
        history=history.entries, layers=args.layers, activation=args.activation,
        parameters=model.n_parameters, epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, preprocessing=args.preprocessing,
        dtype=args.dtype, train_images=len(X), test_images=len(X_test), **figures)


def _draw(folder: Path, args, model, preprocessing, history, X_test, test_images,
          test_labels) -> dict:
    from dagnet.viz.mnist import draw_mnist_run

    layers = " ".join(map(str, args.layers))
    return draw_mnist_run(folder, model, preprocessing, history.entries, X_test, test_images,
                          test_labels, f"MNIST, layers [{layers}], {args.optimizer} lr "
                          f"{args.lr:g}, batch {args.batch_size}", three_d=args.three_d)


# -- prediction ----------------------------------------------------------------------

def run_predict(args: argparse.Namespace) -> int:
    images, results = predict_digits(args.model, args.files, args.top)
    if args.json:
        print(json.dumps({"model": str(args.model), "predictions": results}, indent=2))
    else:
        print("\n".join(describe(entry) for entry in results))
    if args.out is not None:
        from dagnet.viz.mnist import plot_digits

        args.out.mkdir(parents=True, exist_ok=True)
        captions = [f"{r['digit']} ({100 * r['probability']:.0f}%)" for r in results[:100]]
        plot_digits(args.out / "inputs.png", images[:100], captions,
                    "what the model saw (28x28) and its prediction")
        record = RunRecord(args.out, "predict", args.argv, None)
        record.add_file("inputs", args.out / "inputs.png")
        record.write(model=str(args.model), predictions=results)
    return 0
