"""Models: the ``Model`` protocol, ``load`` for any model file, and the models.

Every model class is imported here, so that ``dagnet.load`` knows every format
(each class registers its own with ``@register_model``).
"""

from dagnet.models.base import MODEL_TYPES, Model, load, register_model
from dagnet.models.charrnn import CharRNN
from dagnet.models.fully_connected import fully_connected
from dagnet.models.gpt import GPT
from dagnet.models.graph_model import GraphModel
from dagnet.models.rnn import RecurrentNetwork

__all__ = ["GPT", "MODEL_TYPES", "CharRNN", "GraphModel", "Model", "RecurrentNetwork",
           "fully_connected", "load", "register_model"]
