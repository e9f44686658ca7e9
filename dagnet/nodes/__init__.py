"""Operation and cost nodes, grouped by kind.

Each class is registered by ``@register_node`` at its definition; ``NODE_TYPES``
(from dagnet.node) maps the class names to the classes, and loading a model file
instantiates nothing else.
"""

from dagnet.node import NODE_TYPES, GradientNode, InputNode, Node, ParameterNode, register_node
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
from dagnet.nodes.convolution import (
    AvgPool2DNode,
    Conv2DNode,
    GlobalAveragePoolNode,
    MaxPool2DNode,
)
from dagnet.nodes.linear_algebra import AddBiasNode, LinearNode, MultiplicationNode
from dagnet.nodes.losses import (
    BinaryCrossEntropyNode,
    CategoricalCrossEntropyNode,
    SigmoidBinaryCrossEntropyNode,
    SoftmaxCrossEntropyNode,
    SparseSoftmaxCrossEntropyNode,
    SquaredErrorNode,
)
from dagnet.nodes.normalization import BatchNormNode, DropoutNode
from dagnet.nodes.recurrent import (
    GRULayerNode,
    GRUStepNode,
    LSTMLayerNode,
    LSTMStepNode,
    MultiplyAddNode,
    RNNLayerNode,
)
from dagnet.nodes.sequence import (
    EmbeddingNode,
    OneHotLinearNode,
    SequenceLinearNode,
    StackNode,
    UnstackNode,
)
from dagnet.nodes.shape import ConcatenationNode, FlattenNode, SelectionNode, SplitNode
from dagnet.nodes.tensor import (
    AxisMeanNode,
    AxisSoftmaxNode,
    AxisSplitNode,
    AxisSumNode,
    BatchMatMulNode,
    BroadcastAddNode,
    BroadcastMultiplyNode,
    CausalMaskNode,
    ReshapeNode,
    TransposeNode,
)
from dagnet.nodes.transformer import (
    GELUNode,
    LayerNormNode,
    MultiHeadAttentionNode,
    PositionEmbeddingNode,
    composed_attention,
)

__all__ = ["AddBiasNode", "AdditionNode", "BinaryCrossEntropyNode", "CategoricalCrossEntropyNode",
    "ConcatenationNode", "EWMultiplicationNode", "EmbeddingNode", "GRUStepNode", "GradientNode",
    "IdentityNode", "InputNode", "LSTMLayerNode", "LSTMStepNode", "LinearNode",
    "MultiplicationNode", "MultiplyAddNode", "Norm2Node", "OneHotLinearNode", "ParameterNode",
    "ReluNode", "ScalarMultiplicationNode", "SelectionNode", "SequenceLinearNode",
    "SigmoidBinaryCrossEntropyNode", "SigmoidNode", "SoftmaxCrossEntropyNode", "SoftmaxNode",
    "SplitNode", "SquaredErrorNode", "StackNode", "SubtractionNode", "SumNode", "TanhNode",
    "UnstackNode", "NODE_TYPES", "Node", "register_node", "GRULayerNode", "RNNLayerNode",
    # Tensors of any rank and the transformer (tensor.py, transformer.py, losses.py).
    "AxisMeanNode", "AxisSoftmaxNode", "AxisSplitNode", "AxisSumNode", "BatchMatMulNode",
    "BroadcastAddNode", "BroadcastMultiplyNode", "CausalMaskNode", "GELUNode", "LayerNormNode",
    "MultiHeadAttentionNode", "PositionEmbeddingNode", "ReshapeNode",
    "SparseSoftmaxCrossEntropyNode", "TransposeNode", "composed_attention",
    # Images (B, C, H, W): dagnet/nodes/convolution.py, normalization.py, shape.py.
    "AvgPool2DNode", "BatchNormNode", "Conv2DNode", "DropoutNode", "FlattenNode",
    "GlobalAveragePoolNode", "MaxPool2DNode"]
