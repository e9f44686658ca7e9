"""How far a 20-batch estimate of a GPT's validation loss (nanoGPT's, 240 windows of 64)
strays from the loss over the whole validation text.

    python benchmarks/gpt_validation_spread.py CHECKPOINT

The loss of every non-overlapping window of the validation text (tiny Shakespeare, from
$DAGNET_DATA_DIR or the cache), their standard deviation over √240, and 2000 estimates
each the mean of 240 of those windows drawn at random (seed 0): their 5% and 95% points
and the share at or below nanoGPT's 1.88.
"""
import sys

import numpy as np

from dagnet.data.text import text_windows
from dagnet.models.gpt import GPT

m = GPT.load(sys.argv[1])
t = text_windows(None, 64, vocabulary=m.vocabulary)
n = (len(t.val) - 1) // 64
rows = np.arange(n)[:, None] * 64 + np.arange(64)
X, Y = t.val[rows], t.val[rows + 1]
losses = []
for k in range(0, n, 64):
    logits = m.logits(X[k:k + 64]).astype(np.float64)
    logits -= logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    losses.append(-np.take_along_axis(logp, Y[k:k + 64][..., None], -1)[..., 0].mean(-1))
losses = np.concatenate(losses)
rng = np.random.default_rng(0)
draws = np.array([losses[rng.integers(0, n, 240)].mean() for _ in range(2000)])
print(f"windows {n}: mean {losses.mean():.4f}, per-window std {losses.std():.4f}, "
      f"std of a 240-window mean {losses.std() / np.sqrt(240):.4f}; "
      f"of 2000 draws of 240 windows: 5%-95% {np.percentile(draws, 5):.4f}-"
      f"{np.percentile(draws, 95):.4f}, share <= 1.88: {np.mean(draws <= 1.88):.3f}")
