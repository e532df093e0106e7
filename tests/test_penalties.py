"""Gradient penalties against their formula with gradients taken by central finite differences."""
import torch
from torch import nn

from gankit.penalties import PENALTIES


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def _fd_grad(D, x, h=1e-6):
    g = torch.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            e = torch.zeros_like(x)
            e[i, j] = h
            g[i, j] = (D(x + e)[i] - D(x - e)[i]).item() / (2 * h)
    return g


def test_r1_and_r2_match_finite_differences():
    D = _net()
    real = torch.randn(5, 3, dtype=torch.float64)
    fake = torch.randn(5, 3, dtype=torch.float64)
    for name, x in (("r1", real), ("r2", fake)):
        expected = 0.5 * _fd_grad(lambda v: D(v).squeeze(1), x).pow(2).sum(1).mean()
        assert torch.allclose(PENALTIES.get(name)(D, real, fake), expected, rtol=1e-6)


def test_gradient_penalty_matches_finite_differences():
    D = _net()
    real = torch.randn(6, 3, dtype=torch.float64)
    fake = torch.randn(6, 3, dtype=torch.float64)
    torch.manual_seed(123)
    got = PENALTIES.get("gp")(D, real, fake)
    torch.manual_seed(123)
    eps = torch.rand(6, 1, dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * fake
    norms = _fd_grad(lambda v: D(v).squeeze(1), x_hat).norm(dim=1)
    assert torch.allclose(got, ((norms - 1) ** 2).mean(), rtol=1e-6)


def test_penalty_is_differentiable_wrt_d_parameters():
    D = _net()
    x = torch.randn(4, 3, dtype=torch.float64)
    PENALTIES.get("r1")(D, x, x).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters() if p.dim() > 1)
