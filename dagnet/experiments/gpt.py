"""nanoGPT's recipe for ``dagnet gpt train``: a new GPT and its optimizer from the command's
options, with nanoGPT's defaults where the shared optimizer options have others."""

from __future__ import annotations

import argparse

import numpy as np

from dagnet.data.text import Vocabulary
from dagnet.errors import DagnetError
from dagnet.models.gpt import GPT
from dagnet.optim import OptimizationAlgorithm
from dagnet.optim.options import make_optimizer

# --gelu's choices -> GELUNode's ``approximate``.
GELU_FORMS = {"exact": "none", "tanh": "tanh"}


def new_gpt(args: argparse.Namespace, vocabulary: Vocabulary,
            streams: dict[str, np.random.Generator], debug: bool = False
            ) -> tuple[GPT, OptimizationAlgorithm]:
    """A GPT of the options' architecture (weights from ``streams["weights"]``, dropout
    masks from ``streams["dropout"]``) and its optimizer.  Unless told otherwise, Adam
    gets nanoGPT's beta2 for characters and a cosine decay ends at lr / 10."""
    if args.width % args.heads:
        raise DagnetError(f"--width {args.width} does not split into --heads {args.heads}")
    model = GPT(vocabulary, args.block_size, args.layers, args.heads, args.width,
                gelu=GELU_FORMS[args.gelu], bias=args.bias, dropout=args.dropout,
                rng=streams["weights"], dropout_rng=streams["dropout"],
                dtype=np.dtype(args.dtype), debug=debug)
    nanogpt = {"beta2": 0.99 if args.optimizer == "adam" else None,
               "lr_min_factor": 0.1 if args.lr_schedule == "cosine" else None}
    vars(args).update({k: v for k, v in nanogpt.items() if getattr(args, k) is None})
    return model, make_optimizer(args, model.parameter_nodes, total_steps=args.max_iterations)


def whole_text_loss(model: GPT, symbols: np.ndarray, batch_size: int = 64) -> dict:
    """The mean loss per character over every non-overlapping window of ``block_size``
    characters of ``symbols`` (each window predicts the character after each of its
    positions): the whole text, where nanoGPT's estimate reads 20 random batches.
    Returns ``{"loss", "windows", "characters"}``."""
    T = model.block_size
    windows = (len(symbols) - 1) // T
    if windows < 1:
        raise DagnetError(f"{len(symbols)} symbols hold no window of {T} and its target")
    rows = np.arange(windows)[:, None] * T + np.arange(T)
    result = model.evaluate(symbols[rows], symbols[rows + 1], batch_size=batch_size)
    return {"loss": result["loss"], "windows": windows, "characters": windows * T}
