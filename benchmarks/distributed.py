"""Data-parallel training over MPI on this machine, and what it predicts for a cluster.

    python benchmarks/distributed.py [--rounds 3] [--epochs 2] [--data-dir DIR] [--json FILE]

Needs mpirun and mpi4py (``pip install "dagnet[mpi]"``).  Three measurements, then a
cost model (docs/distributed.md discusses them):

1. ``compute``: one training step (forward, backward, update), one BLAS thread, at
   per-rank batches b, of the MNIST MLP [128, 64, 10] (float32, 784 inputs) and of
   char-rnn's default LSTM (2 layers of 128, 65 symbols, 50 characters per stream);
   fitted: compute(b) = c0 + c1·b (the fastest of 14 steps per b, interleaved: the
   machine at its best, as a cluster's unshared machines would be);
2. ``allreduce``: ``dagnet.distributed``'s Allreduce between 2 ranks, 4 KB to 4 MB (the
   fastest of 40); fitted up to 1 MB: time(S) = latency + S / bandwidth (shared memory);
3. ``mnist``: whole epochs of the MLP (batch 128, plain SGD lr 0.1, no evaluation), as
   1 process x 1 BLAS thread, 1 process x 2 threads and 2 ranks x 1 thread (``mpirun
   -n 2 --bind-to none --mca mpi_yield_when_idle 1``), alternated round by round; the
   median epoch time of each, the time the 2 ranks spent in the gradient Allreduce, and
   the test accuracy each reached (the same, up to rounding);
4. the model: a step on K machines takes T(K) = c0 + c1·⌈B/K⌉ + 2(K-1)/K·S/bandwidth +
   2(K-1)·latency (ring Allreduce of S bytes); the speed-up T(1)/T(K) for K = 2..64 on
   10 Gb/s and 100 Gb/s networks (their latencies are assumptions, stated in the output),
   and B*(K) = (2·S/bandwidth + 2·K²·latency)/c1: with a global batch below it, a machine
   more than K makes the step slower.

Timings on a shared machine: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS, BATCH, LR = [128, 64, 10], 128, 0.1
STREAMS, SEQ_LENGTH, HIDDEN, SYMBOLS = 50, 50, [128, 128], 65
# Nominal networks: bandwidth in bytes/s, and an assumed per-message latency in seconds
# (10 Gb/s Ethernet with TCP; 100 Gb/s InfiniBand with RDMA).
NETWORKS = {"10 Gb/s": (10e9 / 8, 30e-6), "100 Gb/s": (100e9 / 8, 3e-6)}
MACHINES = [1, 2, 4, 8, 16, 32, 64]
# On a machine shared with other work, a rank bound to a core waits (spinning) whenever its
# partner's core is taken: unbound ranks that yield while they wait lose far less.
SHARED_MACHINE = ["--bind-to", "none", "--mca", "mpi_yield_when_idle", "1"]


def threads(n: int) -> dict:
    return {name: str(n) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                      "MKL_NUM_THREADS")}


def run_worker(part: str, arguments: list[str], ranks: int, n_threads: int) -> dict:
    """``python benchmarks/distributed.py --worker PART ...`` (under mpirun for 2 ranks);
    the JSON its rank 0 prints."""
    env = {**os.environ, **threads(n_threads), "PYTHONPATH": str(ROOT)}
    if os.geteuid() == 0:  # containers and CI run as root
        env |= {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    command = [sys.executable, __file__, "--worker", part, *arguments]
    if ranks > 1:  # unbound, yielding ranks: see SHARED_MACHINE
        command = ["mpirun", "--oversubscribe", *SHARED_MACHINE, "-n", str(ranks), *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the workers (they import dagnet after the thread variables are set) -----------------------

def mnist_data(data_dir: Path):
    import numpy as np

    from dagnet.data.mnist import Preprocessing, load_mnist
    images, labels, test_images, test_labels = load_mnist(data_dir, download=False)
    preprocessing = Preprocessing.fit(images, "center")
    return (preprocessing.transform(images, np.float32), labels,
            preprocessing.transform(test_images, np.float32), test_labels)


def worker_mnist(data_dir: Path, epochs: int) -> dict | None:
    """Train the MLP for ``epochs`` epochs (data-parallel when launched with K > 1)."""
    import numpy as np

    from dagnet import distributed, fully_connected
    from dagnet.optim import make_optimizer
    from dagnet.training import ArrayBatches, Extension, Trainer

    X, labels, X_test, test_labels = mnist_data(data_dir)
    rng = np.random.default_rng(0)
    model = fully_connected(LAYERS, X.shape[1], "tanh", "softmax", rng=rng, dtype=np.float32)
    trainer = Trainer(model, make_optimizer("gd", model.parameter_nodes, learning_rate=LR),
                      ArrayBatches(X, labels, BATCH, rng), epochs=epochs)
    allreduce: list[float] = []

    class AllreduceSeconds(Extension):
        def on_log(self, trainer, entry):
            allreduce.append(getattr(trainer.model, "allreduce_seconds", 0.0))

    trainer.extensions.append(AllreduceSeconds())
    if distributed.launched_size() > 1:
        distributed.wrap(trainer)
    history = trainer.run()
    if not distributed.is_root():
        return None
    return {"epoch_seconds": history.column("train_seconds"),
            "allreduce_seconds": list(np.diff([0.0, *allreduce])),
            "test_accuracy": model.evaluate(X_test, test_labels)["accuracy"]}


def worker_allreduce() -> dict | None:
    """The fastest Allreduce of float32 buffers of 4 KB to 4 MB between the ranks (the
    sizes interleaved, so that a noisy neighbour slows them all alike)."""
    import numpy as np

    from dagnet import distributed
    communicator = distributed.world()
    sizes = [2 ** k for k in range(12, 23, 2)]
    buffers = [np.ones(size // 4, np.float32) for size in sizes]
    times: list[list[float]] = [[] for _ in sizes]
    for _ in range(40):
        for buffer, found in zip(buffers, times):
            communicator.comm.Barrier()
            started = time.perf_counter()
            communicator.allreduce(buffer, "measuring")
            found.append(time.perf_counter() - started)
    seconds = [min(found) for found in times]  # the machine at its best, as for compute
    return {"bytes": sizes, "seconds": seconds} if communicator.rank == 0 else None


def worker_compute() -> dict:
    """The fastest step (one thread) of the MLP and of the char-rnn LSTM at batches b."""
    import numpy as np

    from dagnet import fully_connected
    from dagnet.models.charrnn import CharRNN
    from dagnet.optim import make_optimizer
    from dagnet.training import Batch

    rng = np.random.default_rng(0)
    mlp = fully_connected(LAYERS, 784, "tanh", "softmax", rng=rng, dtype=np.float32)
    lstm = CharRNN("".join(chr(33 + k) for k in range(SYMBOLS)), HIDDEN, "lstm", rng=rng)
    found = {}
    for name, model, make, batches in (
            ("mnist", mlp, lambda b: (rng.normal(size=(b, 784)).astype(np.float32),
                                      rng.integers(0, 10, b), b), [1, 4, 16, 32, 64, 128, 256]),
            ("charrnn", lstm, lambda b: (rng.integers(0, SYMBOLS, (SEQ_LENGTH, b)),
                                         rng.integers(0, SYMBOLS, (SEQ_LENGTH, b)),
                                         SEQ_LENGTH * b), [1, 5, 10, 25, 50])):
        optimizer = make_optimizer("gd", model.parameter_nodes, learning_rate=1e-3)
        steps = [Batch(*make(b)[:2], make(b)[2], True) for b in batches]
        times: list[list[float]] = [[] for _ in batches]
        for _ in range(15):  # the batch sizes interleaved: a noisy neighbour slows all alike
            for batch, found_times in zip(steps, times):
                started = time.perf_counter()
                model.train_step(batch, optimizer)
                found_times.append(time.perf_counter() - started)
        # The fastest of the repetitions: a cluster's machines are not shared.
        found[name] = {"batches": batches, "seconds": [min(t[1:]) for t in times],
                       "parameter_bytes": 4 * model.n_parameters}
    return found


# -- the model ---------------------------------------------------------------------------------

def fit_line(x: list[float], y: list[float]) -> tuple[float, float]:
    """Least squares y = a + b·x."""
    mx, my = sum(x) / len(x), sum(y) / len(y)
    slope = sum((u - mx) * (v - my) for u, v in zip(x, y)) / sum((u - mx) ** 2 for u in x)
    return my - slope * mx, slope


def step_seconds(c0: float, c1: float, batch: int, k: int, nbytes: float, bandwidth: float,
                 latency: float) -> float:
    """T(K): compute on the largest share, ceil(B/K) examples, then a ring Allreduce of
    ``nbytes`` over K machines."""
    communication = 0.0 if k == 1 else (2 * (k - 1) / k * nbytes / bandwidth
                                        + 2 * (k - 1) * latency)
    return c0 + c1 * -(-batch // k) + communication


def model_table(name: str, compute: dict, batch: int, unit: str) -> dict:
    """Speed-ups and critical batches of one network on the nominal networks."""
    c0, c1 = fit_line(compute["batches"], compute["seconds"])
    nbytes = compute["parameter_bytes"]
    print(f"\n{name}: compute(b) = {c0 * 1e3:.3f} ms + {c1 * 1e6:.1f} us x b ({unit}); "
          f"{nbytes / 1e6:.2f} MB of gradients; global batch B = {batch}")
    rows = {}
    for network, (bandwidth, latency) in NETWORKS.items():
        t1 = step_seconds(c0, c1, batch, 1, nbytes, bandwidth, latency)
        speedups = [t1 / step_seconds(c0, c1, batch, k, nbytes, bandwidth, latency)
                    for k in MACHINES]
        critical = [(2 * nbytes / bandwidth + 2 * k * k * latency) / c1 for k in MACHINES]
        rows[network] = {"speedup": speedups, "critical_batch": critical}
        print(f"  {network} (latency {latency * 1e6:g} us): speed-up "
              + ", ".join(f"K={k}: {s:.2f}" for k, s in zip(MACHINES[1:], speedups[1:])))
        print("    B* (K -> K+1 still helps above it): "
              + ", ".join(f"K={k}: {b:,.0f}" for k, b in zip(MACHINES, critical)))
    return {"c0": c0, "c1": c1, "bytes": nbytes, "batch": batch, "networks": rows}


# -- the driver --------------------------------------------------------------------------------

def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def compare_mnist(data_dir: Path, rounds: int, epochs: int) -> dict:
    """Alternated rounds of 1 process x 2 threads and 2 ranks x 1 thread."""
    configurations = (("1 process x 1 thread", 1, 1), ("1 process x 2 threads", 1, 2),
                      ("2 ranks x 1 thread", 2, 1))
    found: dict[str, list[dict]] = {label: [] for label, _, _ in configurations}
    for _ in range(rounds):
        for label, ranks, n_threads in configurations:
            found[label].append(run_worker("mnist", ["--data-dir", str(data_dir), "--epochs",
                                                     str(epochs)], ranks, n_threads))
    summary = {}
    for label, runs in found.items():
        epoch = statistics.median(s for run in runs for s in run["epoch_seconds"])
        allreduce = statistics.median(s for run in runs for s in run["allreduce_seconds"])
        accuracy = [run["test_accuracy"] for run in runs]
        summary[label] = {"epoch_seconds": epoch, "allreduce_seconds": allreduce,
                          "test_accuracy": accuracy[0], "runs": runs}
        print(f"  {label}: {epoch:.2f} s per epoch (median of {rounds * epochs}), of which "
              f"{allreduce:.2f} s in the Allreduce; test accuracy {accuracy[0]:.4f}")
    one, two, ranks = (summary[label]["epoch_seconds"] for label in found)
    print(f"  epoch time of 2 ranks / 1 process x 2 threads: {ranks / two:.2f}; "
          f"/ 1 process x 1 thread: {ranks / one:.2f}")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (default 3)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (default 2)")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("DAGNET_DATA_DIR",
                                                    ROOT.parent / "shared" / "data")))
    parser.add_argument("--json", type=Path, default=None, help="also write results to FILE")
    parser.add_argument("--worker", choices=["mnist", "allreduce", "compute"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = {"mnist": lambda: worker_mnist(args.data_dir, args.epochs),
                  "allreduce": worker_allreduce, "compute": worker_compute}[args.worker]()
        if result is not None:
            print(json.dumps(result))
        return 0
    results = {"load_average_before": load_average()}
    print(f"load average (1, 5, 15 min) before: {results['load_average_before']} "
          f"on {os.cpu_count()} CPUs")
    compute = run_worker("compute", [], 1, 1)
    allreduce = run_worker("allreduce", [], 2, 1)
    # Fitted up to 1 MB, the gradients' sizes (beyond, Open MPI changes protocol).
    upto = [k for k, b in enumerate(allreduce["bytes"]) if b <= 2 ** 20]
    latency, inverse_bandwidth = fit_line([allreduce["bytes"][k] for k in upto],
                                          [allreduce["seconds"][k] for k in upto])
    allreduce |= {"latency": latency, "bandwidth": 1 / inverse_bandwidth}
    print(f"Allreduce between 2 ranks here: {latency * 1e6:.0f} us + S / "
          f"{1e-9 / inverse_bandwidth:.2f} GB/s ("
          + ", ".join(f"{b // 1024} KB: {s * 1e6:.0f} us" for b, s in
                      zip(allreduce["bytes"], allreduce["seconds"])) + ")")
    print(f"MNIST {LAYERS}, batch {BATCH}, {args.epochs} epochs x {args.rounds} rounds:")
    results |= {"compute": compute, "allreduce": allreduce,
                "mnist": compare_mnist(args.data_dir, args.rounds, args.epochs),
                "model": {"mnist": model_table("MNIST MLP", compute["mnist"], BATCH, "images"),
                          "charrnn": model_table("char-rnn LSTM", compute["charrnn"], STREAMS,
                                                 f"streams of {SEQ_LENGTH} characters")},
                "load_average_after": load_average()}
    print(f"\nload average after: {results['load_average_after']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
