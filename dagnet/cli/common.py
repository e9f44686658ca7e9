"""What every CLI command shares: run folders, seeds, metrics.json, error reporting."""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# The optimizer options live in their own module; commands may import them from here.
from dagnet.cli.optimizer_options import add_optimizer_arguments as add_optimizer_arguments
from dagnet.cli.optimizer_options import make_optimizer as make_optimizer
from dagnet.files import write_json


def add_run_arguments(parser: argparse.ArgumentParser, default_seed: int = 0) -> None:
    """--out, --seed, --no-progress and --debug, for commands that write a run folder."""
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the figures, metrics.json and the model "
                             "(default: runs/<command>-<timestamp>/)")
    parser.add_argument("--seed", type=int, default=default_seed,
                        help=f"random seed; the same seed gives the same run (default "
                             f"{default_seed})")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_debug_argument(parser)


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks and check every node for NaN/inf")


def run_folder(args: argparse.Namespace, command: str) -> Path:
    """The run's output folder, created: ``--out`` or runs/<command>-<timestamp>/."""
    folder = args.out
    if folder is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = Path("runs") / f"{command}-{stamp}"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts: epochs, batch sizes, layer sizes."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def seed_streams(seed: int, names: Sequence[str]) -> dict[str, np.random.Generator]:
    """Independent generators, one per use of randomness (``names``), all from one seed.

    ``SeedSequence(seed).spawn``: the same seed gives the same streams, and drawing
    more from one (say, more training points) leaves the others unchanged.  Keep
    the order of ``names`` fixed: stream k is the k-th child of the seed.
    """
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children)}


def progress_enabled(args: argparse.Namespace) -> bool | None:
    """None lets tqdm decide (a bar on a terminal only); False when --no-progress."""
    return False if getattr(args, "no_progress", False) else None


def environment() -> dict:
    """Versions and machine, recorded in metrics.json so a figure can be traced."""
    import dagnet

    return {"dagnet": dagnet.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine()}


def write_metrics(folder: Path, metrics: dict) -> Path:
    """Write ``folder/metrics.json`` (atomically), adding the environment."""
    metrics = dict(metrics)
    metrics.setdefault("environment", environment())
    return write_json(folder / "metrics.json", _jsonable(metrics))


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:
        return None
    return value


def say(message: str) -> None:
    """A line of the command's report, on stderr so stdout stays for data."""
    print(message, file=sys.stderr, flush=True)
