"""Historical averaging, Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved Techniques
for Training GANs", arXiv 1606.03498, Sec. 3.3.

Each player's cost gets the term

    || theta - (1/t) sum_{i=1}^{t} theta[i] ||^2

where theta[i] is the value of its parameters at the i-th of its updates so far (theta[t] the current one),
inspired by fictitious play. Unlike the stateless penalties of this package it needs the running sum of past
values, so it is a module: :meth:`HistoricalAverage.term` adds the current parameters to the sums (kept as
buffers, so they are saved and restored with a checkpoint) and returns the term; the average is a constant
for the gradient, which is ``2 (theta - average)``. Everything stays on the parameters' device (no host sync).
"""
from __future__ import annotations

from typing import List

import torch
from torch import Tensor, nn


class HistoricalAverage(nn.Module):
    """The historical-averaging term of the parameters ``params`` (one player's)."""

    def __init__(self, params: List[nn.Parameter]):
        super().__init__()
        self.params = list(params)  # a plain list: the parameters belong to their own network
        for k, p in enumerate(self.params):
            self.register_buffer(f"sum{k}", torch.zeros_like(p, dtype=torch.float32))
        ref = self.params[0] if self.params else torch.zeros(())
        self.register_buffer("count", torch.zeros((), dtype=torch.float32, device=ref.device))

    @property
    def sums(self) -> List[Tensor]:
        return [getattr(self, f"sum{k}") for k in range(len(self.params))]

    def term(self) -> Tensor:
        """Record the current parameters, then ``sum ||theta - mean of the recorded values||^2`` (0 at the first call)."""
        with torch.no_grad():
            self.count += 1
            for s, p in zip(self.sums, self.params):
                s += p.detach().float()
        total = self.count.new_zeros(())
        for s, p in zip(self.sums, self.params):
            total = total + (p.float() - s / self.count).pow(2).sum()
        return total
