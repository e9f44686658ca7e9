"""The language-model figures: an attention pattern over a line, runs against time."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dagnet.viz.language import plot_attention, plot_runs_against_time


def test_plot_attention_writes_a_png_and_checks_the_shape(tmp_path):
    weights = np.tril(np.ones((6, 6)))
    weights /= weights.sum(1, keepdims=True)
    path = plot_attention(tmp_path / "attention.png", weights, "ab c\nd", title="head 1")
    with Image.open(path) as image:
        assert image.format == "PNG" and np.asarray(image.convert("L")).std() > 0
    with pytest.raises(ValueError, match=r"shape \(6, 6\) for a text of 5 characters"):
        plot_attention(tmp_path / "bad.png", weights, "abcde")


def test_runs_are_drawn_against_their_summed_training_time(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr("dagnet.viz.language.plot_curves",
                        lambda path, series, *args: drawn.update(series) or path)
    runs = {"gpt": [{"train_seconds": 60, "val_loss": 2.0}, {"train_seconds": 60},
                    {"train_seconds": 120, "val_loss": 1.5}],
            "char-rnn": [{"train_seconds": 30, "val_loss": 2.5}]}
    plot_runs_against_time(tmp_path / "runs.png", runs)
    assert drawn == {"gpt": ([1.0, 4.0], [2.0, 1.5]), "char-rnn": ([0.5], [2.5])}
    monkeypatch.undo()
    with Image.open(plot_runs_against_time(tmp_path / "runs.png", runs)) as image:
        assert image.format == "PNG"
