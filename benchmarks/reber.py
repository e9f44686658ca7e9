"""Training speed on the Reber grammars: strings per second, batched against one at a time.

    python benchmarks/reber.py [--repeats 5] [--threads 1] [--json FILE]

For the RNN (4 units, Reber grammar) and the LSTM (16 units, embedded grammar),
times training updates with 1 string per update (the tutorial's way) and with
padded, masked batches of 16 and 64 strings, with the fused step nodes and, for
reference, with cells composed from elementary nodes.  The configurations are
alternated round by round (so a noisy neighbour slows them all alike) and the
median strings/second over the rounds is reported with its ratio to one string
at a time.  The strings are drawn and encoded before the clock starts; the
unrolled graphs of every length are built in a warm-up round.

The matrices are tiny, so BLAS threads only add synchronisation: by default
OpenBLAS/MKL run one thread (``--threads``), set before NumPy is imported.
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--strings", type=int, default=640,
                        help="training strings per configuration and round (default 640)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_arguments(argv)
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    import time

    import numpy as np

    from dagnet.data import reber
    from dagnet.experiments.reber import reber_network
    from dagnet.files import write_json
    from dagnet.optim import Adam
    from dagnet.training import Batch

    settings = [("rnn", 4, False), ("lstm", 16, True)]  # cell, hidden units, embedded
    configs = [(cell, hidden, embedded, batch, fused)
               for cell, hidden, embedded in settings
               for batch, fused in [(1, True), (16, True), (64, True), (1, False), (16, False)]]

    def prepare(config, seed):
        cell, hidden, embedded, batch, fused = config
        rng = np.random.default_rng(seed)
        net = reber_network(cell, hidden, rng, dtype=np.float32, fused=fused)
        # The batches dagnet reber trains on (GeneratedBatches), drawn before the clock.
        batches = [Batch(*reber.sample_batch(batch, rng, embedded, np.float32), batch)
                   for _ in range(args.strings // batch)]
        return net, Adam(net.parameter_nodes, 0.01), batches

    def timed(net, optimizer, batches) -> float:
        started = time.perf_counter()
        for batch in batches:
            net.train_step(batch, optimizer)
        return time.perf_counter() - started

    prepared = {config: prepare(config, 0) for config in configs}
    for config in configs:  # warm-up: build the unrolled graph of every length
        timed(*prepared[config])
    rates: dict[tuple, list[float]] = {config: [] for config in configs}
    for round_ in range(args.repeats):
        for config in configs:
            net, optimizer, _ = prepared[config]
            # Fresh strings each round, on a net whose graphs are already built.
            batches = prepare(config, round_ + 1)[2]
            seconds = timed(net, optimizer, batches)
            rates[config].append(len(batches) * config[3] / seconds)
        print(f"round {round_ + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    results = []
    print(f"{'cell':<5} {'grammar':<9} {'units':>5} {'batch':>5} {'nodes':<9} "
          f"{'strings/s':>10} {'vs 1 at a time':>15}")
    for config in configs:
        cell, hidden, embedded, batch, fused = config
        median = float(np.median(rates[config]))
        base = float(np.median(rates[(cell, hidden, embedded, 1, fused)]))
        results.append({"cell": cell, "hidden": hidden, "embedded": embedded,
                        "batch_size": batch, "fused": fused, "strings_per_second": median,
                        "all_rounds": rates[config], "ratio_to_one_at_a_time": median / base})
        print(f"{cell:<5} {'embedded' if embedded else 'Reber':<9} {hidden:>5} {batch:>5} "
              f"{'fused' if fused else 'composed':<9} {median:>10.0f} {median / base:>14.1f}x")
    for cell, hidden, embedded in settings:
        for batch in (1, 16):
            ratio = (np.median(rates[(cell, hidden, embedded, batch, True)])
                     / np.median(rates[(cell, hidden, embedded, batch, False)]))
            print(f"{cell}, batch {batch}: fused / composed = {ratio:.2f}x")
    if args.json:
        write_json(args.json, {"repeats": args.repeats, "strings": args.strings,
                               "threads": args.threads, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
