"""nanoGPT's recipe in PyTorch on exactly the data of a ``dagnet gpt train`` run: what the
same training gives in the reference framework.

    python benchmarks/gpt_torch_reference.py [--seed 0] [--iterations 2000]
                                             [--eval-every 250] [--threads 1] [--json FILE]

The model is nanoGPT's (model.py with train.py's bias=False): 4 blocks, 4 heads, 128
wide, context 64, exact GELU, no biases, no dropout, the output layer tied to the token
embeddings; it starts from the initial weights ``dagnet gpt train --seed S`` draws, reads
the same training batches in the same order and validates on the same 20 batches of
random windows (dagnet's seed streams and ``random_windows``).  The update is nanoGPT's:
``torch.optim.AdamW`` (lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on the matrices and
embeddings only), ``get_lr`` (100 warm-up updates at (k + 1)/101 of the rate, cosine decay
to 1e-4 at update 2000), ``clip_grad_norm_`` to 1.  Only the arithmetic differs from
dagnet's run (PyTorch's kernels, float32 rounding), so the two final losses compare
seed for seed.  Reported: the 20-batch validation loss every ``--eval-every`` updates and
the loss over every non-overlapping window of the validation text at the end.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
from pathlib import Path

WARMUP, DECAY_UPDATES, LR, MIN_LR = 100, 2000, 1e-3, 1e-4


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="gpt train's --seed (default 0)")
    parser.add_argument("--iterations", type=int, default=DECAY_UPDATES)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads (default 1)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def nanogpt_lr(it: int) -> float:
    """nanoGPT's get_lr: the rate of update ``it`` (0, 1, ...)."""
    if it < WARMUP:
        return LR * (it + 1) / (WARMUP + 1)
    if it > DECAY_UPDATES:
        return MIN_LR
    ratio = (it - WARMUP) / (DECAY_UPDATES - WARMUP)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


def forward(torch, w: dict, X, n_layers: int, n_heads: int):
    """nanoGPT's GPT.forward with bias=False, the weights ``w`` in dagnet's layout."""
    F = torch.nn.functional
    B, T = X.shape
    C = w["wte"].shape[1]
    x = w["wte"][X] + w["wpe"][:T]
    for k in range(1, n_layers + 1):
        h = F.layer_norm(x, (C,), w[f"block{k}/ln1/g"], None)
        q, k_, v = (h @ w[f"block{k}/attn/W_qkv"]).split(C, dim=2)
        heads = [a.view(B, T, n_heads, C // n_heads).transpose(1, 2) for a in (q, k_, v)]
        y = F.scaled_dot_product_attention(*heads, is_causal=True)
        x = x + y.transpose(1, 2).reshape(B, T, C) @ w[f"block{k}/attn/W_proj"]
        h = F.layer_norm(x, (C,), w[f"block{k}/ln2/g"], None)
        x = x + F.gelu(h @ w[f"block{k}/mlp/W_fc"]) @ w[f"block{k}/mlp/W_proj"]
    return F.layer_norm(x, (C,), w["ln_f/g"], None) @ w["wte"].T


def main(argv=None) -> int:
    args = parse_arguments(argv)
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    import numpy as np
    import torch

    from dagnet.data.text import random_windows, text_windows
    from dagnet.models.gpt import GPT
    from dagnet.rng import seed_streams
    from dagnet.training import GeneratedBatches

    torch.set_num_threads(args.threads)
    F = torch.nn.functional
    B, T = 12, 64
    text = text_windows(None, T)
    # gpt train's streams, in its order: the same weights, batches and validation windows.
    streams = seed_streams(args.seed, ["weights", "batches", "validation", "dropout"])
    model = GPT(text.vocabulary, T, 4, 4, 128, gelu="none", bias=False,
                rng=streams["weights"])
    w = {p.name: torch.tensor(p.w, requires_grad=True) for p in model.parameter_nodes}
    data = GeneratedBatches(functools.partial(random_windows, text.train, T),
                            B * max(1, len(text.train) // (B * T)), B, streams["batches"])
    val_X, val_Y = (torch.from_numpy(a.astype(np.int64)) for a in
                    random_windows(text.val, T, 20 * B, streams["validation"]))
    V = len(text.vocabulary)
    adamw = torch.optim.AdamW(
        [{"params": [t for t in w.values() if t.ndim >= 2], "weight_decay": 0.1},
         {"params": [t for t in w.values() if t.ndim < 2], "weight_decay": 0.0}],
        lr=LR, betas=(0.9, 0.99))

    @torch.no_grad()
    def loss_over(X, Y) -> float:
        total = sum(F.cross_entropy(forward(torch, w, X[k:k + 64], 4, 4).reshape(-1, V),
                                    Y[k:k + 64].reshape(-1), reduction="sum").item()
                    for k in range(0, len(X), 64))
        return total / Y.numel()

    history, started = [], time.perf_counter()
    for it in range(args.iterations):
        for group in adamw.param_groups:
            group["lr"] = nanogpt_lr(it)
        batch = data.next_batch()
        X, Y = (torch.from_numpy(a.astype(np.int64)) for a in (batch.inputs, batch.targets))
        loss = F.cross_entropy(forward(torch, w, X, 4, 4).reshape(-1, V), Y.reshape(-1))
        adamw.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(w.values()), 1.0)
        adamw.step()
        if (it + 1) % args.eval_every == 0 or it + 1 == args.iterations:
            history.append({"step": it + 1, "loss": loss.item(),
                            "val_loss": loss_over(val_X, val_Y)})
            print(f"step {it + 1:5d}  training loss {loss.item():.4f}  validation loss "
                  f"(20 batches) {history[-1]['val_loss']:.4f}", flush=True)
    symbols = torch.from_numpy(text.val.astype(np.int64))
    windows = (len(symbols) - 1) // T
    rows = torch.arange(windows)[:, None] * T + torch.arange(T)
    whole = loss_over(symbols[rows], symbols[rows + 1])
    seconds = time.perf_counter() - started
    print(f"seed {args.seed}: whole validation text ({windows} windows of {T}) {whole:.4f}; "
          f"{seconds:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"seed": args.seed, "history": history,
                                               "whole_val_loss": whole, "windows": windows,
                                               "seconds": seconds}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
