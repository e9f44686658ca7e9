"""Hyperparameter declarations, the registry, and make_optimizer."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from dagnet import ParameterNode
from dagnet.optim import (
    ALIASES,
    CONTROLS,
    OPTIMIZERS,
    Adam,
    AdaMax,
    GradientDescent,
    Hyperparameter,
    Momentum,
    OptimizationAlgorithm,
    make_optimizer,
    optimizer_class,
    optimizer_name,
    register_optimizer,
)
from dagnet.optim.hyperparameters import decay, learning_rate, positive, switch


@pytest.fixture
def registry():
    """Restore OPTIMIZERS and ALIASES after a test that registers something."""
    saved = dict(OPTIMIZERS), dict(ALIASES)
    yield
    OPTIMIZERS.clear()
    OPTIMIZERS.update(saved[0])
    ALIASES.clear()
    ALIASES.update(saved[1])


def test_the_registry_lists_the_algorithms_in_order_of_increasing_complexity():
    assert list(OPTIMIZERS) == ["gd", "momentum", "nesterov", "adagrad", "rmsprop",
                                "adadelta", "adam", "adamax", "nadam"]


def test_sgd_is_another_name_for_gradient_descent_not_another_class():
    assert ALIASES == {"sgd": "gd"} and "sgd" not in OPTIMIZERS
    assert optimizer_name("sgd") == "gd" and optimizer_class("sgd") is GradientDescent
    assert type(make_optimizer("sgd", [ParameterNode(np.ones(2))])) is GradientDescent
    assert list(OPTIMIZERS.values()).count(GradientDescent) == 1


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_config_is_the_learning_rate_the_controls_and_the_declarations(name):
    cls = OPTIMIZERS[name]
    declared = [h.name for h in cls.hyperparameters]
    optimizer = cls([ParameterNode(np.ones(2))])
    config = optimizer.config()
    assert list(config) == ["learning_rate", *CONTROLS, *declared[1:]]
    assert declared[0] == "learning_rate"
    for h in cls.hyperparameters:  # the defaults are the declared ones
        assert config[h.name] == h.default and getattr(optimizer, h.name) == h.default
    assert cls.default_learning_rate == cls.hyperparameters[0].default
    rebuilt = cls.from_config([ParameterNode(np.ones(2))], config)
    assert type(rebuilt) is cls and rebuilt.config() == config


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_signature_shows_the_declared_defaults(name):
    cls = OPTIMIZERS[name]
    parameters = inspect.signature(cls).parameters
    assert list(parameters)[:2] == ["parameter_nodes", "learning_rate"]
    for h in cls.hyperparameters:
        assert parameters[h.name].default == h.default
    assert set(CONTROLS) <= set(parameters)


def test_declared_hyperparameters_are_set_checked_and_typed():
    optimizer = AdaMax([ParameterNode(np.ones(2))], np.float32(0.01), beta1=np.float64(0.5),
                       eps_inside_max=np.bool_(True))
    assert type(optimizer.learning_rate) is float and optimizer.beta1 == 0.5
    assert optimizer.eps_inside_max is True
    with pytest.raises(ValueError, match="eps_inside_max must be True or False, got 1"):
        AdaMax([], eps_inside_max=1)
    with pytest.raises(ValueError, match=r"beta1 must be a number in \[0.0, 1.0\), got '0.5'"):
        Adam([], beta1="0.5")
    assert Adam([], None).learning_rate == Adam.default_learning_rate  # None: the default


def test_an_unknown_keyword_names_the_class_and_what_it_takes():
    with pytest.raises(TypeError, match="Adam has no hyperparameter 'momentum': it takes "
                                        "learning_rate, beta1, beta2, eps and the controls"):
        Adam([ParameterNode(np.ones(2))], momentum=0.9)


def test_hyperparameter_intervals_and_kinds():
    count = Hyperparameter("k", 5, 1.0, 10.0, "a count", low_open=False, kind=int)
    assert count.check(3.0) == 3 and type(count.check(3.0)) is int
    assert count.interval == "[1.0, 10.0]"
    with pytest.raises(ValueError, match=r"k must be a whole number in \[1.0, 10.0\]"):
        count.check(2.5)
    with pytest.raises(ValueError, match=r"k must be in \[1.0, 10.0\], got 11.0"):
        count.check(11)
    assert positive("eps", 1e-8, "").interval == "(0.0, inf)"
    assert decay("rho", 0.9, "").interval == "[0.0, 1.0)"
    assert switch("flag", False, "").interval == "True or False"
    with pytest.raises(ValueError, match=r"rho must be in \[0.0, 1.0\), got 1.5"):
        decay("rho", 1.5, "")  # a default outside its interval is refused at the declaration
    with pytest.raises(ValueError, match="not a Python identifier"):
        positive("max-step", 1.0, "")
    with pytest.raises(ValueError, match=r"eps must be in \(0.0, inf\), got nan"):
        positive("eps", 1e-8, "").check(math.nan)


class _Sign(OptimizationAlgorithm):
    hyperparameters = (learning_rate(0.01),)

    def compute_direction(self, i, grad):
        return np.sign(grad, out=grad)


def test_register_optimizer_refuses_what_would_confuse_a_lookup(registry):
    with pytest.raises(ValueError, match="optimizer name 'adam' is taken by Adam"):
        register_optimizer("adam")(_Sign)
    with pytest.raises(ValueError, match="optimizer name 'sgd' is taken by GradientDescent"):
        register_optimizer("sign", aliases=("sgd",))(_Sign)
    with pytest.raises(ValueError, match="lower-case letters"):
        register_optimizer("Sign,descent")(_Sign)
    with pytest.raises(ValueError, match="Adam is registered as 'adam': give other names"):
        register_optimizer("adam_again")(Adam)
    with pytest.raises(TypeError, match="OptimizationAlgorithm subclass"):
        register_optimizer("thing")(dict)
    renamed = type("Adam", (_Sign,), {})  # checkpoints find an algorithm by its class name
    with pytest.raises(ValueError, match="a class named Adam is registered as 'adam'"):
        register_optimizer("other")(renamed)
    no_rule = type("NoRule", (OptimizationAlgorithm,), {})
    with pytest.raises(TypeError, match="NoRule does not define compute_direction"):
        register_optimizer("norule")(no_rule)
    assert register_optimizer("sign", aliases=("signsgd",))(_Sign) is _Sign
    assert optimizer_class("signsgd") is _Sign and list(OPTIMIZERS)[-1] == "sign"


@pytest.mark.parametrize("hyperparameters, message", [
    ((positive("eps", 1e-8, ""),), "must declare learning_rate"),
    ((learning_rate(0.1), positive("weight_decay", 0.1, "")), "'weight_decay' would hide"),
    ((learning_rate(0.1), positive("state", 0.1, "")), "'state' would hide"),
    ((learning_rate(0.1), positive("step", 0.1, "")), "'step' would hide"),
    ((learning_rate(0.1), positive("eps", 0.1, ""), positive("eps", 0.2, "")), "twice"),
    ([learning_rate(0.1)], "must be a tuple of Hyperparameter"),
])
def test_a_bad_declaration_fails_when_the_class_is_defined(hyperparameters, message):
    with pytest.raises(TypeError, match=message):
        type("Bad", (OptimizationAlgorithm,), {"hyperparameters": hyperparameters})


def test_a_subclass_without_declarations_takes_the_bases_learning_rate():
    class Recorder(OptimizationAlgorithm):
        def compute_direction(self, i, grad):
            return grad

    assert Recorder([], 0.5).learning_rate == 0.5
    assert Recorder.default_learning_rate == 0.1 == Recorder([]).learning_rate


def test_make_optimizer_from_a_name_a_class_or_an_instance():
    nodes = [ParameterNode(np.ones(2)), ParameterNode(np.ones(3))]
    adam = make_optimizer("adam", nodes, learning_rate=0.01, beta2=0.99, clip_norm=1.0)
    assert type(adam) is Adam and (adam.learning_rate, adam.beta2, adam.clip_norm) == (
        0.01, 0.99, 1.0)
    assert adam.parameter_nodes == nodes
    assert type(make_optimizer(Momentum, nodes, momentum=0.5)) is Momentum
    assert make_optimizer(adam, nodes) is adam


@pytest.mark.parametrize("call, error, message", [
    (lambda nodes: make_optimizer("adamw", nodes), ValueError,
     r"unknown optimizer 'adamw'; choose from gd \(or sgd\), momentum"),
    (lambda nodes: make_optimizer("gd", nodes, beta1=0.9), TypeError,
     "GradientDescent has no hyperparameter 'beta1'"),
    (lambda nodes: make_optimizer(Adam(nodes), nodes, learning_rate=0.1), ValueError,
     r"an optimizer instance and options \(learning_rate\)"),
    (lambda nodes: make_optimizer(Adam(nodes), nodes[:1]), ValueError,
     "updates other parameters"),
    (lambda nodes: make_optimizer(dict, nodes), TypeError, "an optimizer name, class or"),
    (lambda nodes: make_optimizer("adam", nodes, beta1=2.0), ValueError,
     r"beta1 must be in \[0.0, 1.0\)"),
])
def test_make_optimizer_errors_say_what_to_change(call, error, message):
    with pytest.raises(error, match=message):
        call([ParameterNode(np.ones(2)), ParameterNode(np.ones(3))])
