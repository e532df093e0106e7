"""Virtual batch normalisation, Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved
Techniques for Training GANs", arXiv 1606.03498, Sec. 3.5.

Batch norm makes a sample's output depend on the other samples of its minibatch. Virtual batch norm
normalises each sample x with statistics of a *reference batch*, chosen once at the start of training and
kept fixed, together with x itself:

    mu(x)  = (n mu_ref  + m(x))  / (n + 1),      m(x): the mean of x over the positions of each channel
    s2(x)  = (n sq_ref  + q(x))  / (n + 1),      q(x): the mean of x^2 likewise;  var = s2 - mu^2
    y      = gain * (x - mu(x)) / sqrt(var + eps) + bias

where mu_ref, sq_ref are the reference batch's per-channel mean and mean square at this layer *under the
current weights*: every forward of the network first runs the reference batch (each VBN layer then
normalises it with its own statistics and keeps them), then the real input. That is the cost the paper
mentions (two forward passes), and why it uses VBN in G only. Gradients flow through the reference
statistics too. There are no running statistics: train and eval mode compute the same thing, so a
sample's output never depends on the rest of its batch.

:class:`VirtualBatchNorm` is the layer (``LayerFactory(norm="virtual")`` makes it), and
:class:`WithReferenceBatch` wraps a whole network with its fixed reference input (a buffer, so it is saved
in checkpoints and moves with the module).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ..errors import GankitError


class VirtualBatchNorm(nn.Module):
    """Virtual batch norm over ``channels`` (inputs ``(N, C)`` or ``(N, C, H, W)``); gain 1 and bias 0 at start."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.recording = False  # set by WithReferenceBatch while the reference batch goes through
        self._ref: Optional[tuple] = None  # (mean, mean square, n) of the reference batch, current weights

    def _shape(self, x: Tensor) -> tuple:
        return (1, -1) + (1,) * (x.dim() - 2)

    def forward(self, x: Tensor) -> Tensor:
        pos = tuple(range(2, x.dim()))  # the positions of a channel (none for (N, C))
        m = x.mean(pos) if pos else x  # (N, C)
        q = (x * x).mean(pos) if pos else x * x
        if self.recording:
            mean, sq, n = m.mean(0, keepdim=True), q.mean(0, keepdim=True), x.shape[0]
            self._ref = (mean, sq, n)
        else:
            if self._ref is None:
                raise GankitError("virtual batch norm needs its reference batch first: wrap the network in "
                                  "WithReferenceBatch (LayerFactory(norm='virtual') nets are built that way)")
            r_mean, r_sq, n = self._ref
            mean, sq = (n * r_mean + m) / (n + 1), (n * r_sq + q) / (n + 1)  # (N, C): per sample
        var = (sq - mean * mean).clamp_min(0)
        shape = (mean.shape[0], self.channels) + (1,) * len(pos)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(self._shape(x)) + self.bias.view(self._shape(x))

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}"


class WithReferenceBatch(nn.Module):
    """``net`` whose virtual-batch-norm layers are fed a fixed reference input before every call.

    ``reference``: the network's first input for the reference batch (e.g. noise for G, fixed at the start of
    training); ``reference_labels``: its labels for a conditional net (None otherwise). Both are buffers."""

    def __init__(self, net: nn.Module, reference: Tensor, reference_labels: Optional[Tensor] = None):
        super().__init__()
        self.net = net
        self.register_buffer("reference", reference.detach().clone())
        self.register_buffer("reference_labels", None if reference_labels is None else reference_labels.detach().clone())
        self.vbn = [m for m in net.modules() if isinstance(m, VirtualBatchNorm)]
        if not self.vbn:
            raise GankitError("WithReferenceBatch: the network has no virtual batch norm layer")

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        for m in self.vbn:
            m.recording = True
        try:
            ref_y = self.reference_labels
            self.net(self.reference) if ref_y is None else self.net(self.reference, ref_y)
        finally:
            for m in self.vbn:
                m.recording = False
        out = self.net(x) if y is None else self.net(x, y)
        for m in self.vbn:
            m._ref = None  # the statistics belong to this call's weights only
        return out
