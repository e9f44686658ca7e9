"""dagnet: a deep learning framework on NumPy, built as a computational graph.

The names follow the tutorial series "write your own deep learning framework":
``Node``, ``Graph.propagate`` / ``Graph.backpropagate``, ``OptimizationAlgorithm``.
"""

from dagnet.errors import (
    DagnetError,
    DataError,
    GraphError,
    ModelFileError,
    NonFiniteError,
    ShapeError,
)
from dagnet.gradcheck import check_gradients, check_node_gradients
from dagnet.graph import Graph
from dagnet.io import save
from dagnet.models import GraphModel, Model, fully_connected, load, register_model
from dagnet.node import GradientNode, InputNode, Node, ParameterNode, register_node
from dagnet.nodes import (
    NODE_TYPES,
    AddBiasNode,
    AdditionNode,
    BinaryCrossEntropyNode,
    CategoricalCrossEntropyNode,
    ConcatenationNode,
    EWMultiplicationNode,
    IdentityNode,
    LinearNode,
    MultiplicationNode,
    Norm2Node,
    ReluNode,
    ScalarMultiplicationNode,
    SelectionNode,
    SigmoidBinaryCrossEntropyNode,
    SigmoidNode,
    SoftmaxCrossEntropyNode,
    SoftmaxNode,
    SplitNode,
    SquaredErrorNode,
    SubtractionNode,
    SumNode,
    TanhNode,
)
from dagnet.optim import GradientDescent, OptimizationAlgorithm
from dagnet.threads import set_threads
from dagnet.training import History, Trainer
from dagnet.version import __version__

__all__ = [
    "DagnetError", "DataError", "GradientDescent", "GradientNode", "Graph", "GraphError",
    "InputNode", "ModelFileError", "Node", "NonFiniteError", "OptimizationAlgorithm",
    "ParameterNode", "ShapeError", "check_gradients", "check_node_gradients",
    "fully_connected", "load", "save", "NODE_TYPES", "register_node", "GraphModel", "History",
    "Model", "Trainer", "register_model", "set_threads", "__version__",
    "AddBiasNode", "AdditionNode", "BinaryCrossEntropyNode", "CategoricalCrossEntropyNode",
    "ConcatenationNode", "EWMultiplicationNode", "IdentityNode", "LinearNode",
    "MultiplicationNode", "Norm2Node", "ReluNode", "ScalarMultiplicationNode",
    "SelectionNode", "SigmoidBinaryCrossEntropyNode", "SigmoidNode",
    "SoftmaxCrossEntropyNode", "SoftmaxNode", "SplitNode", "SquaredErrorNode",
    "SubtractionNode", "SumNode", "TanhNode",
]
