"""What every CLI command shares: run folders, seeds, metrics.json, error reporting."""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from pathlib import Path

import numpy as np

from dagnet.errors import DagnetError
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


def add_optimizer_arguments(parser: argparse.ArgumentParser, default: str = "gd",
                            default_lr: float = 0.1) -> None:
    """--optimizer NAME and --lr, shared by every training command."""
    from dagnet.optim import OPTIMIZERS

    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=default,
                        help=f"optimization algorithm (default {default})")
    parser.add_argument("--lr", type=float, default=default_lr,
                        help=f"learning rate (default {default_lr})")


def make_optimizer(args: argparse.Namespace, parameter_nodes):
    """The optimizer that --optimizer and --lr describe, over ``parameter_nodes``."""
    from dagnet.optim import OPTIMIZERS

    try:
        return OPTIMIZERS[args.optimizer](parameter_nodes, args.lr)
    except ValueError as exc:  # hyperparameters are validated by the constructors
        raise DagnetError(str(exc)) from None


def run_folder(args: argparse.Namespace, command: str) -> Path:
    """The run's output folder, created: ``--out`` or runs/<command>-<timestamp>/."""
    folder = args.out
    if folder is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = Path("runs") / f"{command}-{stamp}"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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
