"""Optimizer state: state_dict round trips, and checkpoints that resume bit for bit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dagnet import ModelFileError, ParameterNode, fully_connected, save
from dagnet.optim import (
    OPTIMIZERS,
    Adam,
    CosineSchedule,
    Momentum,
    WarmupSchedule,
    load_checkpoint,
    save_checkpoint,
)
from dagnet.training import train

FIRST, THEN, BATCH = 2, 3, 16  # epochs before and after the interruption


def data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 4)).astype(np.float32)
    labels = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
    return X, np.eye(3, dtype=np.float32)[labels]


def new_run(name):
    graph = fully_connected([6, 3], 4, "tanh", "softmax", rng=np.random.default_rng(0),
                            dtype=np.float32)
    # Every control that carries state or depends on the step count.
    optimizer = OPTIMIZERS[name](graph.parameter_nodes, 0.05, weight_decay=1e-3,
                                 clip_norm=5.0, schedule=WarmupSchedule(3, CosineSchedule(15)))
    return graph, optimizer, np.random.default_rng(1)


RESUME = textwrap.dedent("""
    import sys
    import numpy as np
    from dagnet.optim import load_checkpoint
    from dagnet.training import train

    folder, epochs, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    arrays = np.load(f"{folder}/data.npz")
    results = {}
    for name in sys.argv[4:]:
        graph, optimizer, rng = load_checkpoint(f"{folder}/{name}.dagnet")
        train(graph, optimizer, arrays["X"], arrays["Y"], epochs=epochs, batch_size=batch,
              rng=rng, progress=False)
        for i, node in enumerate(graph.parameter_nodes):
            results[f"{name}/{i}"] = node.w
        results[f"{name}/t"] = np.array(optimizer.t)
    np.savez(f"{folder}/resumed.npz", **results)
""")


def test_a_run_resumed_in_a_new_process_is_bit_for_bit_the_uninterrupted_one(tmp_path):
    X, Y = data()
    np.savez(tmp_path / "data.npz", X=X, Y=Y)
    expected = {}
    for name in OPTIMIZERS:
        graph, optimizer, rng = new_run(name)
        train(graph, optimizer, X, Y, epochs=FIRST + THEN, batch_size=BATCH, rng=rng,
              progress=False)
        expected[name] = [node.w.copy() for node in graph.parameter_nodes]
        graph, optimizer, rng = new_run(name)
        train(graph, optimizer, X, Y, epochs=FIRST, batch_size=BATCH, rng=rng, progress=False)
        save_checkpoint(tmp_path / f"{name}.dagnet", graph, optimizer, rng=rng)
    subprocess.run([sys.executable, "-c", RESUME, str(tmp_path), str(THEN), str(BATCH),
                    *OPTIMIZERS], check=True, timeout=120)
    resumed = np.load(tmp_path / "resumed.npz")
    for name, weights in expected.items():
        assert int(resumed[f"{name}/t"]) == (FIRST + THEN) * 4
        for i, w in enumerate(weights):
            got = resumed[f"{name}/{i}"]
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, w, err_msg=f"{name}, parameter {i}")


def test_resuming_without_the_optimizer_state_would_differ(tmp_path):
    """The check above can fail: a fresh optimizer on the saved weights diverges."""
    X, Y = data()
    graph, optimizer, rng = new_run("adam")
    train(graph, optimizer, X, Y, epochs=FIRST + THEN, batch_size=BATCH, rng=rng,
          progress=False)
    graph2, optimizer2, rng2 = new_run("adam")
    train(graph2, optimizer2, X, Y, epochs=FIRST, batch_size=BATCH, rng=rng2, progress=False)
    fresh = Adam.from_config(graph2.parameter_nodes, optimizer2.config())
    train(graph2, fresh, X, Y, epochs=THEN, batch_size=BATCH, rng=rng2, progress=False)
    assert not np.array_equal(graph.parameter_nodes[0].w, graph2.parameter_nodes[0].w)


def test_state_dict_round_trip_in_process():
    nodes = [ParameterNode(np.ones(3)), ParameterNode(np.ones((2, 2)))]
    optimizer = Momentum(nodes, 0.1, schedule=CosineSchedule(10))
    optimizer.step([np.arange(3.0), np.ones((2, 2))])
    saved = optimizer.state_dict()
    optimizer.step([np.ones(3), np.ones((2, 2))])  # must not alter the saved copy
    other = Momentum.from_config([ParameterNode(np.ones(3)), ParameterNode(np.ones((2, 2)))],
                                 saved["config"])
    other.load_state_dict(saved)
    assert other.t == 1 and other.schedule.config() == optimizer.schedule.config()
    np.testing.assert_array_equal(other.state[0]["velocity"], [0.0, 1.0, 2.0])


def test_load_state_dict_refuses_a_mismatch():
    optimizer = Momentum([ParameterNode(np.ones(3))], 0.1)
    optimizer.step([np.ones(3)])
    saved = optimizer.state_dict()
    with pytest.raises(ValueError, match="belongs to a Momentum optimizer, not to Adam"):
        Adam([ParameterNode(np.ones(3))]).load_state_dict(saved)
    with pytest.raises(ValueError, match="has 1 parameters, this optimizer 2"):
        Momentum([ParameterNode(np.ones(3)), ParameterNode(np.ones(3))]).load_state_dict(saved)
    with pytest.raises(ValueError, match=r"has shape \(3,\), the weights \(4,\)"):
        Momentum([ParameterNode(np.ones(4))]).load_state_dict(saved)


def test_checkpoint_errors_name_the_file(tmp_path):
    graph, optimizer, _ = new_run("adam")
    plain = save(graph, tmp_path / "plain.dagnet")
    with pytest.raises(ModelFileError, match="plain.dagnet: a model without optimizer state"):
        load_checkpoint(plain)
    path = save(graph, tmp_path / "bad.dagnet",
                metadata={"optimizer": {"algorithm": "os.system", "config": {}, "t": 0,
                                        "parameters": 4}})
    with pytest.raises(ModelFileError, match="bad.dagnet: corrupt optimizer state.*os.system"):
        load_checkpoint(path)
    other, _, _ = new_run("adam")
    with pytest.raises(ValueError, match="does not update the graph's parameters"):
        save_checkpoint(tmp_path / "x.dagnet", other, optimizer)
    with pytest.raises(ValueError, match="reserved for the optimizer"):
        save_checkpoint(tmp_path / "x.dagnet", graph, optimizer,
                        extra_tensors={"optimizer/0/m": np.ones(1)})


def test_checkpoint_keeps_user_metadata_and_tensors(tmp_path):
    graph, optimizer, rng = new_run("nadam")
    save_checkpoint(tmp_path / "run.dagnet", graph, optimizer, rng=None,
                    metadata={"epoch": 3}, extra_tensors={"mean": np.arange(4.0)})
    loaded, restored, rng = load_checkpoint(tmp_path / "run.dagnet")
    assert rng is None and loaded.metadata["epoch"] == 3 and isinstance(restored, type(optimizer))
    np.testing.assert_array_equal(loaded.extra_tensors["mean"], np.arange(4.0))
    assert restored.parameter_nodes == loaded.parameter_nodes
