"""``dagnet mnist``: train a fully-connected net on MNIST and look inside it;
``dagnet predict``: read digits from images or IDX files with a trained model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dagnet.argtypes import fraction, non_negative_int, positive_int
from dagnet.cli.run import CommandRun, add_debug_argument, add_run_arguments
from dagnet.data.mnist import Preprocessing, load_mnist
from dagnet.experiments.digits import describe, predict_digits
from dagnet.experiments.mnist import (
    MODELS,
    RECIPES,
    apply_recipe,
    architecture,
    describe_model,
    digit_trainer,
    draw_figures,
    model_inputs,
    new_model,
    recipe_help,
    shown_default,
)
from dagnet.models import GraphModel
from dagnet.optim.options import add_optimizer_arguments
from dagnet.training import Checkpoint, RunRecord, optimizer_from_checkpoint, resume, training_state
from dagnet.viz.mnist import plot_digits

MODEL_FILE = "model.safetensors"
# Options a resumed run must keep: they shape the model, the data or the optimizer.
FIXED = ("model", "layers", "activation", "pooling", "channels", "hidden", "dropout", "shift",
         "preprocessing", "components", "train_size", "batch_size", "dtype", "optimizer")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "mnist", help="train a fully-connected or convolutional network on MNIST digits",
        description="Train a network on MNIST: --model mlp (tanh hidden layers, the "
                    "tutorial's), lenet5 or cnn (docs/part7-convolution.md), with a softmax "
                    "output and the fused softmax cross-entropy. Writes metrics.json, "
                    "metrics.jsonl, learning_curves.png, model.safetensors (a checkpoint: "
                    "--resume continues it), deep_features.png, confusion_matrix.png, "
                    "errors.png, and weights.png (mlp) or filters.png and feature_maps.png "
                    "into the run folder. Options left out take the model's recipe "
                    "(dagnet.experiments.mnist.RECIPES). May change on --resume: --epochs, "
                    "--lr and the schedule options.")
    parser.add_argument("--model", choices=MODELS, default="mlp",
                        help="mlp (default), lenet5 or cnn")
    parser.add_argument("--layers", type=positive_int, nargs="+", default=None, metavar="N",
                        help="mlp: layer sizes after the input, the last one 10 "
                             f"(default {shown_default('layers')})")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="passes over the training set, in all (default "
                             f"{shown_default('epochs')})")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help=f"default {shown_default('batch_size')}")
    parser.add_argument("--activation", choices=["tanh", "relu", "sigmoid"], default=None,
                        help="mlp, lenet5 (relu or tanh): hidden-layer activation (default "
                             f"{shown_default('activation')})")
    parser.add_argument("--pooling", choices=["max", "avg"], default=None,
                        help=f"lenet5: pooling (default {shown_default('pooling')})")
    parser.add_argument("--channels", type=positive_int, nargs=2, default=None,
                        metavar=("C1", "C2"), help="cnn: filters of its two blocks (default "
                                                   f"{shown_default('channels')})")
    parser.add_argument("--hidden", type=positive_int, default=None,
                        help=f"cnn: units of its dense layer (default {shown_default('hidden')})")
    parser.add_argument("--dropout", type=fraction, default=None, metavar="RATE",
                        help=f"cnn: dropout rate before the last layer, in [0, 1) (default "
                             f"{shown_default('dropout')})")
    parser.add_argument("--shift", type=non_negative_int, default=None, metavar="PIXELS",
                        help="lenet5, cnn: move each training image by up to PIXELS at random, "
                             f"every epoch anew (default {shown_default('shift')})")
    parser.add_argument("--preprocessing", choices=["center", "standardize", "whiten"],
                        default=None,
                        help="center: subtract the training mean, divide by 255 (the "
                             "tutorial's); standardize: divide by each pixel's standard "
                             "deviation; whiten: PCA whitening, mlp only (default "
                             f"{shown_default('preprocessing')})")
    parser.add_argument("--components", type=positive_int, default=None, metavar="K",
                        help="whiten: keep the first K principal components (default all)")
    parser.add_argument("--train-size", type=positive_int, default=None, metavar="N",
                        help="train on the first N training images only (quick runs)")
    parser.add_argument("--3d", dest="three_d", action="store_true",
                        help="add a 3-D view to deep_features.png")
    add_optimizer_arguments(parser, default="gd", default_lr=RECIPES["mlp"].lr)
    # Left unset, these come from the model's recipe.
    parser.set_defaults(optimizer=None, lr_schedule=None)
    recipe_help(parser)
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

def _resumed(args, run: CommandRun):
    """The model, its preprocessing and optimizer from the checkpoint resumed; the
    checkpoint's options stand for those not given again."""
    model = GraphModel.load(args.resume)
    run.check_resume(training_state(model, args.resume)["options"])
    recipe = apply_recipe(args)
    optimizer = optimizer_from_checkpoint(model, args.resume)
    if "lr" in args.given:
        optimizer.learning_rate = args.lr
    args.lr = optimizer.learning_rate
    preprocessing = Preprocessing.from_model(model.metadata.get("preprocessing") or {},
                                             model.extra_tensors, str(args.resume))
    return recipe, model, preprocessing, optimizer


def run_mnist(args: argparse.Namespace) -> int:
    if args.resume is None:
        recipe = apply_recipe(args)
    train_images, train_labels, test_images, test_labels = load_mnist(
        args.data, progress=False if args.quiet else None)
    run = CommandRun(args, "mnist", FIXED)
    # One generator draws the initial weights, then shuffles every epoch (a resumed run
    # takes the shuffling generator's state from its checkpoint).
    rng = np.random.default_rng(args.seed)
    if args.resume is not None:
        recipe, model, preprocessing, optimizer = _resumed(args, run)
    train_images = train_images[:args.train_size]
    train_labels = train_labels[:args.train_size]
    if args.resume is None:
        model, preprocessing, optimizer = new_model(args, train_images, rng)
    model.debug = run.debug
    X = model_inputs(model, preprocessing, train_images)
    X_test = model_inputs(model, preprocessing, test_images)
    checkpoint = Checkpoint(run.folder, MODEL_FILE, every=(1, "epoch"), options=run.options())
    trainer, data = digit_trainer(model, preprocessing, optimizer, args, recipe, (X, train_labels),
                                  (X_test, test_labels), rng, run.extensions(
                                      unit="img", description="mnist", checkpoint=checkpoint))
    if args.resume is not None:
        resume(trainer, args.resume)
    history = run.train(trainer)
    figures = _draw(run.folder, args, recipe, model, preprocessing, history, X_test,
                    test_images, test_labels, len(X))
    run.record.add_file("checkpoint", run.folder / MODEL_FILE)
    test_accuracy = history.last.get("test_accuracy")
    return run.finish(
        f"mnist: test accuracy {100 * test_accuracy:.2f}% after {history.epochs:g} epoch(s) "
        f"({history.train_seconds:.1f} s of training)",
        accuracy=test_accuracy, test_accuracy=test_accuracy,
        train_accuracy=history.last.get("train_accuracy"),
        images_per_second=len(X) * (history.steps / data.batches_per_epoch)
        / max(history.train_seconds, 1e-12),
        history=history.entries, model=args.model, **architecture(args, model),
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        lr_schedule=args.lr_schedule, shift=args.shift, preprocessing=args.preprocessing,
        dtype=args.dtype,
        train_images=len(X), train_accuracy_images=recipe.measured_subset(len(X)) or len(X),
        test_images=len(X_test), **figures)


def _draw(folder, args, recipe, model, preprocessing, history, X_test, test_images,
          test_labels, n_train: int) -> dict:
    return draw_figures(folder, model, preprocessing, history.entries, X_test, test_images,
                        test_labels, f"MNIST, {describe_model(args)}, {args.optimizer} lr "
                        f"{args.lr:g}, batch {args.batch_size}", three_d=args.three_d,
                        chunk=recipe.eval_batch_size,
                        train_measured=recipe.measured_subset(n_train))


# -- prediction ----------------------------------------------------------------------

def run_predict(args: argparse.Namespace) -> int:
    images, results = predict_digits(args.model, args.files, args.top)
    if args.json:
        print(json.dumps({"model": str(args.model), "predictions": results}, indent=2))
    else:
        print("\n".join(describe(entry) for entry in results))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        captions = [f"{r['digit']} ({100 * r['probability']:.0f}%)" for r in results[:100]]
        plot_digits(args.out / "inputs.png", images[:100], captions,
                    "what the model saw (28x28) and its prediction")
        record = RunRecord(args.out, "predict", args.argv, None)
        record.add_file("inputs", args.out / "inputs.png")
        record.write(model=str(args.model), predictions=results)
    return 0
