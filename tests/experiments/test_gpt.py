"""The GPT experiment's helpers: the loss over a whole text in non-overlapping windows."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet.errors import DagnetError
from dagnet.experiments.gpt import whole_text_loss
from dagnet.models.gpt import GPT


def test_whole_text_loss_reads_every_non_overlapping_window(rng):
    model = GPT("abcdef", block_size=4, n_layers=1, n_heads=2, width=8,
                rng=np.random.default_rng(0), dtype=np.float64)
    symbols = rng.integers(0, 6, 23)  # 5 windows of 4 and their targets; 2 left over
    result = whole_text_loss(model, symbols, batch_size=2)
    p = model.predict(symbols[:20].reshape(5, 4))
    targets = symbols[1:21].reshape(5, 4)
    expected = -np.mean(np.log(np.take_along_axis(p, targets[..., None], -1)))
    assert result == {"loss": pytest.approx(expected, rel=1e-12), "windows": 5,
                      "characters": 20}
    with pytest.raises(DagnetError, match="no window of 4"):
        whole_text_loss(model, symbols[:4])
