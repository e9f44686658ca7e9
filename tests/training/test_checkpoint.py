"""One checkpoint format: every optimizer and control resumes bit for bit, in a new process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dagnet
from dagnet import ModelFileError, ParameterNode, fully_connected
from dagnet.optim import OPTIMIZERS, Adam, CosineSchedule, Momentum, WarmupSchedule
from dagnet.training import (
    ArrayBatches,
    Checkpoint,
    Trainer,
    check_options,
    optimizer_from_checkpoint,
    resume,
    save_checkpoint,
)

FIRST, ALL, BATCH = 2, 5, 16  # epochs before the interruption, and in all


def data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 4)).astype(np.float32)
    labels = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
    return X, labels


def new_trainer(name, epochs, extensions=()):
    model = fully_connected([6, 3], 4, "tanh", "softmax", rng=np.random.default_rng(0),
                            dtype=np.float32)
    # Every control that carries state or depends on the step count.
    optimizer = OPTIMIZERS[name](model.parameter_nodes, 0.05, weight_decay=1e-3, clip_norm=5.0,
                                 schedule=WarmupSchedule(3, CosineSchedule(15)))
    return Trainer(model, optimizer, ArrayBatches(*data(), BATCH, np.random.default_rng(1)),
                   epochs=epochs, extensions=list(extensions))


RESUME = textwrap.dedent("""
    import sys
    import numpy as np
    import dagnet
    from dagnet.training import ArrayBatches, Trainer, optimizer_from_checkpoint, resume

    folder, epochs, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    arrays = np.load(f"{folder}/data.npz")
    results = {}
    for name in sys.argv[4:]:
        path = f"{folder}/{name}.safetensors"
        model = dagnet.load(path)
        data = ArrayBatches(arrays["X"], arrays["y"], batch, np.random.default_rng(12345))
        trainer = Trainer(model, optimizer_from_checkpoint(model, path), data, epochs=epochs)
        resume(trainer, path)
        trainer.run()
        for i, node in enumerate(model.parameter_nodes):
            results[f"{name}/{i}"] = node.w
        results[f"{name}/t"] = np.array(trainer.optimizer.t)
    np.savez(f"{folder}/resumed.npz", **results)
""")


def test_a_run_resumed_in_a_new_process_is_bit_for_bit_the_uninterrupted_one(tmp_path):
    X, y = data()
    np.savez(tmp_path / "data.npz", X=X, y=y)
    expected = {}
    for name in OPTIMIZERS:
        whole = new_trainer(name, ALL)
        whole.run()
        expected[name] = [node.w.copy() for node in whole.model.parameter_nodes]
        new_trainer(name, FIRST, [Checkpoint(tmp_path, f"{name}.safetensors")]).run()
    subprocess.run([sys.executable, "-c", RESUME, str(tmp_path), str(ALL), str(BATCH),
                    *OPTIMIZERS], check=True, timeout=120)
    resumed = np.load(tmp_path / "resumed.npz")
    for name, weights in expected.items():
        assert int(resumed[f"{name}/t"]) == ALL * 4
        for i, w in enumerate(weights):
            got = resumed[f"{name}/{i}"]
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, w, err_msg=f"{name}, parameter {i}")


def test_resuming_without_the_optimizer_state_would_differ(tmp_path):
    """The check above can fail: a fresh optimizer on the saved weights diverges."""
    whole = new_trainer("adam", ALL)
    whole.run()
    new_trainer("adam", FIRST, [Checkpoint(tmp_path)]).run()
    path = tmp_path / "checkpoint.safetensors"
    model = dagnet.load(path)
    fresh = Adam.from_config(model.parameter_nodes, optimizer_from_checkpoint(model, path)
                             .config())
    trainer = Trainer(model, fresh, ArrayBatches(*data(), BATCH, np.random.default_rng(1)),
                      epochs=ALL)
    resume(trainer, path)
    trainer.run()
    assert not np.array_equal(whole.model.parameter_nodes[0].w, model.parameter_nodes[0].w)


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
    trainer = new_trainer("adam", 1)
    plain = trainer.model.save(tmp_path / "plain.safetensors")
    with pytest.raises(ModelFileError, match="plain.safetensors: a model without training"):
        optimizer_from_checkpoint(dagnet.load(plain), plain)
    save_checkpoint(tmp_path / "bad.safetensors", trainer)
    model = dagnet.load(tmp_path / "bad.safetensors")
    model.metadata["checkpoint"]["optimizer"]["algorithm"] = "os.system"
    path = model.save(tmp_path / "bad.safetensors")
    with pytest.raises(ModelFileError, match="bad.safetensors: corrupt optimizer state.*os.system"):
        optimizer_from_checkpoint(dagnet.load(path), path)
    other = new_trainer("adam", 1)
    other.optimizer = trainer.optimizer
    with pytest.raises(dagnet.DagnetError, match="does not update the model's parameters"):
        save_checkpoint(tmp_path / "x.safetensors", other)


def test_checkpoint_keeps_the_models_metadata_and_tensors(tmp_path):
    trainer = new_trainer("nadam", 1)
    trainer.model.metadata = {"task": "demo"}
    trainer.model.extra_tensors = {"mean": np.arange(4.0)}
    trainer.run()
    save_checkpoint(tmp_path / "run.safetensors", trainer, options={"layers": [6, 3]},
                    metadata={"epoch": 1})
    loaded = dagnet.load(tmp_path / "run.safetensors")
    assert loaded.metadata["task"] == "demo" and loaded.metadata["epoch"] == 1
    assert loaded.metadata["checkpoint"]["options"] == {"layers": [6, 3]}
    np.testing.assert_array_equal(loaded.extra_tensors["mean"], np.arange(4.0))
    restored = optimizer_from_checkpoint(loaded, tmp_path / "run.safetensors")
    assert isinstance(restored, type(trainer.optimizer))
    assert restored.parameter_nodes == loaded.parameter_nodes


def test_check_options_names_the_contradicting_option():
    check_options({"hidden": 128, "lr": 0.1}, {"lr": 0.2}, ["hidden"], "c.safetensors")
    with pytest.raises(dagnet.DagnetError, match="--hidden 64 contradicts the checkpoint "
                                                 "c.safetensors.*--hidden 128"):
        check_options({"hidden": 128}, {"hidden": 64}, ["hidden"], "c.safetensors")
