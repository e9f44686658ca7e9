"""Regenerate the figures of docs/cost-functions.md with dagnet's own nodes.

    python docs/make_cost_figures.py [--out docs/figures]

Every curve is computed by building the cost node, propagating, and
backpropagating: the figures show what dagnet computes, not a formula re-typed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dagnet import (
    Graph,
    InputNode,
    ParameterNode,
    SigmoidBinaryCrossEntropyNode,
    SigmoidNode,
    SquaredErrorNode,
)
from dagnet.viz.plots import new_figure, save_figure


def cost_and_gradient(make_cost, logits: np.ndarray, target: float) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Per-logit cost and dJ/dz for a column of logits, through a dagnet graph."""
    z = ParameterNode(logits.reshape(-1, 1).copy(), name="z")
    y = InputNode(name="y")
    cost = make_cost(y, z)
    graph = Graph(None, [], [z], [y], cost, [z])
    costs, grads = [], []
    for k in range(len(logits)):
        z.w = logits[k:k + 1].reshape(1, 1).copy()
        graph.propagate([])
        costs.append(graph.backpropagate([np.full((1, 1), target)]))
        grads.append(float(z.get_gradient(0)[0, 0]))
    return np.array(costs), np.array(grads)


def squared_error_after_sigmoid(y, z):
    return SquaredErrorNode([y, SigmoidNode([z])])


def cross_entropy_from_logits(y, z):
    return SigmoidBinaryCrossEntropyNode([y, z])


def saturation_figure(path: Path) -> None:
    """Cost and gradient for a target of 1 as the logit goes from very wrong to right."""
    logits = np.linspace(-8, 8, 161)
    fig = new_figure((10, 4))
    ax_cost, ax_grad = fig.subplots(1, 2)
    for make, label in [(squared_error_after_sigmoid, "sigmoid + squared error"),
                        (cross_entropy_from_logits, "sigmoid + cross-entropy (fused)")]:
        costs, grads = cost_and_gradient(make, logits, target=1.0)
        ax_cost.plot(logits, costs, label=label)
        ax_grad.plot(logits, np.abs(grads), label=label)
    ax_cost.set(xlabel="logit z (target y = 1)", ylabel="cost J", title="Cost")
    ax_grad.set(xlabel="logit z (target y = 1)", ylabel="|dJ/dz|", yscale="log",
                title="Gradient reaching the logit")
    for ax in (ax_cost, ax_grad):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def likelihood_figure(path: Path) -> None:
    """Negative log-likelihoods: Gaussian noise gives the square, Bernoulli the cross-entropy."""
    fig = new_figure((10, 4))
    ax_g, ax_b = fig.subplots(1, 2)
    predictions = np.linspace(-3, 3, 121)
    z = ParameterNode(np.zeros((1, 1)))
    y = InputNode(name="y")
    squared = Graph(None, [], [z], [y], SquaredErrorNode([y, z]), [z])
    costs = []
    for p in predictions:
        z.w = np.full((1, 1), p)
        squared.propagate([])
        costs.append(squared.compute_cost([np.zeros((1, 1))]))
    sigma = 1 / np.sqrt(2)  # J = Σ(ŷ - y)² is the NLL of N(ŷ, σ²=1/2) up to a constant
    nll = -np.log(np.exp(-predictions ** 2 / (2 * sigma ** 2)) / np.sqrt(2 * np.pi * sigma ** 2))
    ax_g.plot(predictions, costs, label="SquaredErrorNode, y = 0")
    ax_g.plot(predictions, nll - nll.min(), "--", label="Gaussian NLL (shifted)")
    ax_g.set(xlabel="prediction ŷ", ylabel="cost", title="Regression: Gaussian noise")
    probabilities = np.linspace(0.01, 0.99, 99)
    for target in (0.0, 1.0):
        logits = np.log(probabilities / (1 - probabilities))
        costs, _ = cost_and_gradient(cross_entropy_from_logits, logits, target)
        ax_b.plot(probabilities, costs, label=f"y = {target:g}")
    ax_b.set(xlabel="predicted probability σ(z)", ylabel="cost",
             title="Classification: Bernoulli")
    for ax in (ax_g, ax_b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "figures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    saturation_figure(args.out / "cost_saturation.png")
    likelihood_figure(args.out / "cost_likelihood.png")
    print(f"wrote {args.out / 'cost_saturation.png'} and {args.out / 'cost_likelihood.png'}")


if __name__ == "__main__":
    main()
