"""Optimization algorithms, sorted in order of increasing complexity, on a small base.

Each algorithm is one class in its own module, with its update rule in its
docstring; docs/optimizers.md has the equations, the references and how each
convention compares with PyTorch's.  The training controls (weight decay,
gradient clipping, learning-rate schedules, saving the state) live in the base
class and work with all of them.
"""

from dagnet.optim.adadelta import Adadelta
from dagnet.optim.adagrad import Adagrad
from dagnet.optim.adam import Adam
from dagnet.optim.adamax import AdaMax
from dagnet.optim.base import OptimizationAlgorithm
from dagnet.optim.checks import check_hyperparameter
from dagnet.optim.gradient_descent import GradientDescent
from dagnet.optim.momentum import Momentum
from dagnet.optim.nadam import Nadam
from dagnet.optim.nesterov import Nesterov
from dagnet.optim.rmsprop import RMSProp
from dagnet.optim.schedules import (
    SCHEDULES,
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    LRSchedule,
    StepSchedule,
    WarmupSchedule,
    schedule_from_config,
)

# Name on the command line (--optimizer NAME) -> class, in order of increasing complexity.
OPTIMIZERS: dict[str, type[OptimizationAlgorithm]] = {
    "gd": GradientDescent,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": Adagrad,
    "rmsprop": RMSProp,
    "adadelta": Adadelta,
    "adam": Adam,
    "adamax": AdaMax,
    "nadam": Nadam,
}

__all__ = [
    "OPTIMIZERS", "SCHEDULES", "AdaMax", "Adadelta", "Adagrad", "Adam", "ConstantSchedule",
    "CosineSchedule", "ExponentialSchedule", "GradientDescent", "LRSchedule", "Momentum",
    "Nadam", "Nesterov", "OptimizationAlgorithm", "RMSProp", "StepSchedule",
    "WarmupSchedule", "check_hyperparameter",
    "schedule_from_config",
]
