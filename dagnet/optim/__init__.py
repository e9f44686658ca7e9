"""Optimization algorithms: a small base class and one file per algorithm."""

from dagnet.optim.base import OptimizationAlgorithm
from dagnet.optim.gradient_descent import GradientDescent

__all__ = ["GradientDescent", "OptimizationAlgorithm"]
