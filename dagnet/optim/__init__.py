"""Optimization algorithms, sorted in order of increasing complexity, on a small base.

Each algorithm is one class in its own module, with its update rule in its
docstring and its hyperparameters declared once (``dagnet.optim.hyperparameters``);
``@register_optimizer(NAME)`` at its definition puts it in ``OPTIMIZERS``, which
the command line, ``make_optimizer`` and checkpoints read.  docs/optimizers.md
has the equations, the references and how each convention compares with
PyTorch's.  The training controls (weight decay, gradient clipping,
learning-rate schedules, saving the state) live in the base class and work with
all of them.
"""

# isort: off
# The algorithms register themselves in this order, which is OPTIMIZERS' order (and
# the order of the comparisons and their colours): increasing complexity.
from dagnet.optim.gradient_descent import GradientDescent
from dagnet.optim.momentum import Momentum
from dagnet.optim.nesterov import Nesterov
from dagnet.optim.adagrad import Adagrad
from dagnet.optim.rmsprop import RMSProp
from dagnet.optim.adadelta import Adadelta
from dagnet.optim.adam import Adam
from dagnet.optim.adamax import AdaMax
from dagnet.optim.nadam import Nadam
# isort: on
from dagnet.optim.base import (
    ALIASES,
    CONTROLS,
    OPTIMIZERS,
    OptimizationAlgorithm,
    make_optimizer,
    optimizer_choices,
    optimizer_class,
    optimizer_name,
    register_optimizer,
)
from dagnet.optim.checks import check_hyperparameter
from dagnet.optim.hyperparameters import Hyperparameter
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

__all__ = [
    "ALIASES", "CONTROLS", "OPTIMIZERS", "SCHEDULES", "AdaMax", "Adadelta", "Adagrad", "Adam",
    "ConstantSchedule", "CosineSchedule", "ExponentialSchedule", "GradientDescent",
    "Hyperparameter", "LRSchedule", "Momentum", "Nadam", "Nesterov", "OptimizationAlgorithm",
    "RMSProp", "StepSchedule", "WarmupSchedule", "check_hyperparameter",
    "make_optimizer", "optimizer_choices", "optimizer_class", "optimizer_name",
    "register_optimizer", "schedule_from_config",
]
