"""The optimizer options every training command shares (dagnet/cli/optimizer_options.py)."""

from dagnet.cli.optimizer_options import add_optimizer_arguments as add_optimizer_arguments
from dagnet.cli.optimizer_options import make_optimizer as make_optimizer
