"""Reading digits with a model trained by ``dagnet mnist`` (an MLP or a convolutional
net): from images and IDX files to the most probable digits, in the model's own
preprocessing and input shape."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dagnet.data.mnist import Preprocessing, read_digits
from dagnet.errors import DagnetError
from dagnet.experiments.mnist import model_inputs
from dagnet.models import GraphModel


def load_digit_model(path: str | os.PathLike) -> tuple[GraphModel, Preprocessing]:
    """A model written by ``dagnet mnist`` and its preprocessing; DagnetError otherwise."""
    model = GraphModel.load(path)
    if model.metadata.get("task") != "mnist":
        raise DagnetError(f"{path}: not an MNIST model (train one with `dagnet mnist`)")
    return model, Preprocessing.from_model(model.metadata.get("preprocessing") or {},
                                           model.extra_tensors, str(path))


def predict_digits(model_path: str | os.PathLike, files: Sequence[Path], top: int = 3
                   ) -> tuple[np.ndarray, list[dict]]:
    """The digits (N, 28, 28) read from ``files`` and, for each, the ``top`` most probable
    digits: ``{"file", "index" (in an IDX file), "digit", "probability", "top"}``."""
    model, preprocessing = load_digit_model(model_path)
    images, sources = read_digits(files)
    probabilities = model.predict(model_inputs(model, preprocessing, images))
    best = np.argsort(-probabilities, axis=1, kind="stable")[:, :min(top, 10)]
    results = []
    for (name, index), p, order in zip(sources, probabilities, best):
        entry = {"file": name, "digit": int(order[0]), "probability": float(p[order[0]]),
                 "top": [{"digit": int(d), "probability": float(p[d])} for d in order]}
        if index is not None:
            entry["index"] = index
        results.append(entry)
    return images, results


def describe(entry: dict) -> str:
    """``digit.png: 7  (7: 98.1%, 1: 1.2%)``."""
    where = entry["file"] + (f"[{entry['index']}]" if "index" in entry else "")
    others = ", ".join(f"{t['digit']}: {100 * t['probability']:.1f}%" for t in entry["top"])
    return f"{where}: {entry['digit']}  ({others})"
