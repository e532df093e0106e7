"""Weight normalisation and its data-dependent initialisation (Salimans & Kingma 2016, "Weight Normalization: A
Simple Reparameterization to Accelerate Training of Deep Neural Networks", arXiv 1602.07868).

A weight-normalised unit computes t = g (v . x) / ||v|| + b: the direction v and the length g of its weight
vector are separate parameters. Before training, one batch of data is run through the net and, layer by
layer from the input, each unit's g and b are set so that its pre-activation t has mean 0 and standard
deviation 1 over that batch (Sec. 3):

    g <- g / sigma[t],    b <- (b - mu[t]) / sigma[t]

(v keeps its random direction). Layers are initialised in the order the batch reaches them, so every layer
sees the already-normalised outputs of the layers before it.

The Improved-GAN semi-supervised MNIST discriminator (Salimans et al. 2016, arXiv 1606.03498; the authors'
code, openai/improved-gan, ``nn.DenseLayer``) uses these layers with g *fixed* after the init in its hidden
layers and trained only in its output layer: :meth:`WeightNormLinear.fix_scale`.
"""
from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class WeightNormLinear(nn.Module):
    """A fully connected layer with weight normalisation: ``y = x W^T + b``, row i of W = g_i v_i / ||v_i||.
    ``v`` starts N(0, 0.05^2) (only its direction matters), ``g`` at 1, ``b`` at 0; call
    :func:`init_weight_norm_from_data` to set g and b from data. ``train_scale=False`` (or :meth:`fix_scale`)
    keeps g as a buffer, out of the optimiser, as the Improved-GAN nets' hidden layers do."""

    def __init__(self, cin: int, cout: int, bias: bool = True, train_scale: bool = True):
        super().__init__()
        self.in_features, self.out_features = cin, cout
        self.v = nn.Parameter(torch.randn(cout, cin) * 0.05)
        if train_scale:
            self.g = nn.Parameter(torch.ones(cout))
        else:
            self.register_buffer("g", torch.ones(cout))
        self.bias: Optional[nn.Parameter] = nn.Parameter(torch.zeros(cout)) if bias else None

    @property
    def weight(self) -> Tensor:
        return self.g.unsqueeze(1) * self.v / self.v.norm(dim=1, keepdim=True).clamp(min=1e-12)

    @property
    def train_scale(self) -> bool:
        return isinstance(self.g, nn.Parameter)

    def fix_scale(self) -> "WeightNormLinear":
        """Turn g into a buffer: it is still set by the data init and saved in checkpoints, but not trained.
        Call before the optimisers are made."""
        if self.train_scale:
            g = self.g.detach().clone()
            del self.g
            self.register_buffer("g", g)
        return self

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"train_scale={self.train_scale}")


@torch.no_grad()
def init_weight_norm_from_data(net: nn.Module, x: Tensor, eps: float = 1e-6) -> int:
    """Set g and b of every :class:`WeightNormLinear` of ``net`` from one forward pass of the batch ``x``
    (Salimans & Kingma 2016, Sec. 3); returns the number of layers initialised. ``net`` is called as
    ``net(x)``; layers the batch does not reach keep their values. A layer without a bias gets only g."""
    done: List[nn.Module] = []

    def hook(m: WeightNormLinear, inputs, out: Tensor) -> Tensor:
        if m in done:  # a layer called twice in one pass is set at its first call
            return out
        done.append(m)
        mu, sigma = out.mean(0), out.std(0).clamp(min=eps)
        m.g.div_(sigma)
        if m.bias is None:
            return out / sigma
        m.bias.sub_(mu).div_(sigma)
        return (out - mu) / sigma

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, WeightNormLinear)]
    try:
        net(x)
    finally:
        for h in handles:
            h.remove()
    return len(done)
