"""How good a learned encoder's features are: the measurements of the representation-learning GANs
(BiGAN, Donahue et al. 2016, arXiv 1605.09782, Sec. 4.1 and Table 1: 1-NN accuracy of E(x) on MNIST; ALI,
Dumoulin et al. 2016, arXiv 1606.00704, Sec. 4: reconstructions G(E(x)); the linear probe is the usual test
of unsupervised features, e.g. Radford et al. 2015, arXiv 1511.06434, Sec. 5.1).

Pure functions of feature tensors (on whatever device they are; batched, no per-sample Python loop):

* :func:`linear_probe_accuracy` — multinomial logistic regression fitted on training features (standardised
  with the training mean and standard deviation), full batch, a fixed number of L-BFGS iterations from zero
  weights (deterministic: no seed enters), a small L2 term; accuracy on the test features.
* :func:`nearest_neighbour_accuracy` — each test feature takes the label of its nearest training feature
  (Euclidean distance, the first one on a tie), in chunks of test rows.
* :func:`reconstruction_error` — mean |x - G(E(x))| over every pixel, as a sum of chunk sums.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["linear_probe_accuracy", "nearest_neighbour_accuracy", "reconstruction_error", "PROBE_STEPS", "PROBE_L2"]

#: L-BFGS iterations (one full-batch step of ``max_iter`` iterations, strong-Wolfe line search)
PROBE_STEPS = 100
#: L2 weight on the probe's weights (not its biases), relative to the mean cross-entropy
PROBE_L2 = 1e-4


def linear_probe_accuracy(train_f: Tensor, train_y: Tensor, test_f: Tensor, test_y: Tensor,
                          num_classes: Optional[int] = None, steps: int = PROBE_STEPS, l2: float = PROBE_L2) -> float:
    """Test accuracy of a logistic regression on ``train_f`` ``(N, d)`` with labels ``train_y`` ``(N,)``,
    evaluated on ``test_f`` / ``test_y``. Features are standardised with the training statistics; weights
    start at 0 and take one full-batch L-BFGS run of ``steps`` iterations on mean cross-entropy
    + ``l2`` * |W|^2, in float32 on the features' device."""
    train_f, test_f = train_f.detach().float(), test_f.detach().float().to(train_f.device)
    train_y, test_y = train_y.long().to(train_f.device), test_y.long().to(train_f.device)
    k = int(num_classes or int(torch.cat([train_y, test_y]).max()) + 1)
    mu, sd = train_f.mean(0), train_f.std(0, unbiased=False).clamp_min(1e-6)
    a, b = (train_f - mu) / sd, (test_f - mu) / sd
    w = torch.zeros(a.shape[1], k, device=a.device, requires_grad=True)
    bias = torch.zeros(k, device=a.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, bias], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(a @ w + bias, train_y) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return (b @ w + bias).argmax(1).eq(test_y).float().mean().item()


def nearest_neighbour_accuracy(train_f: Tensor, train_y: Tensor, test_f: Tensor, test_y: Tensor,
                               chunk: int = 500) -> float:
    """Share of the test rows whose nearest training feature (Euclidean) has their label; ``chunk`` test rows
    at a time (a ``chunk x N`` distance matrix)."""
    train_f, test_f = train_f.detach().float(), test_f.detach().float().to(train_f.device)
    train_y, test_y = train_y.to(train_f.device), test_y.to(train_f.device)
    correct = torch.zeros((), dtype=torch.long, device=train_f.device)
    for i in range(0, len(test_f), chunk):
        nearest = torch.cdist(test_f[i:i + chunk], train_f).argmin(1)
        correct += train_y[nearest].eq(test_y[i:i + chunk]).sum()
    return correct.item() / max(len(test_f), 1)


def reconstruction_error(x: Tensor, reconstruct: Callable[[Tensor], Tensor], chunk: int = 500,
                         device=None) -> float:
    """Mean over every pixel of |x - reconstruct(x)| (images in [-1, 1]: a value in [0, 2]), ``chunk`` images
    at a time (moved to ``device``, default that of the reconstructions)."""
    total = None
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk]
        if device is not None:
            xb = xb.to(device)
        r = reconstruct(xb).float()
        s = (xb.to(r.device).float() - r).abs().sum()
        total = s if total is None else total + s
    return 0.0 if total is None else total.item() / x.numel()
