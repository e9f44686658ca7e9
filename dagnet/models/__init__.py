"""Models: the ``Model`` protocol, ``load`` for any model file, and the builders."""

from dagnet.models.base import MODEL_TYPES, Model, load, register_model
from dagnet.models.fully_connected import fully_connected
from dagnet.models.gpt import GPT
from dagnet.models.graph_model import GraphModel

__all__ = ["GPT", "MODEL_TYPES", "GraphModel", "Model", "fully_connected", "load",
           "register_model"]
