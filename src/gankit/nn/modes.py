"""Running a net in eval mode for a while (sampling, pictures, evaluation), its mode restored afterwards."""
from __future__ import annotations

from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(net: nn.Module):
    """``net`` in eval mode inside the block, back in the mode it had (train or eval) after it."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)
