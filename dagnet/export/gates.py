"""The order of the gate blocks of a recurrent layer in dagnet, PyTorch and ONNX.

dagnet keeps the G gate blocks of a layer side by side in the columns of W:(I, G·H),
U:(H, G·H) and b:(G·H,): LSTM [i | f | o | g], GRU [r | u | n] (u the update gate).
PyTorch stacks them as rows: LSTM [i | f | g | o], GRU [r | z | n]; ONNX too, in
another order: LSTM [i | o | f | c], GRU [z | r | h].  Each table lists, for every
block of the other framework, the dagnet block it holds.
"""

from __future__ import annotations

import numpy as np

TORCH_BLOCKS = {"rnn": (0,), "lstm": (0, 1, 3, 2), "gru": (0, 1, 2)}
ONNX_BLOCKS = {"rnn": (0,), "lstm": (0, 2, 1, 3), "gru": (1, 0, 2)}


def reorder_blocks(w: np.ndarray, order: tuple[int, ...], axis: int = -1) -> np.ndarray:
    """``w`` with its len(order) equal blocks along ``axis`` taken in ``order``."""
    blocks = np.split(w, len(order), axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def restore_blocks(w: np.ndarray, order: tuple[int, ...], axis: int = -1) -> np.ndarray:
    """The inverse of ``reorder_blocks``: blocks in ``order`` back to dagnet's order."""
    return reorder_blocks(w, tuple(int(k) for k in np.argsort(order)), axis)
