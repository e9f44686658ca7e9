"""``dagnet mnist``: train a fully-connected net on MNIST and look inside it;
``dagnet predict``: read digits from images or IDX files with a trained model."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from dagnet.cli.common import (
    add_debug_argument,
    add_optimizer_arguments,
    add_run_arguments,
    make_optimizer,
    progress_enabled,
    run_folder,
    say,
    write_metrics,
)
from dagnet.errors import DagnetError

MODEL_FILE = "model.safetensors"
DEFAULT_LR = 0.5
_CHUNK = 10000  # rows per forward pass when evaluating


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "mnist", help="train a fully-connected network on MNIST digits",
        description="Train a fully-connected network (tanh hidden layers, softmax output "
                    "with the fused softmax cross-entropy) on MNIST. Writes metrics.json, "
                    "learning_curves.png, model.safetensors, weights.png, deep_features.png, "
                    "confusion_matrix.png and errors.png into the run folder. The data come "
                    "from --data-dir, $DAGNET_DATA_DIR, the cache, or a download.")
    parser.add_argument("--layers", type=int, nargs="+", default=[128, 64, 10],
                        metavar="N", help="layer sizes after the input, the last one 10 "
                                          "(default 128 64 10)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training "
                                                               "set (default 10)")
    parser.add_argument("--batch-size", type=int, default=128, help="default 128")
    parser.add_argument("--activation", choices=["tanh", "relu", "sigmoid"], default="tanh",
                        help="hidden-layer activation (default tanh, as in the tutorial)")
    parser.add_argument("--preprocessing", choices=["center", "standardize", "whiten"],
                        default="center",
                        help="center: subtract the training mean, divide by 255 (the "
                             "tutorial's, default); standardize: divide by each pixel's "
                             "standard deviation; whiten: PCA whitening")
    parser.add_argument("--components", type=int, default=None, metavar="K",
                        help="whiten: keep the first K principal components (default all)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder with the four MNIST IDX files (raw or .gz)")
    parser.add_argument("--train-size", type=int, default=None, metavar="N",
                        help="train on the first N training images only (quick runs)")
    parser.add_argument("--float32", action="store_true",
                        help="compute in float32 end to end (default float64)")
    parser.add_argument("--3d", dest="three_d", action="store_true",
                        help="add a 3-D view to deep_features.png")
    add_optimizer_arguments(parser, default="gd", default_lr=DEFAULT_LR)
    add_run_arguments(parser)
    parser.set_defaults(run=run_mnist)

    predict = subparsers.add_parser(
        "predict", help="predict the digits in images or IDX files with a trained model",
        description="Print the digit a model trained by `dagnet mnist` reads in each FILE: "
                    "a PNG/JPEG image of one digit (any size; centred in 28x28 the way "
                    "MNIST digits were) or an IDX file of 28x28 uint8 images.")
    predict.add_argument("model", type=Path, help="a model file written by `dagnet mnist`")
    predict.add_argument("files", type=Path, nargs="+", metavar="FILE",
                         help="PNG/JPEG images or IDX files")
    predict.add_argument("--top", type=int, default=3,
                         help="how many of the most probable digits to show (default 3)")
    predict.add_argument("--json", action="store_true",
                         help="print the predictions as JSON (one object) on stdout")
    predict.add_argument("--out", type=Path, default=None,
                         help="also write inputs.png (the 28x28 digits the model saw) and "
                              "metrics.json into this folder")
    add_debug_argument(predict)
    predict.set_defaults(run=run_predict)


# -- training ------------------------------------------------------------------------

def run_mnist(args: argparse.Namespace) -> int:
    from dagnet.data.mnist import Preprocessing, load_mnist, one_hot
    from dagnet.io import save
    from dagnet.models import fully_connected
    from dagnet.training import train

    _check_arguments(args)
    started = time.perf_counter()
    progress = progress_enabled(args)
    dtype = np.float32 if args.float32 else np.float64
    rng = np.random.default_rng(args.seed)

    train_images, train_labels, test_images, test_labels = load_mnist(
        args.data_dir, progress=progress)
    folder = run_folder(args, "mnist")
    if args.train_size is not None:
        train_images = train_images[:args.train_size]
        train_labels = train_labels[:args.train_size]
    preprocessing = Preprocessing.fit(train_images, args.preprocessing,
                                      n_components=args.components)
    X = preprocessing.transform(train_images, dtype)
    X_test = preprocessing.transform(test_images, dtype)
    Y = one_hot(train_labels, dtype=dtype)

    graph = fully_connected(args.layers, preprocessing.n_features, args.activation,
                            "softmax", rng=rng, dtype=dtype)
    graph.debug = getattr(args, "debug", False)
    steps = args.epochs * math.ceil(len(X) / args.batch_size)
    optimizer = make_optimizer(args, graph.parameter_nodes, total_steps=steps)
    n_parameters = sum(node.w.size for node in graph.parameter_nodes)
    say(f"mnist: layers {args.layers} ({n_parameters:,} parameters), {len(X):,} training and "
        f"{len(X_test):,} test images, {args.optimizer} lr {args.lr:g}, batch "
        f"{args.batch_size}, {np.dtype(dtype).name}")

    def evaluate(epoch: int) -> dict:
        train_accuracy = float(np.mean(predict_classes(graph, X) == train_labels))
        test_accuracy = float(np.mean(predict_classes(graph, X_test) == test_labels))
        say(f"epoch {epoch}/{args.epochs}: train accuracy {100 * train_accuracy:.2f}%, "
            f"test accuracy {100 * test_accuracy:.2f}%")
        return {"train_accuracy": train_accuracy, "test_accuracy": test_accuracy}

    history = train(graph, optimizer, X, Y, epochs=args.epochs, batch_size=args.batch_size,
                    rng=rng, on_epoch=evaluate, progress=progress, description="epoch",
                    example_unit="img")
    training_seconds = sum(h["seconds"] for h in history)

    probabilities, features = forward_with_features(graph, X_test)
    predicted = probabilities.argmax(axis=1)
    test_accuracy = float(np.mean(predicted == test_labels))
    metadata, tensors = preprocessing.to_model()
    model_path = save(graph, folder / MODEL_FILE, extra_tensors=tensors, metadata={
        "task": "mnist", "preprocessing": metadata, "layers": args.layers,
        "activation": args.activation, "test_accuracy": test_accuracy, "seed": args.seed})
    figures = _draw(folder, args, graph, preprocessing, history, features, probabilities,
                    test_images, test_labels)

    write_metrics(folder, {
        "command": "mnist", "seed": args.seed, "seconds": training_seconds,
        "wall_seconds": time.perf_counter() - started,
        "final_cost": history[-1]["cost"], "accuracy": test_accuracy,
        "test_accuracy": test_accuracy, "train_accuracy": history[-1]["train_accuracy"],
        "images_per_second": len(X) * args.epochs / training_seconds,
        "history": history, "layers": args.layers, "activation": args.activation,
        "parameters": n_parameters, "epochs": args.epochs, "batch_size": args.batch_size,
        "optimizer": args.optimizer, "lr": args.lr,
        "weight_decay": getattr(args, "weight_decay", 0.0),
        "preprocessing": args.preprocessing, "dtype": np.dtype(dtype).name,
        "train_images": len(X), "test_images": len(X_test),
        "confusion_matrix": _confusion(test_labels, predicted),
        "model": model_path.name, "figures": figures})
    say(f"test accuracy {100 * test_accuracy:.2f}% after {args.epochs} epoch(s) "
        f"({training_seconds:.1f} s of training); wrote {folder}")
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    if args.layers[-1] != 10 or min(args.layers) < 1:
        raise DagnetError(f"--layers must be positive and end with 10 (one output per "
                          f"digit), got {' '.join(map(str, args.layers))}")
    for name in ("epochs", "batch_size", "train_size", "components"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise DagnetError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.components is not None and args.preprocessing != "whiten":
        raise DagnetError("--components applies to --preprocessing whiten only")


def predict_classes(graph, X: np.ndarray) -> np.ndarray:
    """The most probable digit for each row of X, evaluated in chunks."""
    return np.concatenate([graph.propagate([X[i:i + _CHUNK]])[0].argmax(axis=1)
                           for i in range(0, len(X), _CHUNK)])


def forward_with_features(graph, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The output probabilities and the penultimate layer's activations (the input
    itself for a one-layer net) for the rows of X."""
    hidden = _penultimate(graph)
    outputs, features = [], []
    for i in range(0, len(X), _CHUNK):
        outputs.append(graph.propagate([X[i:i + _CHUNK]])[0])
        features.append(hidden.y[0] if hidden is not None else X[i:i + _CHUNK])
    return np.concatenate(outputs), np.concatenate(features)


def _penultimate(graph):
    """The activation node feeding the last layer, or None when there is one layer."""
    last_linear = graph.output_nodes[0][0].parents[0][0]
    source = last_linear.parents[0][0]
    return None if source in graph.input_nodes else source


def _confusion(labels: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    from dagnet.viz.mnist import confusion_matrix

    return confusion_matrix(labels, predicted).tolist()


def _draw(folder: Path, args, graph, preprocessing, history, features, probabilities,
          test_images, test_labels) -> list[str]:
    from dagnet.viz import mnist as viz

    predicted = probabilities.argmax(axis=1)
    layers = " ".join(map(str, args.layers))
    first = next(node for node in graph.parameter_nodes if node.name == "layer1/W")
    paths = [
        viz.plot_learning_curves(folder / "learning_curves.png", history,
                                 f"MNIST, layers [{layers}], {args.optimizer} "
                                 f"lr {args.lr:g}, batch {args.batch_size}"),
        viz.plot_weights(folder / "weights.png", preprocessing.pixel_weights(first.w),
                         f"first-layer weights of [{layers}] on the pixels"),
    ]
    n = min(1000, len(features))
    hidden = _penultimate(graph)
    where = (f"penultimate layer ({hidden.y[0].shape[1]} {args.activation} units)"
             if hidden is not None else "the input (a one-layer net has no hidden layer)")
    paths.append(viz.plot_deep_features(folder / "deep_features.png", features[:n],
                                        test_labels[:n], f"PCA of the {where}, "
                                        f"{n} test images", three_d=args.three_d))
    paths.append(viz.plot_confusion_matrix(folder / "confusion_matrix.png",
                                           viz.confusion_matrix(test_labels, predicted)))
    paths.append(viz.plot_errors(folder / "errors.png", test_images, test_labels, predicted,
                                 probabilities.max(axis=1)))
    return [path.name for path in paths]


# -- prediction ----------------------------------------------------------------------

def run_predict(args: argparse.Namespace) -> int:
    from dagnet.data.mnist import Preprocessing
    from dagnet.io import load

    if args.top < 1:
        raise DagnetError(f"--top must be at least 1, got {args.top}")
    graph = load(args.model)
    if graph.metadata.get("task") != "mnist":
        raise DagnetError(f"{args.model}: not an MNIST model (train one with `dagnet mnist`)")
    preprocessing = Preprocessing.from_model(graph.metadata.get("preprocessing") or {},
                                             graph.extra_tensors, str(args.model))
    dtype = graph.parameter_nodes[0].w.dtype
    images, sources = read_digits(args.files)
    probabilities = np.concatenate([
        graph.propagate([preprocessing.transform(images[i:i + _CHUNK], dtype)])[0]
        for i in range(0, len(images), _CHUNK)]) if len(images) else np.zeros((0, 10))
    top = min(args.top, probabilities.shape[1])
    results = []
    for (name, index), p in zip(sources, probabilities):
        best = np.argsort(-p, kind="stable")[:top]
        entry = {"file": name, "digit": int(best[0]), "probability": float(p[best[0]]),
                 "top": [{"digit": int(d), "probability": float(p[d])} for d in best]}
        if index is not None:
            entry["index"] = index
        results.append(entry)
    if args.json:
        json.dump({"model": str(args.model), "predictions": results}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for entry in results:
            where = entry["file"] + (f"[{entry['index']}]" if "index" in entry else "")
            others = ", ".join(f"{t['digit']}: {100 * t['probability']:.1f}%"
                               for t in entry["top"])
            print(f"{where}: {entry['digit']}  ({others})")
    if args.out is not None:
        from dagnet.viz.mnist import plot_digits

        args.out.mkdir(parents=True, exist_ok=True)
        shown = images[:100]
        captions = [f"{r['digit']} ({100 * r['probability']:.0f}%)" for r in results[:100]]
        plot_digits(args.out / "inputs.png", shown, captions,
                    "what the model saw (28x28) and its prediction")
        write_metrics(args.out, {"command": "predict", "model": str(args.model),
                                 "predictions": results, "figures": ["inputs.png"]})
    return 0


def read_digits(files: list[Path]) -> tuple[np.ndarray, list[tuple[str, int | None]]]:
    """uint8 digits (N, 28, 28) from images and IDX files, with (file, index in an IDX
    file or None) for each."""
    from dagnet.data.idx import is_idx, read_idx
    from dagnet.data.mnist import read_digit_image
    from dagnet.errors import DataError

    digits, sources = [], []
    for path in files:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        if is_idx(path):
            array = read_idx(path, dtype=np.uint8)
            if array.shape[-2:] != (28, 28) or array.ndim not in (2, 3):
                raise DataError(f"{path}: an IDX file of shape {array.shape}; predict reads "
                                "28x28 uint8 images, (N, 28, 28) or (28, 28)")
            array = array.reshape(-1, 28, 28)
            digits.append(array)
            sources += [(str(path), k) for k in range(len(array))]
        else:
            digits.append(read_digit_image(path)[None])
            sources.append((str(path), None))
    return np.concatenate(digits), sources
