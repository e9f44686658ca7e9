"""Runs under ``mpirun -n 2`` for tests/test_distributed.py (``python tests/mpi_script.py
SCENARIO FOLDER``); the same builders give the tests their one-process references.

- ``agree``: ranks that disagree about the data are refused; then an MLP (Trainer, 20
  steps, checkpoints every 10), ``DataParallel.fit``, and a char-rnn whose state is
  carried between batches (checkpoint mid-epoch); rank 0 saves what they end with.
- ``raise``: rank 1 fails at step 3; ``hang``: rank 1 stops answering at step 3;
  ``kill``: rank 1 is killed at step 3.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

if __name__ == "__main__":  # run as a script: the repository's dagnet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dagnet import distributed  # noqa: E402
from dagnet.data.text import CharStreams  # noqa: E402
from dagnet.errors import DistributedError  # noqa: E402
from dagnet.models import fully_connected  # noqa: E402
from dagnet.models.charrnn import CharRNN  # noqa: E402
from dagnet.optim import make_optimizer  # noqa: E402
from dagnet.training import (  # noqa: E402
    ArrayBatches,
    Checkpoint,
    Evaluate,
    Extension,
    StopOnNonFinite,
    StreamBatches,
    Trainer,
)

BATCH = 11  # split 5 + 6 between two ranks; the last batch of an epoch has 9 rows
STEPS = 20
STREAMS, SEQUENCE = 5, 4


def mlp_data(shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(size=(64, 5)) + shift, rng.integers(0, 3, 64)


def mlp():
    return fully_connected([6, 3], 5, "tanh", "softmax", rng=np.random.default_rng(1),
                           dtype=np.float64)


def mlp_trainer(folder: Path | None, X, labels, steps: int = STEPS, extensions=()) -> Trainer:
    """The MLP of the test: Adam, shuffled batches of 11 rows, an evaluation every epoch,
    checkpoints every 10 steps (named by step) when ``folder`` is given."""
    model = mlp()
    optimizer = make_optimizer("adam", model.parameter_nodes, learning_rate=0.05)
    data = ArrayBatches(X, labels, BATCH, np.random.default_rng(2))
    extensions = [Evaluate((X, labels), prefix="train_"), StopOnNonFinite(), *extensions]
    if folder is not None:
        extensions.append(Checkpoint(folder, lambda t: f"mlp{t.step}.safetensors",
                                     every=(10, "step"), keep="all"))
    return Trainer(model, optimizer, data, max_steps=steps, extensions=extensions,
                   log_every=(5, "step"))


def charrnn_trainer(folder: Path | None, steps: int = 9) -> Trainer:
    """A one-layer LSTM char-rnn on 5 streams of 4 characters, state carried between
    batches (an epoch is 6 batches), checkpoints every 4 steps."""
    symbols = np.random.default_rng(4).integers(0, 6, STREAMS * SEQUENCE * 8 + 1)
    streams, _ = CharStreams.split(symbols, STREAMS, SEQUENCE, 0.75)
    model = CharRNN("abcdef", [7], "lstm", rng=np.random.default_rng(3), dtype=np.float64)
    optimizer = make_optimizer("adam", model.parameter_nodes, learning_rate=0.05)
    extensions = [] if folder is None else [
        Checkpoint(folder, lambda t: f"charrnn{t.step}.safetensors", every=(4, "step"),
                   keep="all")]
    return Trainer(model, optimizer, StreamBatches(streams), max_steps=steps,
                   extensions=extensions, log_every=(3, "step"))


def weights(model) -> dict[str, np.ndarray]:
    return {f"p{k}": p.w for k, p in enumerate(model.parameter_nodes)}


def agree(folder: Path, rank: int) -> None:
    X, labels = mlp_data()
    results = {}
    try:  # rank 1 reads other data: refused on every rank, before any step
        distributed.wrap(mlp_trainer(None, *mlp_data(shift=float(rank)))).run()
    except DistributedError as exc:
        results["disagreement"] = str(exc)
    trainer = distributed.wrap(mlp_trainer(folder, X, labels))
    history = trainer.run()
    results["mlp"] = {"history": history.entries, "summary": trainer.model.summary()}
    model = mlp()
    distributed.DataParallel(model, distributed.world()).fit(
        X, labels, epochs=3, batch_size=BATCH, optimizer="adam", learning_rate=0.05, seed=5)
    charrnn = distributed.wrap(charrnn_trainer(folder))
    results["charrnn"] = {"history": charrnn.run().entries}
    if rank == 0:
        np.savez(folder / "mlp.npz", **weights(trainer.model))
        np.savez(folder / "fit.npz", **weights(model))
        np.savez(folder / "charrnn.npz", **weights(charrnn.model))
        (folder / "results.json").write_text(json.dumps(results))


class Misbehave(Extension):
    """Rank 1 fails, hangs or is killed after step 3."""

    trigger = (1, "step")

    def __init__(self, rank: int, how: str):
        self.rank, self.how = rank, how

    def __call__(self, trainer: Trainer) -> None:
        if self.rank != 1 or trainer.step != 3:
            return
        if self.how == "raise":
            raise RuntimeError("injected failure")
        if self.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(600)


def main(scenario: str, folder: Path) -> None:
    rank = distributed.launched_rank()
    if scenario == "agree":
        agree(folder, rank)
    else:
        trainer = mlp_trainer(None, *mlp_data(), steps=10**6,
                              extensions=[Misbehave(rank, scenario)])
        distributed.wrap(trainer).run()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
