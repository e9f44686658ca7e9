"""char-rnn training speed: dagnet against the same model in PyTorch, and peak memory.

    python benchmarks/charrnn.py [--threads 1 2] [--busy 1] [--rounds 7] [--iterations 10]
                                 [--hidden 128 128] [--json FILE] [--no-memory]

The model is char-rnn's default: 65 characters in (one-hot), LSTM layers of
``--hidden`` units, a softmax output, seq_length 50, batch 50, RMSProp (lr 2e-3,
decay 0.95) with gradient values clipped at 5, the loss averaged per character.
One training iteration (forward, backward, update) on consecutive batches of tiny
Shakespeare is timed for:

* ``dagnet``          CharRNN: one LSTMLayerNode per layer (the sequence-level path);
* ``dagnet-steps``    RecurrentNetwork: the per-step graph (MultiplyAddNode and
                      LSTMStepNode per step), the issue-4 path, for reference;
* ``torch-lstm``      torch.nn.LSTM (its fused kernels) on one-hot input;
* ``torch-cell-loop`` a hand-unrolled LSTM in PyTorch: the input projection of all
                      steps as one gather, then per step z = xW_t + h·U, sigmoid,
                      tanh and products through autograd.

The configurations are alternated round by round (a noisy neighbour slows them
all alike); each round times ``--iterations`` iterations after one untimed one.
Reported: the median characters/second over the rounds and its ratio to each
PyTorch version at the same thread count, with the median CPU time of the
process per iteration (all its threads; a thread that waits spinning counts).
Peak memory: each configuration runs alone in a subprocess, and its peak
resident set (VmHWM) is reported with the growth over the resident set before
training (after imports and data).

Threads: every configuration runs at every ``--threads`` count (default 2, the
machine's cores), set before its turn: NumPy's BLAS through dagnet.threads
(threadpoolctl), PyTorch's through torch.set_num_threads.  ``--threads auto``
gives dagnet the policy of ``dagnet.threads.auto_threads`` (chosen again before
every iteration) and PyTorch its default.  ``--busy N`` runs everything beside N
neighbour processes spinning on a core each (benchmarks/busy.py); the 1-minute
load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = (Path(os.environ.get("DAGNET_DATA_DIR", ROOT.parent / "shared" / "data"))
        / "tinyshakespeare" / "input.txt")
CONFIGS = ("dagnet", "dagnet-steps", "torch-lstm", "torch-cell-loop")
SEQ_LENGTH, BATCH_SIZE, LR, DECAY, CLIP = 50, 50, 2e-3, 0.95, 5.0


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", nargs="+", default=["2"], type=_thread_count,
                        help="BLAS and torch thread counts to compare, or auto (default 2)")
    parser.add_argument("--busy", type=int, default=0,
                        help="spinning neighbour processes to run beside (default 0)")
    parser.add_argument("--rounds", type=int, default=7, help="alternated rounds (default 7)")
    parser.add_argument("--iterations", type=int, default=10,
                        help="timed iterations per configuration and round (default 10)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128],
                        help="LSTM layer sizes (default 128 128)")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--memory-of", choices=CONFIGS, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _thread_count(text: str) -> str:
    if text != "auto" and not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"a thread count is a positive integer or auto, "
                                         f"got {text!r}")
    return text


def set_thread_variables(threads: str) -> None:
    """For a subprocess that runs one configuration: fix the counts before the imports."""
    if threads != "auto":
        for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
            os.environ[variable] = threads


def use_threads(threads: str) -> None:
    """Set NumPy's BLAS and PyTorch (when loaded) to ``threads`` ("auto": dagnet's policy
    for the BLAS, PyTorch's default)."""
    from dagnet.threads import auto_threads, available_cores, set_threads

    set_threads(auto_threads() if threads == "auto" else int(threads))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(available_cores() if threads == "auto"
                                             else int(threads))


def batches(count: int, start: int = 0):
    """``count`` consecutive (X, Y) batches, (T, B) symbols, and the vocabulary size."""
    from dagnet.data.text import CharStreams, Vocabulary, read_text

    text = read_text(DATA)
    vocabulary = Vocabulary.from_text(text)
    streams, _ = CharStreams.split(vocabulary.encode(text), BATCH_SIZE, SEQ_LENGTH)
    return [streams.batch((start + k) % streams.batches) for k in range(count)], len(vocabulary)


def make_trainer(config: str, hidden: list[int], vocabulary_size: int):
    """A function ``step(X, Y) -> loss per character`` for one configuration."""
    import numpy as np

    if config.startswith("dagnet"):
        from dagnet.models.charrnn import CharRNN
        from dagnet.models.rnn import RecurrentNetwork
        from dagnet.optim import RMSProp
        from dagnet.training import Batch

        rng = np.random.default_rng(0)
        if config == "dagnet":
            net = CharRNN("".join(map(chr, range(32, 32 + vocabulary_size))), hidden, rng=rng)
        else:
            net = RecurrentNetwork("lstm", vocabulary_size, hidden, vocabulary_size,
                                   inputs="indices", rng=rng, dtype=np.float32)
            net.carries_state = True  # state carried from batch to batch, as CharRNN does
        optimizer = RMSProp(net.parameter_nodes, LR, rho=DECAY, clip_value=CLIP)

        def step(X, Y):
            # size T·B: the gradient and the loss are averaged per character
            return net.train_step(Batch(X, Y, X.size), optimizer)
        return step

    import torch

    torch.manual_seed(0)
    V = vocabulary_size
    if config == "torch-lstm":
        lstm = torch.nn.LSTM(V, hidden[0], num_layers=len(hidden))
        if len(set(hidden)) != 1:
            raise SystemExit("torch-lstm needs equal layer sizes")
        output = torch.nn.Linear(hidden[-1], V)
        parameters = list(lstm.parameters()) + list(output.parameters())
        eye = torch.eye(V)
        state = [None]

        def forward(X):
            out, (h, c) = lstm(eye[X], state[0])
            state[0] = (h.detach(), c.detach())
            return output(out)
    else:
        sizes = [V] + hidden
        weights = []
        for k, H in enumerate(hidden):
            W = torch.nn.Parameter(torch.randn(sizes[k], 4 * H) / sizes[k] ** 0.5)
            U = torch.nn.Parameter(torch.randn(H, 4 * H) / H ** 0.5)
            b = torch.nn.Parameter(torch.zeros(4 * H))
            weights.append((W, U, b))
        output = torch.nn.Linear(hidden[-1], V)
        parameters = [p for w in weights for p in w] + list(output.parameters())
        state = [[(torch.zeros(BATCH_SIZE, H), torch.zeros(BATCH_SIZE, H)) for H in hidden]]

        def forward(X):
            x, finals = None, []
            for k, ((W, U, b), (h, c)) in enumerate(zip(weights, state[0])):
                xw = W[X] + b if k == 0 else x @ W + b   # one gather / product for all steps
                hs = []
                for t in range(X.shape[0]):
                    i, f, o, g = (xw[t] + h @ U).chunk(4, dim=1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                    hs.append(h)
                x = torch.stack(hs)
                finals.append((h.detach(), c.detach()))
            state[0] = finals
            return output(x)

    optimizer = torch.optim.RMSprop(parameters, lr=LR, alpha=DECAY, eps=1e-8)

    def step(X, Y):
        X, Y = torch.from_numpy(X.astype(np.int64)), torch.from_numpy(Y.astype(np.int64))
        optimizer.zero_grad()
        logits = forward(X)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), Y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_value_(parameters, CLIP)
        optimizer.step()
        return loss.item()
    return step


def peak_memory(args: argparse.Namespace) -> int:
    """Run one configuration alone and print its memory figures as JSON."""
    data, V = batches(args.iterations + 1)
    step = make_trainer(args.memory_of, args.hidden, V)
    use_threads(args.threads[0])
    before = _status_kib("VmRSS")
    for X, Y in data:
        step(X, Y)
    peak = _status_kib("VmHWM")
    print(json.dumps({"rss_before_mib": before / 1024, "peak_rss_mib": peak / 1024,
                      "growth_mib": (peak - before) / 1024}))
    return 0


def _status_kib(key: str) -> int:
    """VmRSS (resident now) or VmHWM (peak resident) of this process, in KiB.  Not
    ru_maxrss: Linux carries that over exec from the parent (the benchmark itself)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status")


def time_configurations(args: argparse.Namespace) -> tuple[dict, dict]:
    """Seconds per iteration (wall and process CPU), one list per (configuration, threads)
    with one entry per round, and the last loss of each."""
    import time

    data, V = batches(args.rounds * (args.iterations + 1))
    trainers = {c: make_trainer(c, args.hidden, V) for c in args.configs}
    runs = [(c, k) for c in args.configs for k in args.threads]
    times: dict[tuple, dict[str, list[float]]] = {run: {"wall": [], "cpu": []} for run in runs}
    losses: dict[tuple, float] = {}
    for r in range(args.rounds):
        chunk = data[r * (args.iterations + 1):(r + 1) * (args.iterations + 1)]
        for config, threads in runs if r % 2 == 0 else runs[::-1]:
            step = trainers[config]
            use_threads(threads)
            step(*chunk[0])  # untimed: graphs built, caches warm
            wall, cpu = time.perf_counter(), time.process_time()
            for X, Y in chunk[1:]:
                if threads == "auto" and config.startswith("dagnet"):
                    use_threads(threads)  # the policy looks at the machine before each step
                losses[config, threads] = step(X, Y)
            times[config, threads]["wall"].append((time.perf_counter() - wall) / args.iterations)
            times[config, threads]["cpu"].append((time.process_time() - cpu) / args.iterations)
    return times, losses


def report(args: argparse.Namespace, times: dict, losses: dict, load: float) -> dict:
    """Print the table (chars/s, ratios to PyTorch at the same threads) and return it."""
    import numpy as np

    chars = SEQ_LENGTH * BATCH_SIZE
    rates = {run: chars / float(np.median(t["wall"])) for run, t in times.items()}
    results = {"threads": args.threads, "busy": args.busy, "load_average_1min": load,
               "hidden": args.hidden, "seq_length": SEQ_LENGTH, "batch_size": BATCH_SIZE,
               "rounds": args.rounds, "iterations": args.iterations, "configs": {}}
    print(f"char-rnn LSTM {args.hidden}, seq {SEQ_LENGTH}, batch {BATCH_SIZE}, threads "
          f"{' '.join(args.threads)}, {args.busy} busy neighbour(s), load average {load:.1f}; "
          f"median of {args.rounds} alternated rounds")
    print(f"{'configuration':<20} {'ms/iter':>8} {'cpu ms':>8} {'chars/s':>9} {'last loss':>9}"
          "  ratios")
    for (config, threads), t in times.items():
        label = f"{config}@{threads}" if len(args.threads) > 1 else config
        same = "" if len(args.threads) == 1 else f"@{threads}"
        others = [o for o in args.configs if o.startswith("torch") and o != config]
        ratios = {f"vs {o}{same}": rates[config, threads] / rates[o, threads] for o in others
                  if (o, threads) in rates}
        wall, cpu = 1e3 * float(np.median(t["wall"])), 1e3 * float(np.median(t["cpu"]))
        results["configs"][label] = {"ms_per_iteration": wall, "cpu_ms_per_iteration": cpu,
                                     "chars_per_second": rates[config, threads],
                                     "rounds_ms": [1e3 * x for x in t["wall"]],
                                     "ratios": ratios}
        print(f"{label:<20} {wall:>8.1f} {cpu:>8.1f} {rates[config, threads]:>9.0f} "
              f"{losses[config, threads]:>9.3f}  "
              + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    return results


def measure_memory(args: argparse.Namespace, results: dict) -> None:
    print("peak memory, each configuration alone in a process (VmHWM; growth over the "
          "RSS before training):")
    for c in args.configs:
        out = subprocess.run([sys.executable, __file__, "--memory-of", c, "--threads",
                              args.threads[0], "--iterations", "20", "--hidden",
                              *map(str, args.hidden)], capture_output=True, text=True,
                             check=True)
        memory = json.loads(out.stdout.strip().splitlines()[-1])
        for label, entry in results["configs"].items():
            if label.split("@")[0] == c:
                entry["memory"] = memory
        print(f"{c:<20} peak {memory['peak_rss_mib']:7.1f} MiB, growth "
              f"{memory['growth_mib']:6.1f} MiB")


def main(argv=None) -> int:
    args = parse_arguments(argv)
    if args.memory_of:
        set_thread_variables(args.threads[0])
        return peak_memory(args)
    from busy import busy_neighbours  # benchmarks/busy.py, beside this script

    with busy_neighbours(args.busy):
        times, losses = time_configurations(args)
        load = os.getloadavg()[0]
    results = report(args, times, losses, load)
    if not args.no_memory:
        measure_memory(args, results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
