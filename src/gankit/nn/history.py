"""A history of generated images for the discriminator (Shrivastava et al. 2017, "Learning from Simulated and
Unsupervised Images through Adversarial Training", arXiv 1612.07828, Sec. 2.3; CycleGAN, Zhu et al. 2017,
arXiv 1703.10593, Sec. 4: "a history of 50 previously generated images").

Until the buffer holds ``size`` images, each fake is stored and given to D as it is. Then each fake is, with
probability 1/2, given as it is, or else swapped with a uniformly chosen stored image, which D sees instead
(the fake takes its slot). The images and the fill count are buffers, so they are part of the checkpoint and a
resume continues with the same history. Draws use torch's global generator (whose state the checkpoint keeps).

The fill count is mirrored in a Python int, so a step reads nothing from the device. Within one batch the
choices are made for all images at once: when two images pick the same slot, both see its old content and the
later one is stored. The images that are not swapped are written to a spare row past the end, cleared after (so
the step needs no selection of rows, which would read the device, and the buffer does not depend on the order of
the writes).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class HistoryBuffer(nn.Module):
    """``buffer(fakes)`` -> the images D should see; ``size`` 0 gives the fakes back unchanged."""

    def __init__(self, size: int, shape: tuple):
        super().__init__()
        self.size = int(size)
        # one spare row at the end: where the images that are not swapped write, so a step never selects rows
        self.register_buffer("images", torch.zeros((self.size + 1,) + tuple(shape)))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self._count = 0

    def forward(self, fake: Tensor) -> Tensor:
        fake = fake.detach()
        if self.size == 0:
            return fake
        n = fake.shape[0]
        fill = min(self.size - self._count, n)
        if fill > 0:  # still filling: store and return these as they are
            self.images[self._count:self._count + fill] = fake[:fill].to(self.images.dtype)
            self._count += fill
            self.count.fill_(self._count)
        rest = fake[fill:]
        if rest.shape[0] == 0:
            return fake
        swap = torch.rand(rest.shape[0], device=fake.device) < 0.5
        slot = torch.randint(0, self.size, (rest.shape[0],), device=fake.device)
        old = self.images[slot].to(rest.dtype)
        mask = swap.view(-1, *([1] * (rest.dim() - 1)))
        shown = torch.where(mask, old, rest)
        # swapped slots take the fake; of two swaps into one slot the later one is kept (so the write order does not
        # matter), every other write goes to the spare row, which is then cleared: the buffer is deterministic
        later = torch.triu(torch.ones(len(slot), len(slot), dtype=torch.bool, device=slot.device), 1)
        clash = (later & (slot[:, None] == slot[None, :]) & swap[None, :]).any(1)
        target = torch.where(swap & ~clash, slot, self.size)
        self.images[target] = rest.to(self.images.dtype)
        self.images[self.size].zero_()
        return torch.cat([fake[:fill], shown])

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._count = int(self.count)  # one read, at load time
