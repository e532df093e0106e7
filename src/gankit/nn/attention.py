"""Self-attention for convolutional GANs, Zhang, Goodfellow, Metaxas & Odena 2018, "Self-Attention
Generative Adversarial Networks", arXiv 1805.08318, Sec. 3.

For a feature map x with C channels and N = H * W positions, three 1 x 1 convolutions give
f(x) (keys) and g(x) (queries) with C/8 channels and h(x) (values) with C/2 channels (the authors'
released code; the paper's Eq. 2 keeps C for h), then

    beta_{j,i} = softmax_i( f(x_i)^T g(x_j) ),   o_j = v( sum_i beta_{j,i} h(x_i) ),
    y = gamma * o + x,

with v a 1 x 1 convolution back to C channels and gamma a learned scalar that starts at 0, so a new
block is the identity and the network learns to rely on the non-local evidence gradually (Sec. 3).
Every convolution comes from the layer factory (SN in G and D, as in the paper). ``last_attention``
keeps the map beta of the latest forward pass (for the attention pictures) when ``keep_map`` is set.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .factory import LayerFactory


class SelfAttention(nn.Module):
    def __init__(self, channels: int, factory: LayerFactory = LayerFactory(), key_ratio: int = 8,
                 value_ratio: int = 2):
        super().__init__()
        ck, cv = max(1, channels // key_ratio), max(1, channels // value_ratio)
        self.f = factory.conv(channels, ck, 1, bias=False)   # keys
        self.g = factory.conv(channels, ck, 1, bias=False)   # queries
        self.h = factory.conv(channels, cv, 1, bias=False)   # values
        self.v = factory.conv(cv, channels, 1, bias=False)   # back to C channels
        self.gamma = nn.Parameter(torch.zeros(()))
        self.keep_map = False
        self.last_attention: Optional[Tensor] = None

    def attention(self, x: Tensor) -> Tensor:
        """beta: ``(B, N, N)``, row j the distribution over positions i that query position j reads."""
        keys = self.f(x).flatten(2)                     # (B, ck, N)
        queries = self.g(x).flatten(2)                  # (B, ck, N)
        return torch.softmax(torch.bmm(queries.transpose(1, 2), keys).float(), dim=-1).to(x.dtype)

    def forward(self, x: Tensor) -> Tensor:
        b, c, hh, ww = x.shape
        beta = self.attention(x)
        if self.keep_map:
            self.last_attention = beta.detach()
        values = self.h(x).flatten(2)                   # (B, cv, N)
        o = torch.bmm(values, beta.transpose(1, 2)).view(b, -1, hh, ww)
        return self.gamma * self.v(o) + x
