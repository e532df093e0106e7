"""The reference classifier: the small CNN whose features define cFID / cKID / cIS on MNIST-like data.

The class-conditional and "classifier-space" GAN measurements of the literature (e.g. the MNIST
classifier of VEEGAN, Srivastava et al. 2017, arXiv 1705.07761, used to count stacked-MNIST modes;
the "classifier FID" used when Inception features do not fit the data) need one fixed network per
dataset. This is gankit's: two conv blocks and one hidden layer, nothing exotic, so that everyone
gets the same feature space from the weights shipped in ``gankit/metrics/weights``.

Input: ``(N, 1, 28, 28)`` images in ``[-1, 1]`` (the range of every gankit generator).
``features(x)`` is the 128-d penultimate layer (after its ReLU); ``forward(x)`` the 10 logits.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ReferenceClassifier"]


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class ReferenceClassifier(nn.Module):
    """``conv(32)x2 - pool - conv(64)x2 - pool - fc(128) - fc(classes)`` with batch norm and dropout."""

    def __init__(self, num_classes: int = 10, width: int = 32, hidden: int = 128, channels: int = 1,
                 dropout: float = 0.3):
        super().__init__()
        self.body = nn.Sequential(_block(channels, width), _block(width, 2 * width), nn.Flatten())
        self.hidden = nn.Sequential(nn.Linear(2 * width * 7 * 7, hidden, bias=False), nn.BatchNorm1d(hidden),
                                    nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)
        self.feature_dim = hidden
        self.num_classes = num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: ``(N, hidden)`` non-negative features."""
        return self.hidden(self.body(x))

    def features_and_logits(self, x: torch.Tensor):
        f = self.features(x)
        return f, self.head(self.dropout(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]
