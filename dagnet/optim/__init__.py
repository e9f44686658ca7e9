"""Optimization algorithms: a small base class and one file per algorithm."""

from dagnet.optim.base import OptimizationAlgorithm
from dagnet.optim.gradient_descent import GradientDescent

# Name on the command line (--optimizer NAME) -> class.
OPTIMIZERS: dict[str, type[OptimizationAlgorithm]] = {
    "gd": GradientDescent,
}

__all__ = ["OPTIMIZERS", "GradientDescent", "OptimizationAlgorithm"]
