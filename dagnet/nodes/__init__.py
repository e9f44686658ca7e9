"""Operation and cost nodes, grouped by kind, and the table of every node type.

``NODE_TYPES`` maps a class name to its class: model files name node types by
these keys, and loading accepts nothing else (a file cannot make dagnet import or
run arbitrary code).
"""

from dagnet.node import GradientNode, InputNode, Node, ParameterNode
from dagnet.nodes.activations import (
    IdentityNode,
    ReluNode,
    SigmoidNode,
    SoftmaxNode,
    TanhNode,
)
from dagnet.nodes.arithmetic import (
    AdditionNode,
    EWMultiplicationNode,
    Norm2Node,
    ScalarMultiplicationNode,
    SubtractionNode,
    SumNode,
)
from dagnet.nodes.linear_algebra import AddBiasNode, LinearNode, MultiplicationNode
from dagnet.nodes.losses import (
    BinaryCrossEntropyNode,
    CategoricalCrossEntropyNode,
    SigmoidBinaryCrossEntropyNode,
    SoftmaxCrossEntropyNode,
    SquaredErrorNode,
)
from dagnet.nodes.recurrent import GRUStepNode, LSTMLayerNode, LSTMStepNode, MultiplyAddNode
from dagnet.nodes.sequence import (
    EmbeddingNode,
    OneHotLinearNode,
    SequenceLinearNode,
    StackNode,
    UnstackNode,
)
from dagnet.nodes.shape import ConcatenationNode, SelectionNode, SplitNode

NODE_TYPES: dict[str, type[Node]] = {cls.__name__: cls for cls in [
    InputNode, ParameterNode, GradientNode,
    IdentityNode, SigmoidNode, TanhNode, ReluNode, SoftmaxNode,
    AdditionNode, SubtractionNode, EWMultiplicationNode, ScalarMultiplicationNode,
    SumNode, Norm2Node,
    MultiplicationNode, AddBiasNode, LinearNode,
    SelectionNode, ConcatenationNode, SplitNode,
    SquaredErrorNode, BinaryCrossEntropyNode, CategoricalCrossEntropyNode,
    SoftmaxCrossEntropyNode, SigmoidBinaryCrossEntropyNode,
    UnstackNode, StackNode, SequenceLinearNode, OneHotLinearNode,
    MultiplyAddNode, LSTMStepNode, GRUStepNode, LSTMLayerNode, EmbeddingNode,
]}

__all__ = sorted(NODE_TYPES) + ["NODE_TYPES", "Node"]
