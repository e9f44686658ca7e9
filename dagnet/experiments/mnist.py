"""The digit classifiers of ``dagnet mnist``: the models by kind, each with its recipe.

Three kinds of model read the same preprocessed digits:

- ``mlp``: the tutorial's fully-connected net (``fully_connected``), images as rows
  (N, 784);
- ``lenet5`` and ``cnn``: the convolutional nets of ``dagnet.models.convolutional``,
  images as (N, 1, 28, 28): the saved preprocessing, then a reshape.

``RECIPES`` holds, in one place, what each kind trains with when the command line
does not say: optimizer, learning rate and schedule, epochs, batch size,
preprocessing, and the builder's arguments.  A model file keeps the kind, the
builder's arguments and the input shape in its metadata, so that prediction and
export rebuild the same inputs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dagnet.data.augment import random_shifts
from dagnet.data.mnist import Preprocessing
from dagnet.errors import DagnetError
from dagnet.models import GraphModel, fully_connected
from dagnet.models.convolutional import IMAGE_SHAPE, convnet, lenet5
from dagnet.optim import OptimizationAlgorithm
from dagnet.optim.options import make_optimizer
from dagnet.training import ArrayBatches, AugmentedBatches, Evaluate, Extension, Trainer
from dagnet.viz.convolution import feature_maps, first_kernels, plot_feature_maps, plot_filters
from dagnet.viz.mnist import draw_mnist_run


@dataclass(frozen=True)
class Recipe:
    """How one kind of model trains by default; every field is a command-line option."""

    optimizer: str
    lr: float
    lr_schedule: str
    epochs: int
    batch_size: int
    preprocessing: str
    builder: dict = field(default_factory=dict)  # the builder's arguments, by option name
    shift: int = 0  # training images moved at random by up to this many pixels
    eval_batch_size: int = 10000  # images per forward pass when evaluating
    train_eval_size: int | None = None  # training images measured each epoch (None: all)

    def measured_subset(self, n_train: int) -> int | None:
        """How many of ``n_train`` training images the training accuracy is measured on,
        when that is fewer than all of them; None otherwise."""
        size = self.train_eval_size
        return size if size is not None and size < n_train else None


# The convolutional recipes come from seeded 10-epoch runs (benchmarks/mnist_cnn_accuracy.py
# and dagnet mnist itself; figures in docs/part7-convolution.md): Adam 2e-3 with a cosine
# decay, and training digits moved by a pixel or two, which the nets did not reach 99.3%
# (cnn) without.  Evaluation goes 1,000 images at a time (250 for the cnn, whose im2col
# buffers set the run's peak memory: 1.36 GB at 1,000, 0.68 GB at 250) and measures the
# training accuracy on 10,000 training images (a full pass costs a third of an epoch).
RECIPES: dict[str, Recipe] = {
    "mlp": Recipe("gd", 0.5, "constant", 10, 128, "center",
                  {"layers": [128, 64, 10], "activation": "tanh"}),
    "lenet5": Recipe("adam", 2e-3, "cosine", 10, 128, "center",
                     {"activation": "relu", "pooling": "max"}, shift=2,
                     eval_batch_size=1000, train_eval_size=10000),
    "cnn": Recipe("adam", 2e-3, "cosine", 10, 128, "center",
                  {"channels": [8, 16], "hidden": 128, "dropout": 0.0}, shift=1,
                  eval_batch_size=250, train_eval_size=10000),
}
MODELS = tuple(RECIPES)
# The options a recipe fills when they are not given (the builder's are added per kind).
TRAINING_OPTIONS = ("optimizer", "lr_schedule", "epochs", "batch_size", "preprocessing", "shift")


def flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def builder_options() -> dict[str, list[str]]:
    """Builder option -> the kinds of model it applies to."""
    found: dict[str, list[str]] = {}
    for kind, recipe in RECIPES.items():
        for option in recipe.builder:
            found.setdefault(option, []).append(kind)
    return found


def apply_recipe(args: argparse.Namespace) -> Recipe:
    """Fill the options left unset (None) from ``args.model``'s recipe, and refuse the
    options that do not apply to it, in one line naming the flag."""
    recipe = RECIPES[args.model]
    for option, kinds in builder_options().items():
        if args.model not in kinds and getattr(args, option, None) is not None:
            raise DagnetError(f"{flag(option)} applies to --model {' or '.join(kinds)} only, "
                              f"not {args.model}")
    for option in TRAINING_OPTIONS:
        if getattr(args, option, None) is None:
            setattr(args, option, getattr(recipe, option))
    for option, value in recipe.builder.items():
        if getattr(args, option, None) is None:
            setattr(args, option, value)
    # make_optimizer gives --lr's default to the default optimizer only.
    args.optimizer_default, args.optimizer_default_lr = recipe.optimizer, recipe.lr
    _check(args)
    return recipe


def _check(args: argparse.Namespace) -> None:
    if args.model == "mlp" and args.layers[-1] != 10:
        raise DagnetError(f"--layers must end with 10 (one output per digit), got "
                          f"{' '.join(map(str, args.layers))}")
    if args.components is not None and args.preprocessing != "whiten":
        raise DagnetError("--components applies to --preprocessing whiten only")
    if args.model != "mlp" and args.preprocessing == "whiten":
        raise DagnetError(f"--preprocessing whiten mixes the pixels; --model {args.model} "
                          "needs them in place: use center or standardize")
    if args.model == "mlp" and args.shift:
        raise DagnetError("--shift moves images: it applies to --model lenet5 or cnn")
    if args.model == "lenet5" and args.activation not in ("relu", "tanh"):
        raise DagnetError(f"--activation {args.activation}: --model lenet5 takes relu or tanh")


def builder_arguments(args: argparse.Namespace) -> dict:
    """The arguments of ``args.model``'s builder, JSON-ready, as its metadata keeps them."""
    return {option: getattr(args, option) for option in RECIPES[args.model].builder}


def build_model(args: argparse.Namespace, n_features: int, rng: np.random.Generator
                ) -> GraphModel:
    """A new model of kind ``args.model``, its weights drawn from ``rng``."""
    dtype = np.dtype(args.dtype)
    if args.model == "mlp":
        return fully_connected(args.layers, n_features, args.activation, "softmax", rng=rng,
                               dtype=dtype)
    if args.model == "lenet5":
        graph = lenet5(rng, dtype, activation=args.activation, pooling=args.pooling)
    else:
        graph = convnet(rng, dtype, channels=tuple(args.channels), hidden=args.hidden,
                        dropout=args.dropout)
    return GraphModel.from_graph(graph)


def new_model(args: argparse.Namespace, train_images: np.ndarray, rng: np.random.Generator
              ) -> tuple[GraphModel, Preprocessing, OptimizationAlgorithm]:
    """A new model (weights drawn from ``rng``), its preprocessing (fitted on
    ``train_images``) and optimizer, as the options describe them."""
    preprocessing = Preprocessing.fit(train_images, args.preprocessing,
                                      n_components=args.components)
    model = build_model(args, preprocessing.n_features, rng)
    steps = args.epochs * -(-len(train_images) // args.batch_size)
    optimizer = make_optimizer(args, model.parameter_nodes, total_steps=steps)
    metadata, tensors = preprocessing.to_model()
    if args.model == "mlp":  # the tutorial's model files, as they always were
        model.metadata = {"task": "mnist", "preprocessing": metadata, "layers": args.layers,
                          "activation": args.activation, "seed": args.seed}
    else:
        model.metadata = {"task": "mnist", "model": args.model,
                          "builder": builder_arguments(args),
                          "input_shape": list(IMAGE_SHAPE), "preprocessing": metadata,
                          "seed": args.seed}
    model.extra_tensors = tensors
    return model, preprocessing, optimizer


def model_kind(model: GraphModel) -> str:
    """``mlp``, ``lenet5`` or ``cnn``: the kind a model file of ``dagnet mnist`` holds."""
    return model.metadata.get("model", "mlp")


def model_inputs(model: GraphModel, preprocessing: Preprocessing, images: np.ndarray
                 ) -> np.ndarray:
    """uint8 digits (N, 28, 28) as ``model`` reads them: preprocessed rows (N, features),
    reshaped to the model's ``input_shape`` (N, 1, 28, 28) when its metadata has one."""
    X = preprocessing.transform(images, model.dtype)
    shape = model.metadata.get("input_shape")
    return X if shape is None else X.reshape(len(X), *shape)


def describe_model(args: argparse.Namespace) -> str:
    """``[128 64 10]`` or ``cnn (channels 8 16, hidden 64, dropout 0.25)``: for titles."""
    if args.model == "mlp":
        return f"layers [{' '.join(map(str, args.layers))}]"
    shown = ", ".join(f"{k} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                      for k, v in builder_arguments(args).items())
    return f"{args.model} ({shown})"


def digit_batches(X: np.ndarray, labels: np.ndarray, batch_size: int,
                  rng: np.random.Generator, shift: int = 0,
                  background: np.ndarray | float = 0.0) -> ArrayBatches:
    """Mini-batches of images X (N, C, H, W) or rows, shuffled by ``rng``; with ``shift``
    > 0 each batch's images are moved by up to ``shift`` pixels
    (``dagnet.data.augment.random_shifts`` on ``background``, the value of an empty
    pixel), the moves drawn by a generator seeded from ``rng``."""
    if not shift:
        return ArrayBatches(X, labels, batch_size, rng)
    return AugmentedBatches(
        X, labels, batch_size, rng,
        lambda images, shifts: random_shifts(images, shift, shifts, background),
        np.random.default_rng(rng.integers(2**63)))


def digit_trainer(model: GraphModel, preprocessing: Preprocessing,
                  optimizer: OptimizationAlgorithm, args, recipe: Recipe,
                  train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                  rng: np.random.Generator, extensions: list[Extension]
                  ) -> tuple[Trainer, ArrayBatches]:
    """The Trainer of a ``dagnet mnist`` run: mini-batches of ``train`` shuffled by
    ``rng`` (and moved by up to ``args.shift`` pixels, a generator drawn from ``rng``
    choosing the moves), the accuracy on (some of) the training set and on ``test`` each
    epoch."""
    X, labels = train
    # What an empty (all-zero) digit reads after the preprocessing: the background
    # that comes in where an image moves away from the frame.
    background = model_inputs(model, preprocessing, np.zeros((1, 28, 28), np.uint8))[0]
    data = digit_batches(X, labels, args.batch_size, rng, args.shift, background)
    measured = slice(None, recipe.train_eval_size)
    batch = recipe.eval_batch_size
    trainer = Trainer(model, optimizer, data, epochs=args.epochs, extensions=[
        Evaluate((X[measured], labels[measured]), prefix="train_", monitor=False,
                 batch_size=batch),
        Evaluate(test, prefix="test_", monitor="test_accuracy", mode="max", batch_size=batch),
        *extensions])
    return trainer, data


def shown_default(option: str) -> str:
    """A flag's default for --help: ``10`` when every kind agrees, else ``mlp 0.5, lenet5
    0.001, cnn 0.001`` (the kinds that have the option)."""
    values = {}
    for kind, recipe in RECIPES.items():
        value = recipe.builder.get(option, getattr(recipe, option, None))
        if isinstance(value, list):
            values[kind] = " ".join(map(str, value))
        elif value is not None:
            values[kind] = f"{value:g}" if isinstance(value, float) else str(value)
    if len(values) == len(RECIPES) and len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{kind} {value}" for kind, value in values.items())


def recipe_help(parser: argparse.ArgumentParser) -> None:
    """--optimizer, --lr and --lr-schedule's help: their defaults come from the recipes."""
    actions = parser._option_string_actions  # argparse has no public accessor
    actions["--optimizer"].help = (f"optimization algorithm (default "
                                   f"{shown_default('optimizer')}); sgd is gd")
    actions["--lr"].help = (f"learning rate (default {shown_default('lr')} for the model's "
                            "default optimizer, another one's own default otherwise)")
    actions["--lr-schedule"].help = ("learning-rate schedule (default "
                                     f"{shown_default('lr_schedule')})")


def architecture(args: argparse.Namespace, model: GraphModel) -> dict:
    """The run record's description of the model: layers and activation of an MLP, the
    builder's arguments of a convolutional net, and the number of weights."""
    if args.model == "mlp":
        return {"layers": args.layers, "activation": args.activation,
                "parameters": model.n_parameters}
    return {"builder": builder_arguments(args), "parameters": model.n_parameters}


def draw_figures(folder: Path, model: GraphModel, preprocessing: Preprocessing,
                 history: Sequence[dict], X_test: np.ndarray, test_images: np.ndarray,
                 test_labels: np.ndarray, title: str, three_d: bool = False,
                 chunk: int = 10000, n_maps: int = 3, train_measured: int | None = None
                 ) -> dict:
    """The figures of a ``dagnet mnist`` run (``dagnet.viz.mnist.draw_mnist_run``), and
    for a convolutional net filters.png (its first layer's kernels) and feature_maps.png
    (what each convolution layer makes of the first ``n_maps`` test digits).
    ``train_measured``: the training accuracy was measured on that many images only."""
    label = "train" if train_measured is None else f"train ({train_measured:,} images)"
    figures = draw_mnist_run(folder, model, preprocessing, history, X_test, test_images,
                             test_labels, title, three_d=three_d, chunk=chunk,
                             train_label=label)
    if model_kind(model) != "mlp":
        figures["figures"] += [
            plot_filters(folder / "filters.png", first_kernels(model)).name,
            plot_feature_maps(folder / "feature_maps.png", test_images[:n_maps],
                              feature_maps(model, X_test[:n_maps])).name]
    return figures
