"""Models that leave dagnet: ONNX files for any runtime, PyTorch state dicts both ways.

``export_onnx(model, path, opset=17)`` (the onnx package is optional:
``pip install 'dagnet[onnx]'``); ``to_torch_state_dict(model)`` and
``from_torch_state_dict(model, state_dict)`` with plain NumPy arrays (dagnet never
imports torch).  docs/export.md has the name tables.
"""

from dagnet.export.onnx import DEFAULT_OPSET, MIN_OPSET, export_onnx, to_onnx
from dagnet.export.torch import from_torch_state_dict, to_torch_state_dict

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "export_onnx", "from_torch_state_dict", "to_onnx",
           "to_torch_state_dict"]
