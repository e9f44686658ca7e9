"""``gpt train``'s optimizer is nanoGPT's: torch's AdamW (weight decay 0.1 on the matrices
and embeddings only, in PyTorch's convention lr·0.1·θ), nanoGPT's get_lr with its warm-up
and cosine decay, gradients clipped to a global norm of 1: the same weights, step for
step, float64.  Skipped without torch."""

from __future__ import annotations

import numpy as np

from dagnet.cli import build_parser, leaf_parser
from dagnet.data.text import Vocabulary
from dagnet.experiments.gpt import new_gpt
from tests.cli.test_gpt import nanogpt_lr
from tests.conftest import require

torch = require("torch")


def test_gpt_train_updates_the_weights_as_nanogpts_adamw(rng):
    steps, warmup = 12, 3
    args = leaf_parser(build_parser(), ["gpt", "train"]).parse_args(
        ["--layers", "1", "--heads", "2", "--width", "8", "--block-size", "4", "--dtype",
         "float64", "--max-iterations", str(steps), "--warmup-steps", str(warmup)])
    args.resume = None
    streams = {"weights": np.random.default_rng(0), "dropout": np.random.default_rng(1)}
    model, optimizer = new_gpt(args, Vocabulary("abcde"), streams)
    nodes = model.parameter_nodes
    tensors = [torch.tensor(node.w.copy(), requires_grad=True) for node in nodes]
    adamw = torch.optim.AdamW(
        [{"params": [t for t in tensors if t.ndim >= 2], "weight_decay": 0.1},
         {"params": [t for t in tensors if t.ndim < 2], "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.99))
    for it in range(steps):
        scale = 1e-3 if it % 3 else 1.0  # clipped at some steps, not at others
        gradients = [scale * rng.standard_normal(node.w.shape) for node in nodes]
        optimizer.step(gradients)
        for group in adamw.param_groups:
            group["lr"] = nanogpt_lr(it, 1e-3, 1e-4, warmup, steps)
        for tensor, gradient in zip(tensors, gradients):
            tensor.grad = torch.tensor(gradient)
        torch.nn.utils.clip_grad_norm_(tensors, 1.0)
        adamw.step()
        # torch clips by max_norm/(norm + 1e-6), dagnet by max_norm/norm: relative
        # differences of ~1e-9 in a clipped step.  A warm-up or decay off nanoGPT's moves
        # the weights by 1e-4 of themselves or more.
        for node, tensor in zip(nodes, tensors):
            np.testing.assert_allclose(node.w, tensor.detach().numpy(), rtol=1e-7, atol=1e-10,
                                       err_msg=f"{node.name} after update {it + 1}")
    assert sum(t.ndim < 2 for t in tensors) > 0 and not model.settings.bias
