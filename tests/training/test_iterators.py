"""AugmentedBatches: the augmentation draws from its own generator, which the state keeps."""

from __future__ import annotations

import numpy as np

from dagnet.training import ArrayBatches, AugmentedBatches


def noisy(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x + rng.standard_normal(x.shape)


def make(seed: int = 0) -> AugmentedBatches:
    X, Y = np.arange(20.0).reshape(10, 2), np.arange(10)
    return AugmentedBatches(X, Y, 4, np.random.default_rng(seed), noisy,
                            np.random.default_rng(seed + 100))


def test_the_order_is_array_batches_and_the_inputs_are_transformed():
    plain = ArrayBatches(np.arange(20.0).reshape(10, 2), np.arange(10), 4,
                         np.random.default_rng(0))
    augmented = make()
    for _ in range(5):  # across an epoch boundary
        a, b = plain.next_batch(), augmented.next_batch()
        np.testing.assert_array_equal(a.targets, b.targets)
        assert not np.array_equal(a.inputs, b.inputs)


def test_a_restored_state_draws_the_same_batches_as_the_uninterrupted_run():
    run = make()
    for _ in range(4):
        run.next_batch()
    state = run.state_dict()
    expected = [run.next_batch() for _ in range(3)]
    resumed = make(seed=7)  # other generators, replaced by the state's
    resumed.load_state_dict(state)
    for want, got in zip(expected, (resumed.next_batch() for _ in range(3))):
        np.testing.assert_array_equal(want.inputs, got.inputs)
        np.testing.assert_array_equal(want.targets, got.targets)
